package backfill

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
)

// Tracker is the reader's side of backfills: it watches the stream between each chunk's
// watermarks and turns the chunk into events (see the package doc). It is used from the
// reader's goroutine only: Observe every event, Message every backfill message, Commit
// every transaction end, Reset at every session start.
type Tracker struct {
	m   *mapping.Mapping
	db  *pgxpool.Pool // walhook's state database, for rechecks
	ack func(event.LSN)
	log *slog.Logger
	met *metrics

	windows map[string]*window // open windows by backfill id
	// started are the backfills this session has seen a low watermark of; fresh is set
	// when the last message began one it had not (Fresh).
	started map[string]bool
	fresh   bool
	held    map[string][]heldLow    // low watermark transactions not yet acknowledged
	filters map[string]*filterEntry // compiled filters by backfill id

	// linked maps the end of a chunk's transaction to the low watermarks it closed: they
	// are acknowledged with it (Ack), once its rows are delivered or durably queued, so the
	// slot never confirms a position between a window's low watermark and its chunk.
	mu     sync.Mutex
	linked map[event.LSN][]event.LSN

	// Of the transaction being read:
	lows     []string // backfills whose low watermark it holds
	releases []string // backfills whose held low watermarks it releases now (the chunk never came)
	closes   []string // backfills whose chunk it carries: held low watermarks go with it
	rechecks []recheck
	seen     []seenWindow

	// ring holds the xids of the last recentCommits transaction ends, the commits-th
	// (counted from 0) at commits % recentCommits.
	ring    [recentCommits]uint32
	commits int64
}

// seenWindow is a chunk the reader has taken: backfill b's window n.
type seenWindow struct {
	b string
	n int64
}

// window is one chunk's watch: the rows of its entity that changed since its low watermark.
type window struct {
	n       int64
	entity  event.EntityName
	touched map[string]touch // by entity id
	// commits is how many transaction ends the tracker had seen at the low watermark.
	commits int64
}

// recentCommits is how many transaction ends the tracker remembers (their xids), to tell
// whether a transaction a chunk's snapshot did not see had committed before its window.
const recentCommits = 4096

// touch is the last change of a row seen in a window.
type touch struct {
	xid     uint32
	deleted bool
}

type heldLow struct {
	end event.LSN
	at  time.Time
}

type filterEntry struct {
	raw string
	f   *matcher.RowFilter
	ok  bool
}

type recheck struct {
	backfill, entity, table string
	key                     []string
	window                  int64
}

// maxHold bounds how long a low watermark may keep the slot's position from advancing: a
// chunk that never came (its backfill's worker died and the backfill was never resumed)
// must not pin the WAL.
const maxHold = 10 * time.Minute

// Tracker returns the reader's side of the backfills, acknowledging held low watermarks
// with ack (the reader's Ack). It does no I/O.
func (s *Service) Tracker(ack func(event.LSN)) *Tracker {
	return &Tracker{m: s.cfg.Mapping, db: s.cfg.DB, ack: ack, log: s.log, met: s.met,
		windows: map[string]*window{}, held: map[string][]heldLow{}, filters: map[string]*filterEntry{},
		linked: map[event.LSN][]event.LSN{}, started: map[string]bool{}}
}

// Reset forgets every window and held watermark: a new replication session starts before
// them (they were never acknowledged), so they come again.
func (t *Tracker) Reset() {
	clear(t.windows)
	clear(t.started)
	t.fresh = false
	clear(t.held)
	t.mu.Lock()
	clear(t.linked)
	t.mu.Unlock()
	t.closes = t.closes[:0]
	t.lows, t.releases, t.rechecks, t.seen = t.lows[:0], t.releases[:0], t.rechecks[:0], t.seen[:0]
}

// Observe records a live event's change in the open windows of its entity.
func (t *Tracker) Observe(ev *event.Event) {
	if len(t.windows) == 0 || ev.Target != "" {
		return
	}
	for _, w := range t.windows {
		if w.entity == ev.Entity {
			w.touched[ev.EntityID] = touch{xid: ev.XID, deleted: ev.Action == event.ActionDelete}
		}
	}
}

// Fresh reports, once, whether the last message was the first low watermark this session
// has seen of a backfill. Its webhook may have been created or changed moments before the
// backfill started, and the matcher's index follows the webhooks through LISTEN/NOTIFY, a
// few milliseconds behind: the reader reads them again before the backfill's rows come,
// or the rows would be matched against the webhook as it was — or not at all — and, matching
// nothing, be acknowledged unsent.
func (t *Tracker) Fresh() bool {
	f := t.fresh
	t.fresh = false
	return f
}

// Message takes a backfill message and returns the events it raises: for a chunk, one
// event per row that is current and passes the backfill's filter, for its webhook only.
func (t *Tracker) Message(m event.Message) ([]*event.Event, error) {
	if len(m.Content) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMessage)
	}
	switch m.Content[0] {
	case kindLow:
		mk, err := parseMark(m.Content[1:])
		if err != nil {
			return nil, err
		}
		// A newer window of the same backfill means the last one's chunk never came (its
		// worker stopped between the two): release its watermark.
		t.releases = append(t.releases, mk.Backfill)
		t.lows = append(t.lows, mk.Backfill)
		w := &window{n: mk.Window, entity: event.EntityName(mk.Entity), touched: map[string]touch{}, commits: t.commits}
		if old := t.windows[mk.Backfill]; old != nil && old.entity == w.entity {
			// A window still open: its chunk never came, or two workers overlap (a lost
			// lock). Keep what it saw, so that a late chunk of either is judged against
			// every change since the earlier low watermark.
			w.touched = old.touched
		}
		t.windows[mk.Backfill] = w
		if !t.started[mk.Backfill] {
			t.started[mk.Backfill], t.fresh = true, true
		}
		return nil, nil
	case kindEnd:
		mk, err := parseMark(m.Content[1:])
		if err != nil {
			return nil, err
		}
		delete(t.windows, mk.Backfill)
		delete(t.filters, mk.Backfill)
		delete(t.started, mk.Backfill)
		t.releases = append(t.releases, mk.Backfill)
		return nil, nil
	case kindChunk:
		return t.chunk(m)
	}
	return nil, fmt.Errorf("%w: unknown kind %q", ErrMessage, m.Content[0])
}

// chunk raises the events of a chunk's rows, leaving out (to be read again) every row that
// changed in its window after the version the chunk read.
func (t *Tracker) chunk(m event.Message) ([]*event.Event, error) {
	h, rows, err := parseChunk(m.Content[1:])
	if err != nil {
		return nil, err
	}
	w := t.windows[h.Backfill]
	if w != nil && (w.n != h.Window || t.unseenBefore(w, h.Xip)) {
		w = nil // every row is read again
	}
	delete(t.windows, h.Backfill)
	t.closes = append(t.closes, h.Backfill)
	t.seen = append(t.seen, seenWindow{h.Backfill, h.Window})
	e := t.m.Entity(h.Entity)
	filter, ok := t.filter(h)
	if e == nil || !ok {
		// The mapping changed under the backfill (an entity gone, a filter that no longer
		// compiles): send nothing rather than rows the request did not ask for.
		t.log.Error("backfill chunk raises nothing: its entity or filter no longer fits the mapping", "backfill_id", h.Backfill,
			"entity", h.Entity, "rows", len(rows))
		t.met.left.Add(float64(len(rows)))
		return nil, nil
	}
	names := make([]string, len(h.Fields))
	copy(names, h.Fields)
	name := event.EventName(e.EventName(event.ActionBackfill))
	evs := make([]*event.Event, 0, len(rows))
	keys := make([]string, len(h.Keys))
	for i, r := range rows {
		for j, k := range r.keys {
			keys[j] = string(k)
		}
		id := strings.Join(keys, mapping.KeySeparator)
		if w == nil || stale(w, id, r.xmin) {
			// No window (the low watermark was not seen): nothing tells whether the row
			// changed while it was read, so it is read again, never sent stale.
			if tc, ok := w.touchOf(id); !ok || !tc.deleted {
				t.rechecks = append(t.rechecks, recheck{backfill: h.Backfill, entity: h.Entity, table: h.Table,
					key: append([]string(nil), keys...), window: h.Window})
			}
			t.met.left.Inc()
			continue
		}
		row := event.TextRow(names, h.OIDs, r.fields)
		if !filter.Match(event.EntityName(e.Name), row) {
			continue
		}
		evs = append(evs, &event.Event{
			ID:         event.MakeID(m.CommitLSN, m.Seq, i, name),
			Name:       name,
			Entity:     event.EntityName(e.Name),
			Action:     event.ActionBackfill,
			Custom:     e.Custom,
			Table:      h.Table,
			EntityID:   id,
			CommitLSN:  m.CommitLSN,
			CommitTime: m.CommitTime,
			XID:        m.XID,
			Seq:        m.Seq,
			New:        row,
			Target:     h.Webhook,
		})
	}
	t.met.sent.Add(float64(len(evs)))
	return evs, nil
}

// unseenBefore reports whether a transaction the chunk's snapshot did not see (xip)
// committed before the window began, or whether that cannot be told (the ring no longer
// reaches back to it): its changes are then neither in the rows read nor in the window.
func (t *Tracker) unseenBefore(w *window, xip []uint32) bool {
	if len(xip) == 0 {
		return false
	}
	from := max(t.commits-recentCommits, 0)
	if w.commits-from < 64 && w.commits > 64 {
		return true // the ring has dropped the commits just before the window
	}
	for i := from; i < w.commits; i++ {
		if slices.Contains(xip, t.ring[i%recentCommits]) {
			return true
		}
	}
	return false
}

// touchOf returns the row's last change in the window; false for none or no window.
func (w *window) touchOf(id string) (touch, bool) {
	if w == nil {
		return touch{}, false
	}
	tc, ok := w.touched[id]
	return tc, ok
}

// stale reports whether a chunk's row may be older than the stream has already said: it
// changed in the window, and not by the transaction that wrote the version the chunk read
// (xmin: the chunk read the last change, so it is current), or it was deleted.
func stale(w *window, id string, xmin uint64) bool {
	tc, ok := w.touched[id]
	if !ok {
		return false
	}
	return tc.deleted || uint64(tc.xid) != xmin
}

// filter returns the chunk's compiled filter, compiling it once per backfill; false when
// it no longer compiles against the mapping.
func (t *Tracker) filter(h *header) (*matcher.RowFilter, bool) {
	raw := string(h.Filter)
	if fe := t.filters[h.Backfill]; fe != nil && fe.raw == raw {
		return fe.f, fe.ok
	}
	f, err := matcher.CompileRowFilter(t.m, "filter", h.Filter)
	if err != nil {
		t.log.Error("backfill filter no longer compiles", "backfill_id", h.Backfill, "err", err)
	}
	t.filters[h.Backfill] = &filterEntry{raw: raw, f: f, ok: err == nil}
	return f, err == nil
}

// Ack acknowledges the transaction ending at end, and with it the low watermarks its chunk
// closed: give it to the sender in place of the reader's Ack. Safe for concurrent use.
func (t *Tracker) Ack(end event.LSN) {
	t.ack(end)
	t.mu.Lock()
	ls := t.linked[end]
	delete(t.linked, end)
	t.mu.Unlock()
	for _, l := range ls {
		t.ack(l)
	}
}

// Commit ends the transaction txn. It records the rows to read again, acknowledges the low
// watermarks the transaction released, and reports whether txn is itself a low watermark
// to hold: the caller then does not pass it on, and the Tracker acknowledges it once its
// chunk has been read (so a restart never begins inside a window).
func (t *Tracker) Commit(ctx context.Context, txn event.Txn) (hold bool, err error) {
	t.ring[t.commits%recentCommits] = txn.XID
	t.commits++
	if len(t.rechecks) > 0 || len(t.seen) > 0 {
		if err := t.record(ctx); err != nil {
			return false, err
		}
	}
	for _, b := range t.releases {
		for _, h := range t.held[b] {
			t.ack(h.end)
		}
		delete(t.held, b)
	}
	t.releases = t.releases[:0]
	if len(t.closes) > 0 {
		var ls []event.LSN
		for _, b := range t.closes {
			for _, h := range t.held[b] {
				ls = append(ls, h.end)
			}
			delete(t.held, b)
		}
		t.closes = t.closes[:0]
		if len(ls) > 0 {
			t.mu.Lock()
			t.linked[txn.EndLSN] = append(t.linked[txn.EndLSN], ls...)
			t.mu.Unlock()
		}
	}
	for b, hs := range t.held {
		if len(hs) > 0 && txn.CommitTime.Sub(hs[0].at) > maxHold {
			t.log.Error("backfill window not closed; releasing its watermark so the slot can advance", "backfill_id", b, "held_since", hs[0].at)
			for _, h := range hs {
				t.ack(h.end)
			}
			delete(t.held, b)
			delete(t.windows, b)
		}
	}
	if len(t.lows) == 0 {
		return false, nil
	}
	for _, b := range t.lows {
		t.held[b] = append(t.held[b], heldLow{end: txn.EndLSN, at: txn.CommitTime})
	}
	t.lows = t.lows[:0]
	return true, nil
}

// record writes, in one transaction, the rows left out of the transaction's chunks (to be
// read again; a repeat after a restart changes nothing) and that their windows were seen.
func (t *Tracker) record(ctx context.Context) error {
	n := len(t.rechecks)
	ids, ents, tables, keys, wins := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, r := range t.rechecks {
		ids[i], ents[i], tables[i], wins[i] = r.backfill, r.entity, r.table, r.window
		keys[i] = encodeKey(r.key)
	}
	seenIDs, seenN := make([]string, len(t.seen)), make([]int64, len(t.seen))
	for i, s := range t.seen {
		seenIDs[i], seenN[i] = s.b, s.n
	}
	err := pgx.BeginFunc(ctx, t.db, func(tx pgx.Tx) error {
		if n > 0 {
			// A row already recorded (being read again right now, say) keeps its record, with
			// this later window: the read under way then does not clear it.
			if _, err := tx.Exec(ctx, `INSERT INTO walhook.backfill_rechecks AS r (backfill_id, entity, tbl, key, win)
				SELECT b::uuid, e, t, k::text[], w FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS x(b, e, t, k, w)
				WHERE EXISTS (SELECT 1 FROM walhook.backfills WHERE id = b::uuid)
				ON CONFLICT (backfill_id, entity, tbl, key) DO UPDATE SET win = greatest(r.win, excluded.win)`,
				ids, ents, tables, keys, wins); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE walhook.backfills AS b SET seen_window = greatest(b.seen_window, x.n)
			FROM unnest($1::text[], $2::bigint[]) AS x(id, n) WHERE b.id = x.id::uuid`, seenIDs, seenN); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		// Rows to read again for a backfill that already finished (a chunk replayed after
		// a restart, say): it runs again, so they are read.
		_, err := tx.Exec(ctx, `UPDATE walhook.backfills SET state = 'running', finished = NULL, modified = now()
			WHERE id = ANY($1::uuid[]) AND state = 'done'`, ids)
		return err
	})
	if err != nil {
		return fmt.Errorf("record backfill chunks taken (%d rows to read again): %w", n, err)
	}
	t.met.rechecked.Add(float64(n))
	t.rechecks, t.seen = t.rechecks[:0], t.seen[:0]
	return nil
}

// encodeKey writes key values as a text[] literal.
func encodeKey(vals []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, c := range v {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
