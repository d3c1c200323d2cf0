package sender

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// fakeStore is a webhook store in memory.
type fakeStore struct {
	mu       sync.Mutex
	whs      map[string]*matcher.Webhook
	disabled map[string]time.Time
	reasons  []string // of every disable, in order
}

func newFakeStore(whs ...*matcher.Webhook) *fakeStore {
	st := &fakeStore{whs: map[string]*matcher.Webhook{}, disabled: map[string]time.Time{}}
	for _, wh := range whs {
		st.whs[wh.ID] = wh
	}
	return st
}

func (st *fakeStore) Get(_ context.Context, id string) (*matcher.Webhook, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	wh, ok := st.whs[id]
	if !ok {
		return nil, fmt.Errorf("get webhook %s: %w", id, matcher.ErrNotFound)
	}
	c := *wh
	if at, ok := st.disabled[id]; ok {
		c.Status, c.DisabledAt = matcher.StatusDisabled, &at
	}
	return &c, nil
}

func (st *fakeStore) Disable(_ context.Context, id, reason string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.disabled[id]; ok {
		return false, nil
	}
	st.disabled[id] = time.Now()
	st.reasons = append(st.reasons, reason)
	return true, nil
}

func (st *fakeStore) resume(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.disabled, id)
}

func (st *fakeStore) isDisabled(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, ok := st.disabled[id]
	return ok
}

func TestInsecureSSL(t *testing.T) {
	pool := stateDB(t)
	got := make(chan string, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Webhook-Id")
	}))
	t.Cleanup(srv.Close)
	s, a := startSender(t, testConfig(), pool)
	verified := newWebhook(srv.URL)
	insecure := newWebhook(srv.URL)
	insecure.InsecureSSL = true
	var g gen
	evs, txn := g.txn(1, oneEach)
	feed(t, s, verified, evs, txn)
	a.wait(t, txn.EndLSN)
	eventually(t, "the verified webhook's chunk to be queued", func() bool {
		return queueRows(t, pool, verified.ID, statePending) == 1
	})
	var lastErr string
	if err := pool.QueryRow(context.Background(), `SELECT last_error FROM walhook.delivery_queue WHERE webhook_id = $1`,
		verified.ID).Scan(&lastErr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastErr, "certificate") {
		t.Errorf("last_error %q, want a certificate error", lastErr)
	}

	evs, txn = g.txn(1, oneEach)
	feed(t, s, insecure, evs, txn)
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("insecure_ssl webhook got nothing from a self-signed server")
	}
	if queueRows(t, pool, insecure.ID, statePending) != 0 {
		t.Error("insecure_ssl webhook's chunk was queued")
	}
}

func TestPrivateTargetsRefused(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.AllowPrivateTargets = false
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL) // 127.0.0.1
	var g gen
	evs, txn := g.txn(1, oneEach)
	feed(t, s, wh, evs, txn)
	a.wait(t, txn.EndLSN)
	eventually(t, "a blocked attempt in the delivery log", func() bool {
		ds, _, err := s.Deliveries(context.Background(), wh.ID, DeliveryFilter{}, 0, 1)
		return err == nil && len(ds) == 1 && ds[0].Outcome == "blocked" && ds[0].Status == nil
	})
	if len(rc.all) != 0 {
		t.Errorf("receiver on 127.0.0.1 got %d requests, want 0", len(rc.all))
	}
	if queueRows(t, pool, wh.ID, statePending) != 1 {
		t.Error("refused chunk not kept in the queue for retry")
	}
}

// TestHangingEndpointDoesNotDelayOthers: while a webhook's first request hangs, another
// webhook gets all its events, and the hanging webhook gets no second request (its lane
// sends one chunk at a time).
func TestHangingEndpointDoesNotDelayOthers(t *testing.T) {
	pool := stateDB(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	var hungGot atomic.Int32
	hung := newReceiver(t, func(*request) int {
		hungGot.Add(1)
		entered <- struct{}{}
		<-release
		return http.StatusOK
	})
	t.Cleanup(func() { close(release) })
	healthy := newReceiver(t, nil)
	cfg := testConfig()
	cfg.RequestTimeout = time.Minute
	s, _ := startSender(t, cfg, pool)
	slow, fine := newWebhook(hung.srv.URL), newWebhook(healthy.srv.URL)
	slow.ChunkSize = 5
	var g gen
	evs, txn := g.txn(5, oneEach)
	feed(t, s, slow, evs, txn)
	select {
	case <-entered: // the slow webhook's first request hangs from here on
	case <-time.After(30 * time.Second):
		t.Fatal("the hanging endpoint got no request")
	}
	for range 20 {
		evs, txn := g.txn(5, oneEach)
		for _, ev := range evs {
			for _, wh := range []*matcher.Webhook{slow, fine} {
				if err := s.Add(context.Background(), matcher.Match{Webhook: wh, Event: ev}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Commit(context.Background(), txn); err != nil {
			t.Fatal(err)
		}
	}
	items := 0
	for items < 100 {
		items += len(healthy.next(t).p.Items)
	}
	if items != 100 {
		t.Errorf("healthy webhook got %d items, want 100", items)
	}
	// The slow webhook's 21 chunks of 5 were formed meanwhile, behind the hanging one.
	if n := hungGot.Load(); n != 1 {
		t.Errorf("hanging endpoint got %d requests, want 1: its lane sent past a chunk in flight", n)
	}
}

func TestDeadLetterRedeliverAndDisable(t *testing.T) {
	pool := stateDB(t)
	var up atomic.Bool
	rc := newReceiver(t, func(*request) int {
		if up.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	wh := newWebhook(rc.srv.URL)
	store := newFakeStore(wh)
	cfg := testConfig()
	cfg.RetryWindow = 50 * time.Millisecond
	cfg.BreakerThreshold = 3
	cfg.BreakerCooldown = 100 * time.Millisecond
	cfg.Webhooks = store
	s, a := startSender(t, cfg, pool)
	var g gen
	evs, txn := g.txn(3, oneEach)
	feed(t, s, wh, evs, txn)
	a.wait(t, txn.EndLSN)
	var dead []DeadLetter
	eventually(t, "a dead letter", func() bool {
		var err error
		dead, _, err = s.DeadLetters(context.Background(), wh.ID, 0, 10)
		return err == nil && len(dead) == 1
	})
	if dead[0].Items != 3 || dead[0].LastStatus == nil || *dead[0].LastStatus != 503 || dead[0].Attempts < 2 {
		t.Errorf("dead letter %+v, want 3 items, last status 503, several attempts", dead[0])
	}
	eventually(t, "the webhook to be disabled", func() bool { return store.isDisabled(wh.ID) })
	store.mu.Lock()
	reasons := store.reasons
	store.mu.Unlock()
	if len(reasons) != 1 || reasons[0] != "endpoint failed for the whole retry window (50ms)" {
		t.Errorf("disabled with reasons %q, want one naming the retry window", reasons)
	}
	if got := testutil.ToFloat64(s.met.disabled.WithLabelValues(disabledFailing)); got != 1 {
		t.Errorf(`walhook_webhooks_disabled_total{reason="failing"} = %v, want 1`, got)
	}

	store.resume(wh.ID)
	up.Store(true)
	if _, err := s.Redeliver(context.Background(), wh.ID, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, matcher.ErrNotFound) {
		t.Errorf("redeliver of an unknown dead letter: %v, want matcher.ErrNotFound", err)
	}
	n, err := s.Redeliver(context.Background(), wh.ID, dead[0].ID)
	if err != nil || n != 1 {
		t.Fatalf("redeliver: %d, %v", n, err)
	}
	r := rc.next(t)
	if r.p.DeliveryID != dead[0].ID || len(r.p.Items) != 3 {
		t.Errorf("redelivered %s with %d items, want %s with 3", r.p.DeliveryID, len(r.p.Items), dead[0].ID)
	}
	eventually(t, "no dead letters left", func() bool {
		dead, total, err := s.DeadLetters(context.Background(), wh.ID, 0, 10)
		return err == nil && len(dead) == 0 && total == 0 && queueRows(t, pool, wh.ID, statePending) == 0
	})
}

func TestChunkDelayQueuesLaterChunks(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	s, a := startSender(t, testConfig(), pool)
	wh := newWebhook(rc.srv.URL)
	wh.ChunkSize, wh.ChunkDelay = 10, time.Hour
	var g gen
	evs, txn := g.txn(35, oneEach)
	feed(t, s, wh, evs, txn)
	if r := rc.next(t); len(r.p.Items) != 10 {
		t.Errorf("chunk 0 has %d items, want 10", len(r.p.Items))
	}
	a.wait(t, txn.EndLSN) // chunks 1-3 are durably queued
	rows, err := pool.Query(context.Background(), `SELECT items, due_at FROM walhook.delivery_queue
		WHERE webhook_id = $1 ORDER BY pos_lsn, pos_seq`, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	var items []int
	var dues []time.Time
	for rows.Next() {
		var n int
		var due time.Time
		if err := rows.Scan(&n, &due); err != nil {
			t.Fatal(err)
		}
		items, dues = append(items, n), append(dues, due)
	}
	if len(items) != 3 || items[0] != 10 || items[1] != 10 || items[2] != 5 {
		t.Fatalf("queued chunks of %v items, want [10 10 5]", items)
	}
	for i := 1; i < len(dues); i++ {
		if d := dues[i].Sub(dues[i-1]); d != time.Hour {
			t.Errorf("chunk %d due %v after chunk %d, want chunk_delay (1h)", i+1, d, i)
		}
	}
	if n := len(rc.all); n != 1 {
		t.Errorf("%d requests, want chunk 0 only", n)
	}
}

func TestEntityOrderUnderRandomFailures(t *testing.T) {
	pool := stateDB(t)
	rnd := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	seen := map[string][]string{} // entity id → event ids accepted, in order
	total := 0
	rc := newReceiver(t, func(r *request) int {
		mu.Lock()
		defer mu.Unlock()
		switch rnd.IntN(10) {
		case 0:
			panic(http.ErrAbortHandler) // the connection is cut: a transport error
		case 1, 2:
			return []int{500, 502, 429, 404, 301}[rnd.IntN(5)]
		}
		for _, it := range r.p.Items {
			seen[it.EntityID] = append(seen[it.EntityID], it.ID)
			total++
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.Concurrency = 4
	cfg.BreakerThreshold = 1000
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	wh.ChunkSize = 7
	var g gen
	var ends []event.LSN
	const entities, txns = 12, 60
	for k := range txns {
		evs, txn := g.txn(5, func(i int) string { return fmt.Sprintf("e%02d", (k*5+i)*7%entities) })
		feed(t, s, wh, evs, txn)
		ends = append(ends, txn.EndLSN)
	}
	a.wait(t, ends...)
	eventually(t, "every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return total >= txns*5
	})
	mu.Lock()
	defer mu.Unlock()
	for e, ids := range seen {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("entity %s: event %s delivered after %s", e, ids[i], ids[i-1])
			}
		}
	}
	if total != txns*5 {
		t.Errorf("%d events accepted, want %d (no duplicates without a crash)", total, txns*5)
	}
}

func TestMemoryLimitSpillsToQueue(t *testing.T) {
	pool := stateDB(t)
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	rc := newReceiver(t, func(r *request) int {
		<-release
		mu.Lock()
		defer mu.Unlock()
		for _, it := range r.p.Items {
			got = append(got, it.ID)
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.MemoryLimitBytes = 64 << 10
	cfg.SpillWait = 5 * time.Millisecond
	cfg.RequestTimeout = time.Minute
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	var ends []event.LSN
	var want []string
	for range 200 {
		evs, txn := g.txn(10, func(int) string { return "same" })
		feed(t, s, wh, evs, txn)
		ends = append(ends, txn.EndLSN)
		for _, ev := range evs {
			want = append(want, string(ev.ID))
		}
	}
	a.wait(t, ends...) // everything acknowledged while the endpoint hangs
	if n := queueRows(t, pool, wh.ID, statePending); n == 0 {
		t.Error("nothing spilled to the durable queue")
	}
	if m := s.mem.Load(); m > cfg.MemoryLimitBytes {
		t.Errorf("memory %d bytes, over the limit %d", m, cfg.MemoryLimitBytes)
	}
	close(release)
	eventually(t, "every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d is %s, want %s: order broken", i, got[i], want[i])
		}
	}
}

func TestBreakerStopsHammering(t *testing.T) {
	var claims claimCounter
	pool := stateDBTraced(t, &claims)
	var calls atomic.Int32
	rc := newReceiver(t, func(*request) int {
		calls.Add(1)
		return http.StatusInternalServerError
	})
	cfg := testConfig()
	cfg.Concurrency = 4
	cfg.BreakerThreshold = 2
	cfg.BreakerCooldown = time.Hour
	cfg.RetryMaxBackoff = 5 * time.Millisecond
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	var ends []event.LSN
	for range 30 {
		evs, txn := g.txn(4, oneEach)
		feed(t, s, wh, evs, txn)
		ends = append(ends, txn.EndLSN)
	}
	a.wait(t, ends...)
	eventually(t, "the breaker to open", func() bool { return s.breakerFor(wh.ID).isOpen(time.Now()) })
	n := calls.Load()
	// While open, the queue workers send nothing, though the failed chunks are due again
	// within 5ms: give them fifty looks for due chunks.
	from := claims.n.Load()
	eventually(t, "fifty claims by the queue workers", func() bool { return claims.n.Load() >= from+50 })
	if got := calls.Load(); got != n || n > int32(cfg.Concurrency)+int32(cfg.BreakerThreshold) {
		t.Errorf("%d requests before the breaker opened, %d after; want at most %d, then none",
			n, got-n, cfg.Concurrency+cfg.BreakerThreshold)
	}
	_ = rc
}
