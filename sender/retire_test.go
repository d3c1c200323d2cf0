package sender

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// tracked returns how many loops and breakers the sender keeps.
func (s *Sender) tracked() (hooks, breakers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hooks), len(s.breakers)
}

// waitRetired waits until no send loop runs and the sender keeps no loop or breaker.
func waitRetired(tb testing.TB, s *Sender) {
	tb.Helper()
	eventually(tb, "idle loops to retire", func() bool {
		hooks, breakers := s.tracked()
		return hooks == 0 && breakers == 0 && s.loops.Load() == 0
	})
}

func TestIdleHookRetires(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.HookIdleTimeout = 20 * time.Millisecond
	s, a := startSender(t, cfg, pool)

	whs := make([]*matcher.Webhook, 5)
	for i := range whs {
		whs[i] = newWebhook(rc.srv.URL)
		whs[i].Signature = "01234567-abcd-dcba-ffff-000000000000"
		whs[i].HTTPAuthUser, whs[i].HTTPAuthPassword = "hook-user", "s3cret"
	}
	var g gen
	evs, txn := g.txn(3, oneEach)
	for _, ev := range evs {
		for _, wh := range whs {
			if err := s.Add(context.Background(), matcher.Match{Webhook: wh, Event: ev}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := s.loops.Load(); n != int64(len(whs)) { // claimed by the open transaction: none retires
		t.Errorf("%d send loops running, want %d", n, len(whs))
	}
	if err := s.Commit(context.Background(), txn); err != nil {
		t.Fatal(err)
	}
	for range whs {
		rc.next(t)
	}
	a.wait(t, txn.EndLSN)
	waitRetired(t, s)

	// The webhook comes back: a new loop delivers, then retires too.
	evs, txn = g.txn(2, oneEach)
	feed(t, s, whs[0], evs, txn)
	r := rc.next(t)
	if r.p.WebhookID != whs[0].ID || len(r.p.Items) != 2 || r.user != "hook-user" {
		t.Errorf("after retirement got webhook %s with %d items (user %q), want %s with 2 (hook-user)",
			r.p.WebhookID, len(r.p.Items), r.user, whs[0].ID)
	}
	a.wait(t, txn.EndLSN)
	waitRetired(t, s)
}

// countingQueue counts a loop's looks at its lanes in the queue (busyLanes): one when it
// starts, then one per retirement it considers.
type countingQueue struct {
	laneQueue
	looks atomic.Int64
}

func (q *countingQueue) busyLanes(ctx context.Context, webhookID string) ([]int, error) {
	q.looks.Add(1)
	return q.laneQueue.busyLanes(ctx, webhookID)
}

// TestHookWithQueuedChunksStays: a loop does not retire while the durable queue holds its
// webhook's chunks (when the sender has no webhook store the queue's workers send them
// with the webhook as the loop saw it). TestLoopStaysWhileChunkDelayRuns covers the
// chunk_delay schedule, which keeps a loop too.
func TestHookWithQueuedChunksStays(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, func(*request) int { return http.StatusInternalServerError })
	cfg := testConfig()
	cfg.HookIdleTimeout = 10 * time.Millisecond
	cfg.RetryMinBackoff, cfg.RetryMaxBackoff = time.Hour, time.Hour
	s, a := startSender(t, cfg, pool)
	q := &countingQueue{laneQueue: s.deps.queue}
	s.deps.queue = q // before the first Add starts a loop
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(1, oneEach)
	feed(t, s, wh, evs, txn)
	<-rc.all
	a.wait(t, txn.EndLSN)
	eventually(t, "ten retirements considered, or one made", func() bool {
		hooks, _ := s.tracked()
		return hooks == 0 || q.looks.Load() >= 11
	})
	if hooks, _ := s.tracked(); hooks != 1 {
		t.Errorf("%d loops kept, want 1", hooks)
	}
	evs, txn = g.txn(1, oneEach)
	feed(t, s, wh, evs, txn)
	a.wait(t, txn.EndLSN)
	if n := queueRows(t, pool, wh.ID, statePending); n != 2 {
		t.Errorf("%d chunks queued, want 2: the second behind the first", n)
	}
	if n := len(rc.all); n != 0 {
		t.Errorf("%d more requests, want none", n)
	}
}

// TestDetachRefusesClaimedHook pins the handshake that makes retirement safe: Add claims
// the loop (hookFor) before it fills a chunk, and a loop that retires in between would
// swallow the event.
func TestDetachRefusesClaimedHook(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.HookIdleTimeout = time.Hour // the loop never retires by itself here
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)

	h := s.hookFor(wh) // as Add does, before h.add
	if s.detach(h, time.Now()) {
		t.Fatal("detach retired a loop that Add had claimed for the current transaction")
	}
	h.commit(time.Now()) // the transaction ends without events
	if !s.detach(h, time.Now()) {
		t.Fatal("detach refused a quiet loop")
	}
	if hooks, _ := s.tracked(); hooks != 0 {
		t.Fatalf("%d loops kept after detach, want 0", hooks)
	}
	var g gen
	evs, txn := g.txn(1, oneEach)
	feed(t, s, wh, evs, txn)
	if s.localHook(wh.ID) == h {
		t.Error("Add used the detached loop")
	}
	if r := rc.next(t); r.p.WebhookID != wh.ID {
		t.Errorf("delivered webhook %s, want %s", r.p.WebhookID, wh.ID)
	}
	a.wait(t, txn.EndLSN)
}

// TestRetireRacesAdd feeds transactions while the loops retire as soon as they are idle:
// every event must be delivered once, in order, and every transaction acknowledged.
func TestRetireRacesAdd(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.HookIdleTimeout = time.Nanosecond
	s, a := startSender(t, cfg, pool)
	whs := []*matcher.Webhook{newWebhook(rc.srv.URL), newWebhook(rc.srv.URL), newWebhook(rc.srv.URL)}
	loops := map[*hook]bool{}
	var g gen
	var ends []event.LSN
	want := map[string][]string{}
	const txns = 150
	for k := range txns {
		evs, txn := g.txn(2, func(int) string { return "same" })
		wh := whs[k%len(whs)]
		feed(t, s, wh, evs, txn)
		if h := s.localHook(wh.ID); h != nil {
			loops[h] = true
		}
		ends = append(ends, txn.EndLSN)
		for _, ev := range evs {
			want[wh.ID] = append(want[wh.ID], string(ev.ID))
		}
		time.Sleep(time.Duration(k%4) * time.Millisecond)
	}
	a.wait(t, ends...)
	got := map[string][]string{}
	for n := 0; n < 2*txns; {
		r := rc.next(t)
		for _, it := range r.p.Items {
			got[r.p.WebhookID] = append(got[r.p.WebhookID], it.ID)
			n++
		}
	}
	for _, wh := range whs {
		if strings.Join(got[wh.ID], ",") != strings.Join(want[wh.ID], ",") {
			t.Errorf("webhook %s got events\n%v\nwant\n%v", wh.ID, got[wh.ID], want[wh.ID])
		}
	}
	if len(loops) <= len(whs) {
		t.Errorf("%d loops for %d webhooks: no loop retired between transactions", len(loops), len(whs))
	}
	waitRetired(t, s)
}

func TestIdleBreakersPruned(t *testing.T) {
	cfg := testConfig()
	cfg.HookIdleTimeout = time.Minute
	cfg.BreakerThreshold = 1
	cfg.BreakerCooldown = time.Hour
	s := New(cfg, itemRenderer{}, nil, func(event.LSN) {})
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	now := time.Now()
	s.breakerFor("closed")            // a queue worker's attempt, no loop here
	s.breakerFor("open").failure(now) // opened for an hour
	s.pruneBreakers(now.Add(30 * time.Second))
	if _, n := s.tracked(); n != 2 {
		t.Errorf("%d breakers after a prune within HookIdleTimeout, want 2", n)
	}
	s.pruneBreakers(now.Add(2 * time.Minute))
	if got := s.openBreakers(now.Add(2 * time.Minute)); len(got) != 1 || got[0] != "open" {
		t.Errorf("open breakers %v, want [open]: an open breaker is kept for its cooldown", got)
	}
	if _, n := s.tracked(); n != 1 {
		t.Errorf("%d breakers after the idle one was pruned, want 1", n)
	}
	s.pruneBreakers(now.Add(2 * time.Hour))
	if _, n := s.tracked(); n != 0 {
		t.Errorf("%d breakers once the cooldown is over, want 0", n)
	}
}
