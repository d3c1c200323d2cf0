package sender

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/matcher"
)

// bodies records every request a receiver got, by delivery id, in arrival order.
type bodies struct {
	mu  sync.Mutex
	got map[string][][]byte
	n   atomic.Int64
}

func (b *bodies) add(r *request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.got == nil {
		b.got = map[string][][]byte{}
	}
	b.got[r.p.DeliveryID] = append(b.got[r.p.DeliveryID], r.body)
	b.n.Add(1)
}

func (b *bodies) of(id string) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got[id])
}

// logged waits until the webhook's delivery log holds n entries and returns them,
// newest first.
func logged(tb testing.TB, s *Sender, webhookID string, n int) []Delivery {
	tb.Helper()
	var ds []Delivery
	eventually(tb, "delivery log entries", func() bool {
		var err error
		ds, _, err = s.Deliveries(context.Background(), webhookID, DeliveryFilter{}, 0, 1000)
		return err == nil && len(ds) == n && len(ds[0].EventIDs) > 0
	})
	return ds
}

// TestDeliverySearch checks that each search of the delivery log finds exactly the
// attempts of the chunks it names: by event id, entity id (narrowed by entity), status
// (outcome word or HTTP status) and since, alone and combined.
func TestDeliverySearch(t *testing.T) {
	pool := stateDB(t)
	var failedOnce atomic.Bool
	rc := newReceiver(t, func(r *request) int {
		for _, it := range r.p.Items {
			if it.EntityID == "e2" && failedOnce.CompareAndSwap(false, true) {
				return http.StatusServiceUnavailable
			}
		}
		return http.StatusOK
	})
	s, a := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	wh.ChunkSize = 2
	var g gen
	evs1, txn1 := g.txn(4, oneEach) // chunks [e0 e1] and [e2 e3]; the second fails once
	feed(t, s, wh, evs1, txn1)
	a.wait(t, txn1.EndLSN)
	eventually(t, "the retry", func() bool { return queueRows(t, pool, wh.ID, statePending) == 0 })
	logged(t, s, wh.ID, 3)
	mid := time.Now()
	evs2, txn2 := g.txn(1, func(int) string { return "x9" })
	feed(t, s, wh, evs2, txn2)
	a.wait(t, txn2.EndLSN)
	all := logged(t, s, wh.ID, 4)

	chunkA, chunkB, chunkC := all[3].DeliveryID, all[2].DeliveryID, all[0].DeliveryID
	if all[1].DeliveryID != chunkB || all[2].Outcome != "http_error" || all[1].Outcome != "delivered" {
		t.Fatalf("log %+v: want chunk A, B failed, B delivered, C", all)
	}
	if diff := cmp.Diff(eventIDs(evs1[:2]), all[3].EventIDs); diff != "" {
		t.Errorf("chunk A's event ids (-want +got):\n%s", diff)
	}
	wantEntities := []EntityRef{{"Account", "e2"}, {"Account", "e3"}}
	if diff := cmp.Diff(wantEntities, all[2].Entities); diff != "" {
		t.Errorf("chunk B's entities (-want +got):\n%s", diff)
	}

	type attempt struct {
		ID      string
		Outcome string
	}
	for _, c := range []struct {
		name string
		f    DeliveryFilter
		want []attempt // newest first
	}{
		{"event id of chunk A", DeliveryFilter{EventID: string(evs1[1].ID)}, []attempt{{chunkA, "delivered"}}},
		{"event id of chunk B", DeliveryFilter{EventID: string(evs1[2].ID)}, []attempt{{chunkB, "delivered"}, {chunkB, "http_error"}}},
		{"unknown event id", DeliveryFilter{EventID: "nope"}, nil},
		{"entity id", DeliveryFilter{EntityID: "e3"}, []attempt{{chunkB, "delivered"}, {chunkB, "http_error"}}},
		{"entity and entity id", DeliveryFilter{Entity: "Account", EntityID: "e0"}, []attempt{{chunkA, "delivered"}}},
		{"other entity, same id", DeliveryFilter{Entity: "Contact", EntityID: "e0"}, nil},
		{"outcome http_error", DeliveryFilter{Outcome: "http_error"}, []attempt{{chunkB, "http_error"}}},
		{"status 503", DeliveryFilter{Status: 503}, []attempt{{chunkB, "http_error"}}},
		{"status 200", DeliveryFilter{Status: 200}, []attempt{{chunkC, "delivered"}, {chunkB, "delivered"}, {chunkA, "delivered"}}},
		{"outcome delivered", DeliveryFilter{Outcome: "delivered"}, []attempt{{chunkC, "delivered"}, {chunkB, "delivered"}, {chunkA, "delivered"}}},
		{"since", DeliveryFilter{Since: mid}, []attempt{{chunkC, "delivered"}}},
		{"entity id and status", DeliveryFilter{EntityID: "e2", Outcome: "delivered"}, []attempt{{chunkB, "delivered"}}},
		{"entity id and since", DeliveryFilter{EntityID: "e2", Since: mid}, nil},
		{"entity id of chunk C and since", DeliveryFilter{EntityID: "x9", Since: mid}, []attempt{{chunkC, "delivered"}}},
	} {
		ds, total, err := s.Deliveries(context.Background(), wh.ID, c.f, 0, 100)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []attempt
		for _, d := range ds {
			got = append(got, attempt{d.DeliveryID, d.Outcome})
		}
		if diff := cmp.Diff(c.want, got); diff != "" || total != len(c.want) {
			t.Errorf("%s: total %d (-want +got):\n%s", c.name, total, diff)
		}
	}
	for _, f := range []DeliveryFilter{{Outcome: "teapot"}, {Entity: "Account"}} {
		if _, _, err := s.Deliveries(context.Background(), wh.ID, f, 0, 10); !errors.Is(err, ErrBadFilter) {
			t.Errorf("filter %+v: %v, want ErrBadFilter", f, err)
		}
	}
}

// TestDeliveryBodyRetained checks that a chunk's request body is kept, compressed, and
// read back byte for byte as the receiver got it, with the chunk's attempts and ids;
// that pruning past WALHOOK_PAYLOAD_RETENTION drops the body and keeps the rest; and that
// a negative retention (WALHOOK_PAYLOAD_RETENTION=0) keeps no body at all.
func TestDeliveryBodyRetained(t *testing.T) {
	pool := stateDB(t)
	var got bodies
	rc := newReceiver(t, func(r *request) int { got.add(r); return http.StatusOK })
	cfg := testConfig()
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(3, func(i int) string { return []string{"a1", "a2", "a1"}[i] })
	feed(t, s, wh, evs, txn)
	a.wait(t, txn.EndLSN)
	id := logged(t, s, wh.ID, 1)[0].DeliveryID
	c := readChunk(t, s, wh.ID, id)
	sent := got.of(id)
	if len(sent) != 1 || !bytes.Equal(c.Body, sent[0]) {
		t.Fatalf("logged body differs from the request the receiver got:\nlogged %s\nsent   %q", c.Body, sent)
	}
	if diff := cmp.Diff(eventIDs(evs), c.EventIDs); diff != "" {
		t.Errorf("event ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]EntityRef{{"Account", "a1"}, {"Account", "a2"}}, c.Entities); diff != "" {
		t.Errorf("entities, each pair once (-want +got):\n%s", diff)
	}
	if len(c.Attempts) != 1 || c.Attempts[0].Outcome != "delivered" || c.Attempts[0].Status == nil ||
		*c.Attempts[0].Status != 200 || c.Items != 3 {
		t.Errorf("chunk %+v, want 3 items and one delivered attempt", c)
	}
	if _, err := s.DeliveryChunk(context.Background(), wh.ID, "01234567-abcd-dcba-ffff-000000000000"); !errors.Is(err, matcher.ErrNotFound) {
		t.Errorf("unknown delivery: %v, want matcher.ErrNotFound", err)
	}

	// An hour past the payload retention: the body goes, the log entry and ids stay.
	if _, err := s.st.prune(context.Background(), s.cfg.cutoffs(time.Now().Add(cfg.withDefaults().PayloadRetention+time.Hour))); err != nil {
		t.Fatal(err)
	}
	c = readChunk(t, s, wh.ID, id)
	if c.Body != nil || len(c.Attempts) != 1 || len(c.EventIDs) != 3 {
		t.Errorf("after the payload retention: body %s, %d attempts, %d event ids; want no body, 1 attempt, 3 ids",
			c.Body, len(c.Attempts), len(c.EventIDs))
	}
	// Past the delivery log's retention: everything goes.
	if _, err := s.st.prune(context.Background(), s.cfg.cutoffs(time.Now().Add(DefaultDeliveryLogRetention+time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeliveryChunk(context.Background(), wh.ID, id); !errors.Is(err, ErrChunkNotFound) {
		t.Errorf("after the delivery log's retention: %v, want ErrChunkNotFound", err)
	}

}

// TestDeliveryBodyNotKept checks that a negative payload retention
// (WALHOOK_PAYLOAD_RETENTION=0) keeps no body, and still the chunk's ids.
func TestDeliveryBodyNotKept(t *testing.T) {
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.PayloadRetention = -1
	s, a := startSender(t, cfg, stateDB(t))
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(2, oneEach)
	feed(t, s, wh, evs, txn)
	a.wait(t, txn.EndLSN)
	c := readChunk(t, s, wh.ID, logged(t, s, wh.ID, 1)[0].DeliveryID)
	if c.Body != nil || len(c.EventIDs) != 2 {
		t.Errorf("body %s and %d event ids, want no body and 2 ids", c.Body, len(c.EventIDs))
	}
}

func readChunk(tb testing.TB, s *Sender, webhookID, deliveryID string) *Chunk {
	tb.Helper()
	c, err := s.DeliveryChunk(context.Background(), webhookID, deliveryID)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestLogWriterBoundsBodies checks that the bodies the log writer holds are bounded in
// bytes: past the budget a body is dropped (and counted) without blocking, while the
// chunk's ids are still logged.
func TestLogWriterBoundsBodies(t *testing.T) {
	met := newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })
	w := newLogWriter(met, true)
	w.budget = 64 << 10
	body := bytes.Repeat([]byte("x"), 20<<10)
	kept := 0
	for range 10 {
		w.addChunk(chunkRecord{eventIDs: []string{"e"}, entities: []string{"Account"}, entityIDs: []string{"1"}, body: body})
	}
	close(w.chunks)
	for r := range w.chunks {
		if r.body != nil {
			kept++
		}
	}
	if kept != 3 {
		t.Errorf("%d bodies kept, want 3 (64 KiB of 20 KiB bodies and ids)", kept)
	}
	if got := testutil.ToFloat64(met.logBodies.WithLabelValues(bodyDropped)); got != 7 {
		t.Errorf("bodies dropped = %v, want 7", got)
	}
	if p := w.pending.Load(); p > w.budget {
		t.Errorf("pending %d bytes, over the budget %d", p, w.budget)
	}
}

// TestReplay checks that a replay of a window re-delivers exactly the chunks whose first
// attempt is in the window, with identical bodies and the same delivery ids; that a chunk
// still in the queue is skipped and counted; that a status filter applies to the latest
// attempt; and that chunks whose body is pruned are skipped and counted.
func TestReplay(t *testing.T) {
	pool := stateDB(t)
	var got bodies
	var down atomic.Bool
	rc := newReceiver(t, func(r *request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		got.add(r)
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.BreakerCooldown = 20 * time.Millisecond
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	wh.ChunkSize = 2
	var g gen
	send := func(n int) {
		before := int(got.n.Load())
		evs, txn := g.txn(n, oneEach)
		feed(t, s, wh, evs, txn)
		a.wait(t, txn.EndLSN)
		eventually(t, "deliveries", func() bool { return int(got.n.Load()) == before+(n+1)/2 })
	}
	ctx := context.Background()
	t0 := time.Now()
	send(2) // chunk A
	logged(t, s, wh.ID, 1)
	t1 := time.Now()
	send(4) // chunks B1, B2
	inWindow := logged(t, s, wh.ID, 3)[:2]
	t2 := time.Now()
	send(2) // chunk C
	logged(t, s, wh.ID, 4)
	delivered := got.n.Load()

	res, err := s.Replay(ctx, wh.ID, ReplayWindow{Since: t1, Until: t2})
	if err != nil {
		t.Fatal(err)
	}
	want := ReplayResult{Replayed: 2, Skipped: map[string]int{SkipBodyNotRetained: 0, SkipQueued: 0, SkipDeadLetter: 0}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("replay (-want +got):\n%s", diff)
	}
	eventually(t, "the replayed chunks", func() bool {
		return got.n.Load() == delivered+2 && queueRows(t, pool, wh.ID, statePending) == 0
	})
	for _, d := range inWindow {
		sent := got.of(d.DeliveryID)
		if len(sent) != 2 || !bytes.Equal(sent[0], sent[1]) {
			t.Errorf("chunk %s received %d times (want 2, the replay identical to the first)", d.DeliveryID, len(sent))
		}
	}
	if n := got.n.Load(); n != delivered+2 {
		t.Errorf("%d requests after the replay, want %d: only the window's chunks are replayed", n, delivered+2)
	}

	// Status: every chunk's latest attempt was delivered.
	if res, err := s.Replay(ctx, wh.ID, ReplayWindow{Since: t0, Until: time.Now(), Outcome: "http_error"}); err != nil || res.Replayed != 0 {
		t.Errorf("replay of failed chunks: %+v, %v; want none", res, err)
	}
	// A replayed chunk that fails stays queued: a second replay skips it.
	down.Store(true)
	res, err = s.Replay(ctx, wh.ID, ReplayWindow{Since: t2, Until: time.Now()})
	if err != nil || res.Replayed != 1 {
		t.Fatalf("replay of chunk C: %+v, %v", res, err)
	}
	eventually(t, "a failed attempt of the replayed chunk", func() bool {
		ds, _, err := s.Deliveries(ctx, wh.ID, DeliveryFilter{Outcome: "http_error"}, 0, 10)
		return err == nil && len(ds) > 0
	})
	res, err = s.Replay(ctx, wh.ID, ReplayWindow{Since: t2, Until: time.Now()})
	want = ReplayResult{Replayed: 0, Skipped: map[string]int{SkipBodyNotRetained: 0, SkipQueued: 1, SkipDeadLetter: 0}}
	if diff := cmp.Diff(want, res); err != nil || diff != "" {
		t.Errorf("replay of a queued chunk: %v (-want +got):\n%s", err, diff)
	}
	// Its latest attempt failed: a status filter finds it.
	res, err = s.Replay(ctx, wh.ID, ReplayWindow{Since: t0, Until: time.Now(), Status: 503})
	if err != nil || res.Skipped[SkipQueued] != 1 || res.Replayed != 0 {
		t.Errorf("replay of status 503: %+v, %v; want chunk C, skipped as queued", res, err)
	}
	down.Store(false)
	eventually(t, "the queue to empty", func() bool { return queueRows(t, pool, wh.ID, statePending) == 0 })

	// Bodies past the payload retention cannot be replayed.
	if _, err := s.st.prune(ctx, s.cfg.cutoffs(time.Now().Add(s.cfg.PayloadRetention+time.Hour))); err != nil {
		t.Fatal(err)
	}
	res, err = s.Replay(ctx, wh.ID, ReplayWindow{Since: t0, Until: time.Now()})
	want = ReplayResult{Replayed: 0, Skipped: map[string]int{SkipBodyNotRetained: 4, SkipQueued: 0, SkipDeadLetter: 0}}
	if diff := cmp.Diff(want, res); err != nil || diff != "" {
		t.Errorf("replay after the payload retention: %v (-want +got):\n%s", err, diff)
	}
}

// TestDeliverySearchUsesIndexes checks with EXPLAIN that every search of the delivery log
// and the replay's window query are answered from indexes: with sequential scans
// disabled, no plan scans delivery_log or delivery_chunks sequentially.
func TestDeliverySearchUsesIndexes(t *testing.T) {
	pool := stateDB(t)
	ctx := context.Background()
	wh := "01234567-abcd-dcba-ffff-000000000000"
	if _, err := pool.Exec(ctx, `INSERT INTO walhook.delivery_log (webhook_id, delivery_id, attempt, attempted_at, items, outcome,
			status, duration_seconds)
		SELECT $1, gen_random_uuid(), 1, now() - i * interval '1 second', 1, 'delivered', 200, 0.01 FROM generate_series(1, 2000) i`, wh); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO walhook.delivery_chunks (webhook_id, delivery_id, formed_at, items, lane, pos_lsn,
			pos_seq, committed_at, event_ids, entities, entity_ids)
		SELECT webhook_id, delivery_id, attempted_at, 1, 0, '0/1', 1, attempted_at, ARRAY['ev' || id], ARRAY['Account'], ARRAY['a' || id]
		FROM walhook.delivery_log; ANALYZE walhook.delivery_log; ANALYZE walhook.delivery_chunks`); err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-time.Minute)
	type query struct {
		sql   string
		args  []any
		index string // an index the plan must use
	}
	queries := map[string]query{}
	for name, c := range map[string]struct {
		f     DeliveryFilter
		index string
	}{
		"all":        {DeliveryFilter{}, "delivery_log_"},
		"event id":   {DeliveryFilter{EventID: "ev5"}, "delivery_chunks_event_ids"},
		"entity id":  {DeliveryFilter{EntityID: "a5"}, "delivery_chunks_entity_ids"},
		"entity":     {DeliveryFilter{Entity: "Account", EntityID: "a5"}, "delivery_chunks_entity_ids"},
		"outcome":    {DeliveryFilter{Outcome: "timeout"}, "delivery_log_failed"},
		"status":     {DeliveryFilter{Status: 502}, "delivery_log_failed"},
		"since":      {DeliveryFilter{Since: since}, "attempted"},
		"everything": {DeliveryFilter{EventID: "ev5", Entity: "Account", EntityID: "a5", Status: 502, Since: since}, "delivery_chunks_"},
	} {
		page, count, args := c.f.deliveriesSQL(wh, 0, 100)
		queries[name+" (page)"] = query{page, args, c.index}
		queries[name+" (count)"] = query{count, args[:len(args)-2], c.index}
	}
	queries["replay window"] = query{replayWindowSQL(""), []any{wh, since, time.Now()}, "delivery_log_delivery"}
	queries["replay window, status"] = query{replayWindowSQL(" AND la.status = $4"), []any{wh, since, time.Now(), 502}, "delivery_log_delivery"}
	for name, q := range queries {
		plan := explainAll(t, pool, q.sql, q.args)
		if testing.Verbose() {
			t.Logf("%s:\n%s", name, plan)
		}
		for _, table := range []string{"delivery_log", "delivery_chunks"} {
			if strings.Contains(plan, "Seq Scan on "+table) {
				t.Errorf("%s scans %s sequentially:\n%s", name, table, plan)
			}
		}
		if !strings.Contains(plan, q.index) {
			t.Errorf("%s does not use index %s*:\n%s", name, q.index, plan)
		}
	}
}

// explainAll returns the plan of sql with sequential scans disabled.
func explainAll(tb testing.TB, pool *pgxpool.Pool, sql string, args []any) string {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		tb.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
