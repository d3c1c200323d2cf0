package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// Run runs the backfills in state running until ctx ends, then returns nil. Every instance
// runs it; a backfill is run by one instance at a time (a session advisory lock), so one
// that stops is taken over by another, from its cursor.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	done := make(chan string)
	running := 0
	defer func() {
		for ; running > 0; running-- {
			<-done
		}
	}()
	for {
		ids, err := s.runnable(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("look for backfills to run", "err", err)
		}
		for _, id := range ids {
			if s.active[id] || running >= maxRunning {
				continue
			}
			s.active[id] = true
			running++
			go func() {
				s.runOne(ctx, id)
				done <- id
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case id := <-done:
			running--
			delete(s.active, id)
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Service) runnable(ctx context.Context) ([]string, error) {
	rows, _ := s.cfg.DB.Query(ctx, `SELECT id::text FROM walhook.backfills WHERE state = 'running' ORDER BY created`)
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// runOne runs backfill id if no other instance does. The advisory lock that says so is
// held on a connection of its own, outside the pool (a pool connection held for a whole
// backfill, per backfill, would starve the reader's and the API's), and checked before
// every chunk: a session lost meanwhile (a restart, idle_session_timeout) ends the run
// before another instance's can overlap it.
func (s *Service) runOne(ctx context.Context, id string) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.DB.Config().ConnConfig.Copy())
	if err != nil {
		s.log.Warn("backfill: connect for its lock", "backfill_id", id, "err", err)
		return
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx) // the lock ends with the session
	}()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('walhook.backfill:' || $1, 0))`, id).Scan(&locked); err != nil || !locked {
		return
	}
	// A session-level advisory lock lasts as long as its session: the session alive is the
	// lock held.
	held := func(ctx context.Context) error {
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("the backfill's lock connection is gone: %w", err)
		}
		return nil
	}
	s.met.running.Inc()
	defer s.met.running.Dec()
	log := s.log.With("backfill_id", id)
	log.Info("backfill running")
	err = s.drive(ctx, id, held)
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, errPermanent):
		log.Error("backfill failed", "err", err)
		s.finish(ctx, id, StateFailed, err.Error())
	case err != nil:
		log.Warn("backfill stopped; it goes on at the next look", "err", err, "retry_in", s.cfg.Poll.String())
		_ = sleep(ctx, s.cfg.Poll) // still holding the lock: no other instance spins on it either
	}
}

// maxRunning bounds the backfills one instance runs at once (each holds a connection of
// its own for its lock, and reads and writes through the pools).
const maxRunning = 4

// errPermanent marks an error that retrying cannot fix.
var errPermanent = errors.New("permanent")

// state is a running backfill's row.
type state struct {
	webhook     string
	state       string
	entities    []string
	filter      json.RawMessage
	rate        int
	entityIndex int
	tableIndex  int
	afterKey    []string
	nextWindow  int64
	seenWindow  int64
	rowsDone    int64
	rowsTotal   int64
	// webhookLive is false once the webhook is deleted.
	webhookLive bool
	// lastStepReread is set by step: it read rows again rather than scanned.
	lastStepReread bool
}

func (s *Service) load(ctx context.Context, id string) (*state, error) {
	var st state
	var filter *string
	err := s.cfg.DB.QueryRow(ctx, `SELECT b.webhook_id::text, b.state, b.entities, b.filter::text, b.rate, b.entity_index,
			b.table_index, b.after_key, b.next_window, b.seen_window, b.rows_done, b.rows_total,
			EXISTS (SELECT FROM walhook.webhooks w WHERE w.id = b.webhook_id AND NOT w.is_deleted)
		FROM walhook.backfills b WHERE b.id = $1`, id).Scan(&st.webhook, &st.state, &st.entities, &filter, &st.rate,
		&st.entityIndex, &st.tableIndex, &st.afterKey, &st.nextWindow, &st.seenWindow, &st.rowsDone, &st.rowsTotal,
		&st.webhookLive)
	if err != nil {
		return nil, fmt.Errorf("read backfill %s: %w", id, err)
	}
	if filter != nil {
		st.filter = json.RawMessage(*filter)
	}
	return &st, nil
}

// drive reads backfill id chunk by chunk until it is done or cancelled (or ctx ends),
// checking before each chunk that it still holds the backfill (held).
func (s *Service) drive(ctx context.Context, id string, held func(context.Context) error) error {
	st, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if st.rowsTotal == 0 && st.rowsDone == 0 {
		if st.rowsTotal, err = s.count(ctx, st.entities); err != nil {
			return err
		}
		if _, err := s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET rows_total = $2 WHERE id = $1`, id, st.rowsTotal); err != nil {
			return fmt.Errorf("record backfill %s total: %w", id, err)
		}
	}
	start, sent := time.Now(), int64(0)
	reread := false // the last chunk read rows again: the next one scans, so neither starves
	for {
		if st, err = s.load(ctx, id); err != nil {
			return err
		}
		if st.state != StateRunning {
			return s.end(ctx, id)
		}
		if !st.webhookLive {
			_, err := s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET state = 'cancelled', error = 'the webhook was deleted',
				finished = now(), modified = now() WHERE id = $1 AND state = 'running'`, id)
			if err != nil {
				return fmt.Errorf("cancel backfill %s of a deleted webhook: %w", id, err)
			}
			s.met.finished.WithLabelValues(StateCancelled).Inc()
			return s.end(ctx, id)
		}
		if err := held(ctx); err != nil {
			return err
		}
		// Pace: no more than InFlight chunks ahead of the reader, and rate rows per second.
		if st.nextWindow-1-st.seenWindow >= int64(s.cfg.InFlight) {
			if err := sleep(ctx, 10*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err := sleep(ctx, time.Until(start.Add(time.Duration(float64(sent)/float64(st.rate)*float64(time.Second))))); err != nil {
			return err
		}
		n, err := s.step(ctx, id, st, !reread)
		if err != nil {
			return err
		}
		reread = n > 0 && st.lastStepReread
		if n < 0 {
			return nil // done
		}
		sent += int64(n)
	}
}

// step reads and emits one chunk: rows to read again first, else the scan's next rows.
// It returns the rows read, or -1 when the backfill is done.
func (s *Service) step(ctx context.Context, id string, st *state, rereadFirst bool) (int, error) {
	var rc *recheckSet
	var err error
	if rereadFirst || st.entityIndex >= len(st.entities) {
		if rc, err = s.rechecks(ctx, id); err != nil {
			return 0, err
		}
	}
	st.lastStepReread = rc != nil
	if rc != nil {
		n, _, err := s.emit(ctx, id, st, rc.entity, rc.table, nil, rc.keys)
		if err != nil {
			return 0, err
		}
		_, err = s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET next_window = next_window + 1, rows_reread = rows_reread + $2,
			modified = now() WHERE id = $1`, id, n)
		if err == nil {
			// Only what was recorded before this window: the reader may already have left a
			// row out of this very window again (it then records this window).
			_, err = s.cfg.DB.Exec(ctx, `DELETE FROM walhook.backfill_rechecks AS r USING unnest($4::text[]) AS x(k)
				WHERE r.backfill_id = $1 AND r.entity = $2 AND r.tbl = $3 AND r.key = x.k::text[] AND r.win < $5`,
				id, rc.entity.Name, rc.table.String(), encodeKeys(rc.keys), st.nextWindow)
		}
		if err != nil {
			return 0, fmt.Errorf("record backfill %s reread: %w", id, err)
		}
		s.met.read.WithLabelValues("reread").Add(float64(n))
		return n, nil
	}
	if st.entityIndex >= len(st.entities) {
		// Every table is read. Rows of the last chunks may still be recorded to read again:
		// done only once the reader has taken every chunk and none is left to read again.
		if st.seenWindow < st.nextWindow-1 {
			return 0, sleep(ctx, 10*time.Millisecond)
		}
		return -1, s.finish(ctx, id, StateDone, "")
	}
	e := s.cfg.Mapping.Entity(st.entities[st.entityIndex])
	if e == nil {
		return 0, fmt.Errorf("%w: entity %s is no longer in the mapping", errPermanent, st.entities[st.entityIndex])
	}
	tables := entityTables(e)
	if st.tableIndex >= len(tables) {
		_, err := s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET entity_index = entity_index + 1, table_index = 0,
			after_key = NULL, modified = now() WHERE id = $1`, id)
		return 0, wrap(err, "advance backfill %s", id)
	}
	n, last, err := s.emit(ctx, id, st, e, tables[st.tableIndex], st.afterKey, nil)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		_, err = s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET next_window = next_window + 1, table_index = table_index + 1,
			after_key = NULL, modified = now() WHERE id = $1`, id)
		return 0, wrap(err, "advance backfill %s", id)
	}
	_, err = s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET next_window = next_window + 1, after_key = $2,
		rows_done = rows_done + $3, modified = now() WHERE id = $1`, id, last, n)
	s.met.read.WithLabelValues("scan").Add(float64(n))
	return n, wrap(err, "record backfill %s cursor", id)
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func entityTables(e *mapping.Entity) []mapping.Table {
	if len(e.Tables) > 0 {
		return e.Tables
	}
	return []mapping.Table{e.Table}
}

// recheckSet is a batch of rows of one table to read again.
type recheckSet struct {
	entity *mapping.Entity
	table  mapping.Table
	keys   [][]string
}

func (s *Service) rechecks(ctx context.Context, id string) (*recheckSet, error) {
	rows, _ := s.cfg.DB.Query(ctx, `WITH first AS (SELECT entity, tbl FROM walhook.backfill_rechecks WHERE backfill_id = $1 LIMIT 1)
		SELECT r.entity, r.tbl, r.key FROM walhook.backfill_rechecks r JOIN first USING (entity, tbl)
		WHERE r.backfill_id = $1 LIMIT $2`, id, s.cfg.ChunkRows)
	type rec struct {
		Entity, Table string
		Key           []string
	}
	recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rec, error) {
		var x rec
		err := r.Scan(&x.Entity, &x.Table, &x.Key)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("read backfill %s rows to read again: %w", id, err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	e := s.cfg.Mapping.Entity(recs[0].Entity)
	if e == nil {
		return nil, fmt.Errorf("%w: entity %s is no longer in the mapping", errPermanent, recs[0].Entity)
	}
	set := &recheckSet{entity: e}
	found := false
	for _, t := range entityTables(e) {
		if t.String() == recs[0].Table {
			set.table, found = t, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: table %s of %s is no longer in the mapping", errPermanent, recs[0].Table, e.Name)
	}
	for _, r := range recs {
		set.keys = append(set.keys, r.Key)
	}
	return set, nil
}

// encodeKeys writes each key value list as a text[] literal.
func encodeKeys(keys [][]string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = encodeKey(k)
	}
	return out
}

// end emits the end message of a backfill no longer running, releasing its watermarks.
func (s *Service) end(ctx context.Context, id string) error {
	_, err := s.cfg.CRM.Exec(ctx, `SELECT pg_logical_emit_message(true, $1, $2::bytea)`, event.BackfillPrefix,
		appendMark(kindEnd, mark{Backfill: id}))
	return wrap(err, "emit the end of backfill %s", id)
}

// finish ends a running backfill in state and emits its end message.
func (s *Service) finish(ctx context.Context, id, state, errText string) error {
	var errVal any
	if errText != "" {
		errVal = errText
	}
	tag, err := s.cfg.DB.Exec(ctx, `UPDATE walhook.backfills SET state = $2, error = $3, finished = now(), modified = now()
		WHERE id = $1 AND state = 'running'`, id, state, errVal)
	if err != nil {
		return fmt.Errorf("finish backfill %s: %w", id, err)
	}
	if tag.RowsAffected() > 0 {
		s.met.finished.WithLabelValues(state).Inc()
		s.log.Info("backfill finished", "backfill_id", id, "state", state)
	}
	return s.end(ctx, id)
}

// count counts the rows the backfill will read.
func (s *Service) count(ctx context.Context, entities []string) (int64, error) {
	var total int64
	for _, name := range entities {
		e := s.cfg.Mapping.Entity(name)
		if e == nil {
			return 0, fmt.Errorf("%w: entity %s is no longer in the mapping", errPermanent, name)
		}
		for _, t := range entityTables(e) {
			var n int64
			if err := s.cfg.CRM.QueryRow(ctx, `SELECT count(*) FROM `+quoted(t)+` AS t WHERE `+e.LiveRowsSQL("t")).Scan(&n); err != nil {
				return 0, fmt.Errorf("count %s rows in %s: %w", e.Name, t, err)
			}
			total += n
		}
	}
	return total, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
