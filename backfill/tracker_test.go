package backfill

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	testBackfill = "0b0b0b0b-0000-4000-8000-000000000001"
	testWebhook  = "0b0b0b0b-0000-4000-8000-0000000000aa"
)

// stateDB returns a pool on a fresh database with walhook's migrations and one backfill.
func stateDB(tb testing.TB) (*pgxpool.Pool, *mapping.Mapping) {
	tb.Helper()
	dsn := crmtest.StateDSN(tb)
	m, err := mapping.Load("")
	if err != nil {
		tb.Fatal(err)
	}
	pgtest.Exec(tb, dsn, `INSERT INTO walhook.backfills (id, webhook_id, entities, rate) VALUES ($1, $2, '{Task}', 100)`, testBackfill, testWebhook)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool, m
}

// stream feeds a Tracker like the reader does and records its acknowledgements.
type stream struct {
	tb    testing.TB
	tr    *Tracker
	acked []event.LSN
	lsn   event.LSN
}

func newStream(tb testing.TB) (*stream, *pgxpool.Pool) {
	db, m := stateDB(tb)
	s := &stream{tb: tb, lsn: 0x1000}
	svc := New(Config{DB: db, Mapping: m})
	s.tr = svc.Tracker(func(l event.LSN) { s.acked = append(s.acked, l) })
	return s, db
}

// txn ends a transaction and returns its end LSN and whether the tracker held it.
func (s *stream) txn(xid uint32) (event.LSN, bool) {
	s.lsn += 0x100
	hold, err := s.tr.Commit(context.Background(), event.Txn{XID: xid, CommitLSN: s.lsn - 8, EndLSN: s.lsn, CommitTime: time.Now()})
	if err != nil {
		s.tb.Fatal(err)
	}
	return s.lsn, hold
}

func (s *stream) message(content []byte) []*event.Event {
	evs, err := s.tr.Message(event.Message{Prefix: event.BackfillPrefix, Content: content, XID: 1, CommitLSN: s.lsn + 0xF8, Seq: 1})
	if err != nil {
		s.tb.Fatal(err)
	}
	return evs
}

func (s *stream) live(id string, xid uint32, a event.Action) {
	s.tr.Observe(&event.Event{Entity: "Task", EntityID: id, XID: xid, Action: a})
}

func taskRow(xmin uint64, id, status string) row {
	return row{xmin: xmin, keys: [][]byte{[]byte(id)}, fields: [][]byte{[]byte(id), []byte("subject " + id), []byte(status)}}
}

func chunk(tb testing.TB, window int64, filter string, rows ...row) []byte {
	tb.Helper()
	h := &header{Backfill: testBackfill, Webhook: testWebhook, Window: window, Entity: "Task", Table: "crm.tasks",
		Keys: []string{"id"}, Fields: []string{"id", "subject", "status"}, OIDs: []uint32{20, 25, 25}}
	if filter != "" {
		h.Filter = []byte(filter)
	}
	b, err := appendChunk(h, rows)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func entityIDs(evs []*event.Event) []string {
	var ids []string
	for _, ev := range evs {
		ids = append(ids, ev.EntityID)
	}
	return ids
}

func rechecks(tb testing.TB, db *pgxpool.Pool) []string {
	tb.Helper()
	rows, _ := db.Query(context.Background(), `SELECT key[1] FROM walhook.backfill_rechecks ORDER BY key[1]::int`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// TestTrackerWindow: between a chunk's low watermark and the chunk, a row changed by
// another transaction than the one that wrote the version read is left out and recorded
// to read again; a deleted one is left out for good; a row whose last change wrote the
// version read, and an unchanged one, are sent, as Backfill events for the webhook alone.
// The low watermark's transaction is held until the chunk is taken.
func TestTrackerWindow(t *testing.T) {
	s, db := newStream(t)
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 1, Entity: "Task"}))
	low, hold := s.txn(10)
	if !hold {
		t.Fatal("the low watermark's transaction was not held")
	}
	s.live("1", 100, event.ActionUpdate) // after the version read (xmin 99): stale
	s.live("2", 101, event.ActionUpdate) // wrote the version read: current
	s.live("3", 102, event.ActionDelete) // deleted
	s.live("4", 103, event.ActionUpdate) // version read by a subtransaction (xmin 7): unknown
	s.live("9", 104, event.ActionUpdate) // not in the chunk
	s.tr.Observe(&event.Event{Entity: "Account", EntityID: "5", XID: 105, Action: event.ActionUpdate})
	if _, hold := s.txn(100); hold || len(s.acked) != 0 {
		t.Fatalf("a live transaction was held (%v) or the low watermark acknowledged early (%v)", hold, s.acked)
	}
	evs := s.message(chunk(t, 1, "", taskRow(99, "1", "Planned"), taskRow(101, "2", "Planned"), taskRow(50, "3", "Planned"),
		taskRow(7, "4", "Planned"), taskRow(5, "5", "Planned")))
	if got := entityIDs(evs); !slices.Equal(got, []string{"2", "5"}) {
		t.Errorf("chunk raised events for tasks %v, want [2 5]", got)
	}
	for _, ev := range evs {
		if ev.Name != "Task.Backfill" || ev.Action != event.ActionBackfill || ev.Target != testWebhook || ev.New == nil {
			t.Errorf("event %+v: want Task.Backfill for webhook %s with its row", ev, testWebhook)
		}
	}
	if len(evs) == 2 && evs[0].ID == evs[1].ID {
		t.Errorf("two rows share event id %s", evs[0].ID)
	}
	end, hold := s.txn(11)
	if hold {
		t.Fatal("the chunk's transaction was held")
	}
	if len(s.acked) != 0 {
		t.Errorf("acknowledged %v once the chunk was read, before its rows were delivered", s.acked)
	}
	s.tr.Ack(end) // the sender: the chunk's rows are delivered
	if !slices.Equal(s.acked, []event.LSN{end, low}) {
		t.Errorf("acknowledged %v once the chunk was delivered, want it and the low watermark %v", s.acked, low)
	}
	if got := rechecks(t, db); !slices.Equal(got, []string{"1", "4"}) {
		t.Errorf("rows to read again %v, want [1 4]", got)
	}
	var seen int64
	if err := db.QueryRow(context.Background(), `SELECT seen_window FROM walhook.backfills WHERE id = $1`, testBackfill).Scan(&seen); err != nil || seen != 1 {
		t.Errorf("seen_window %d (%v), want 1", seen, err)
	}

	// Row 1 is being read again in window 2 and changes inside it once more: its record
	// moves to window 2, so the worker's clearing of what it recorded before window 2 keeps it.
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 2, Entity: "Task"}))
	s.txn(12)
	s.live("1", 200, event.ActionUpdate)
	s.txn(200)
	if evs := s.message(chunk(t, 2, "", taskRow(150, "1", "Planned"))); len(evs) != 0 {
		t.Errorf("a row changed again inside its reread window raised %d events", len(evs))
	}
	s.txn(13)
	if _, err := db.Exec(context.Background(), `DELETE FROM walhook.backfill_rechecks WHERE win < 2`); err != nil {
		t.Fatal(err)
	}
	if got := rechecks(t, db); !slices.Equal(got, []string{"1"}) {
		t.Errorf("after clearing the records before window 2: %v, want [1] (recorded again in window 2)", got)
	}
}

// TestTrackerChunkWithoutWindow: a chunk whose low watermark was not seen (the session
// began between them) sends nothing; every row is read again, so none is sent stale.
func TestTrackerChunkWithoutWindow(t *testing.T) {
	s, db := newStream(t)
	evs := s.message(chunk(t, 3, "", taskRow(1, "7", "Planned"), taskRow(1, "8", "Planned")))
	if len(evs) != 0 {
		t.Errorf("a chunk without its window raised %d events", len(evs))
	}
	s.txn(12)
	if got := rechecks(t, db); !slices.Equal(got, []string{"7", "8"}) {
		t.Errorf("rows to read again %v, want [7 8]", got)
	}
}

// TestTrackerFilterAndRelease: the backfill's filter narrows the rows; a newer low
// watermark of the same backfill releases the older one (its chunk never came), and
// Reset forgets everything held.
func TestTrackerFilterAndRelease(t *testing.T) {
	s, _ := newStream(t)
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 1, Entity: "Task"}))
	first, _ := s.txn(20)
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 2, Entity: "Task"}))
	second, hold := s.txn(21)
	if !hold || !slices.Equal(s.acked, []event.LSN{first}) {
		t.Fatalf("after a second low watermark: held %v, acknowledged %v, want the first (%v) acknowledged", hold, s.acked, first)
	}
	evs := s.message(chunk(t, 2, `{"Task": {"filter": {"status": "Completed"}}}`, taskRow(1, "1", "Planned"), taskRow(1, "2", "Completed")))
	if got := entityIDs(evs); !slices.Equal(got, []string{"2"}) {
		t.Errorf("filtered chunk raised %v, want [2]", got)
	}
	chunkEnd, _ := s.txn(22)
	s.tr.Ack(chunkEnd)
	if !slices.Equal(s.acked, []event.LSN{first, chunkEnd, second}) {
		t.Errorf("acknowledged %v, want %v, the chunk's %v and %v", s.acked, first, chunkEnd, second)
	}
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 3, Entity: "Task"}))
	s.txn(23)
	s.tr.Reset()
	s.message(appendMark(kindEnd, mark{Backfill: testBackfill}))
	s.txn(24)
	if len(s.acked) != 3 {
		t.Errorf("Reset kept a held watermark: acknowledged %v", s.acked)
	}
}

// TestChunkRoundTrip: any bytes, NULLs and empty values pass through a chunk unchanged.
func TestChunkRoundTrip(t *testing.T) {
	rows := []row{
		{xmin: 1 << 40, keys: [][]byte{[]byte("a,b")}, fields: [][]byte{nil, {}, []byte("x\x00\n\xff")}},
		{xmin: 0, keys: [][]byte{{}}, fields: [][]byte{[]byte(strings.Repeat("z", 300)), nil, nil}},
	}
	h := &header{Backfill: "b", Webhook: "w", Entity: "Task", Keys: []string{"id"}, Fields: []string{"a", "b", "c"}, OIDs: []uint32{25, 25, 25}}
	b, err := appendChunk(h, rows)
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := parseChunk(b[1:])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d rows back, want %d", len(got), len(rows))
	}
	for i := range rows {
		if got[i].xmin != rows[i].xmin || !equalValues(got[i].keys, rows[i].keys) || !equalValues(got[i].fields, rows[i].fields) {
			t.Errorf("row %d: got %+v, want %+v", i, got[i], rows[i])
		}
	}
	if _, _, err := parseChunk(b[1 : len(b)-3]); err == nil {
		t.Error("a truncated chunk parsed")
	}
}

func equalValues(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, func(x, y []byte) bool { return (x == nil) == (y == nil) && string(x) == string(y) })
}

// TestETA: the time left follows the pace so far, bounded by the rate: a first chunk read
// at once does not promise the rest at that speed.
func TestETA(t *testing.T) {
	for _, tc := range []struct {
		left, done int64
		elapsed    time.Duration
		rate       int
		want       float64
	}{
		{3, 1, 5 * time.Millisecond, 1, 3},     // read at once: the rate bounds it
		{900, 100, 10 * time.Second, 1000, 90}, // slower than the rate: the pace
		{500, 500, time.Second, 1000, 1},       // at the rate
	} {
		if got := *eta(tc.left, tc.done, tc.elapsed, tc.rate); got != tc.want {
			t.Errorf("eta(%d left, %d done in %s, rate %d) = %v s, want %v", tc.left, tc.done, tc.elapsed, tc.rate, got, tc.want)
		}
	}
}

// TestTrackerSnapshotMissedCommit: a transaction that committed just before the low
// watermark but was still in progress in the chunk's snapshot (a commit waiting for a
// synchronous standby) changed rows the chunk read in their old version, and none of its
// changes is in the window: the whole chunk is read again. One in progress that commits
// inside the window is judged row by row as usual.
func TestTrackerSnapshotMissedCommit(t *testing.T) {
	s, db := newStream(t)
	s.txn(500) // commits just before the window: invisible to the chunk's snapshot
	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 1, Entity: "Task"}))
	s.txn(10)
	h := chunkWithXip(t, 1, []uint32{500}, taskRow(1, "1", "Planned"), taskRow(1, "2", "Planned"))
	if evs := s.message(h); len(evs) != 0 {
		t.Errorf("a chunk whose snapshot missed a commit before its window raised %d events", len(evs))
	}
	s.txn(11)
	if got := rechecks(t, db); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("rows to read again %v, want [1 2]", got)
	}

	s.message(appendMark(kindLow, mark{Backfill: testBackfill, Window: 2, Entity: "Task"}))
	s.txn(12)
	s.live("3", 600, event.ActionUpdate)
	s.txn(600) // in progress in the snapshot, committed inside the window
	h = chunkWithXip(t, 2, []uint32{600}, taskRow(1, "3", "Planned"), taskRow(1, "4", "Planned"))
	if got := entityIDs(s.message(h)); !slices.Equal(got, []string{"4"}) {
		t.Errorf("chunk raised %v, want [4] (3 changed in the window)", got)
	}
}

func chunkWithXip(tb testing.TB, window int64, xip []uint32, rows ...row) []byte {
	tb.Helper()
	h := &header{Backfill: testBackfill, Webhook: testWebhook, Window: window, Entity: "Task", Table: "crm.tasks",
		Keys: []string{"id"}, Fields: []string{"id", "subject", "status"}, OIDs: []uint32{20, 25, 25}, Xip: xip}
	b, err := appendChunk(h, rows)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestTrackerFresh: Fresh reports once the first low watermark of a backfill — the reader
// then reads the webhooks again before the backfill's rows — and not its later windows;
// a backfill that ended, or a new session (Reset), is fresh again.
func TestTrackerFresh(t *testing.T) {
	s, _ := newStream(t)
	low := func(b string, w int64) []byte {
		return appendMark(kindLow, mark{Backfill: b, Window: w, Entity: "Task"})
	}
	other := "0b000000-0000-4000-8000-00000000abcd"
	var got []bool
	for _, content := range [][]byte{
		low(testBackfill, 1), low(testBackfill, 2), low(other, 1),
		appendMark(kindEnd, mark{Backfill: testBackfill}), low(testBackfill, 1),
	} {
		s.message(content)
		got = append(got, s.tr.Fresh(), s.tr.Fresh())
		s.txn(30)
	}
	s.tr.Reset()
	s.message(low(other, 2))
	got = append(got, s.tr.Fresh())
	want := []bool{true, false, false, false, true, false, false, false, true, false, true}
	if !slices.Equal(got, want) {
		t.Errorf("Fresh after each message (twice): %v, want %v", got, want)
	}
}
