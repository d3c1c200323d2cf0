package sender

import (
	"context"
	"testing"
	"time"

	"github.com/walhook/walhook/matcher"
)

// TestMemoryLimitWithOpenChunks: a transaction whose matches for several webhooks fill the
// memory budget while their chunks are still open (not full, the transaction not
// committed) must not block the reader: open chunks are sealed and sent. (Found by review:
// Add blocked forever.)
func TestMemoryLimitWithOpenChunks(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	cfg := testConfig()
	cfg.MemoryLimitBytes = 8 << 10
	cfg.SpillWait = 5 * time.Millisecond
	s, a := startSender(t, cfg, pool)
	whs := []*matcher.Webhook{newWebhook(rc.srv.URL), newWebhook(rc.srv.URL)}
	var g gen
	evs, txn := g.txn(100, oneEach)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, ev := range evs {
		for _, wh := range whs {
			if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}); err != nil {
				t.Fatalf("add event %d: %v (the reader is stuck at the memory limit)", i+1, err)
			}
		}
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	a.wait(t, txn.EndLSN)
}

// TestLoopDoesNotSpinAtTheLimit: at the memory limit, with a request in flight and chunks
// waiting, the send loop waits for the attempt's result instead of waking itself. (Found by
// review: 3.3 million steps in 2 s.)
func TestLoopDoesNotSpinAtTheLimit(t *testing.T) {
	pool := stateDB(t)
	srv := newHoldingReceiver(t)
	cfg := testConfig()
	cfg.MemoryLimitBytes = 16 << 10
	cfg.SpillWait, cfg.SlowAfter = 5*time.Millisecond, time.Hour // never slow: back-pressure only
	cfg.RequestTimeout = time.Minute
	s, _ := startSender(t, cfg, pool)
	wh := newWebhook(srv.URL)
	wh.ChunkSize = 10
	var g gen
	ctx, cancel := context.WithCancel(context.Background())
	added := make(chan struct{})
	go func() {
		defer close(added)
		for range 50 {
			evs, txn := g.txn(10, oneEach)
			for _, ev := range evs {
				if s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}) != nil {
					return
				}
			}
			if s.Commit(ctx, txn) != nil {
				return
			}
		}
	}()
	// The reader is held back at the limit; measure the loop's rounds over a while.
	h := waitHook(t, s, wh.ID)
	eventually(t, "the reader held at the memory limit", func() bool { return s.short() })
	before := h.steps.Load()
	time.Sleep(300 * time.Millisecond) // a window for a spin to show; the assertion is a count
	steps := h.steps.Load() - before
	cancel()
	srv.release()
	<-added
	if steps > 200 {
		t.Errorf("the send loop ran %d rounds in 300ms with a request in flight at the memory limit: it spins", steps)
	}
	t.Logf("%d rounds while held", steps)
}

// waitHook returns the webhook's send loop once it runs.
func waitHook(tb testing.TB, s *Sender, id string) *hook {
	tb.Helper()
	var h *hook
	eventually(tb, "the webhook's send loop", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		h = s.hooks[id]
		return h != nil
	})
	return h
}
