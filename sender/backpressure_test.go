package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// TestBackPressureSpillsOnlySlowWebhooks: at the memory limit the reader waits for a
// healthy webhook (back-pressure) and only a slow one's chunks move to the durable queue.
// Every queue insert is recorded by a trigger, so a healthy chunk that was queued and then
// delivered is caught too; in-flight memory stays near the limit.
func TestBackPressureSpillsOnlySlowWebhooks(t *testing.T) {
	const txns, perTxn = 300, 20
	pool := stateDB(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE queued_by (webhook_id uuid);
		CREATE FUNCTION note_queued() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO queued_by VALUES (NEW.webhook_id); RETURN NEW; END $$;
		CREATE TRIGGER note_queued AFTER INSERT ON walhook.delivery_queue FOR EACH ROW EXECUTE FUNCTION note_queued()`); err != nil {
		t.Fatal(err)
	}
	healthy, healthyItems := itemCounter(t)
	slow := newHoldingReceiver(t)
	defer slow.release()

	cfg := testConfig()
	cfg.MemoryLimitBytes = 128 << 10
	cfg.SpillWait, cfg.SlowAfter = 5*time.Millisecond, 200*time.Millisecond
	cfg.RequestTimeout = time.Minute
	s, a := startSender(t, cfg, pool)
	good, bad := newWebhook(healthy.URL), newWebhook(slow.URL)

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m := s.mem.Load(); m > peak.Load() {
				peak.Store(m)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	var g gen
	var ends []event.LSN
	for range txns {
		evs, txn := g.txn(perTxn, oneEach)
		for _, ev := range evs {
			for _, wh := range []*matcher.Webhook{good, bad} {
				if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Commit(ctx, txn); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, txn.EndLSN)
	}
	a.wait(t, ends...)
	eventually(t, "every item at the healthy webhook", func() bool { return healthyItems.Load() == txns*perTxn })
	close(stop)
	<-sampled

	count := func(id string) (n int) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM queued_by WHERE webhook_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(good.ID); n != 0 {
		t.Errorf("the healthy webhook had %d chunks written to the durable queue, want 0 (back-pressure, not spill)", n)
	}
	if n := count(bad.ID); n == 0 {
		t.Error("the slow webhook had no chunk written to the durable queue: memory was never freed from it")
	}
	// Events wait for the limit; rendered bodies add at most renderAheadChunks chunks per
	// webhook lane beyond it (about 2 × 2 × 25 KB here).
	if p, limit := peak.Load(), cfg.MemoryLimitBytes; p > 2*limit {
		t.Errorf("in-flight memory peaked at %d bytes, limit %d", p, limit)
	}
	t.Logf("peak in-flight memory %d bytes of %d; slow webhook queued %d chunks", peak.Load(), cfg.MemoryLimitBytes, count(bad.ID))
}

// TestBackPressureSealsOpenChunksAtOnce: when the memory limit is reached with every byte
// in open chunks — many webhooks of one transaction, each filling its chunk slowly —
// nothing is on its way to being delivered, so the reader must not wait for SpillWait
// (an hour here: a reader that waited for it would not finish): the open chunks are
// sealed at once and delivered, nothing is queued, and the count of sealed chunks not yet
// resolved comes back to zero.
func TestBackPressureSealsOpenChunksAtOnce(t *testing.T) {
	const webhooks, events = 20, 2000
	pool := stateDB(t)
	srv, items := itemCounter(t)
	cfg := testConfig()
	cfg.MemoryLimitBytes = 32 << 10 // ~90 events: ~5 per webhook's chunk of 100
	cfg.SpillWait, cfg.SlowAfter = time.Hour, time.Hour
	s, a := startSender(t, cfg, pool)
	hooks := make([]*matcher.Webhook, webhooks)
	for i := range hooks {
		hooks[i] = newWebhook(srv.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var g gen
	evs, txn := g.txn(events, oneEach)
	for i, ev := range evs {
		if err := s.Add(ctx, matcher.Match{Webhook: hooks[i%webhooks], Event: ev}); err != nil {
			t.Fatalf("Add of event %d: %v (the reader waited with every byte in open chunks)", i, err)
		}
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	a.wait(t, txn.EndLSN)
	eventually(t, "every item delivered", func() bool { return items.Load() == events })
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM walhook.delivery_queue`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 0 {
		t.Errorf("%d chunks written to the durable queue, want 0 (every webhook is healthy)", queued)
	}
	// The last chunk's acknowledgement comes just before it is uncounted.
	eventually(t, "no chunk counted as sealed and not resolved", func() bool { return s.sealedChunks.Load() == 0 })
}

// TestBackPressureEventLargerThanLimit: an event larger than the whole memory limit,
// matched by two webhooks and followed by more events, passes. The reader's own reference
// on it is dropped before it waits for memory, and its second match does not wait for
// memory the event itself holds: either wait could never end.
func TestBackPressureEventLargerThanLimit(t *testing.T) {
	pool := stateDB(t)
	srv, items := itemCounter(t)
	cfg := testConfig()
	cfg.MemoryLimitBytes = 16 << 10
	cfg.SpillWait, cfg.SlowAfter = 5*time.Millisecond, time.Hour
	s, a := startSender(t, cfg, pool)
	w1, w2 := newWebhook(srv.URL), newWebhook(srv.URL)
	var g gen
	evs, txn := g.txn(4, oneEach)
	evs[0].New = append(evs[0].New, event.Field{Name: "blob", Value: event.Value{Kind: event.KindText, Raw: bytes.Repeat([]byte("x"), 64<<10)}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []matcher.Match{{Webhook: w1, Event: evs[0]}, {Webhook: w2, Event: evs[0]},
		{Webhook: w1, Event: evs[1]}, {Webhook: w2, Event: evs[2]}, {Webhook: w1, Event: evs[3]}} {
		if err := s.Add(ctx, m); err != nil {
			t.Fatalf("Add of %s to %s: %v", m.Event.ID, m.Webhook.ID, err)
		}
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	a.wait(t, txn.EndLSN)
	eventually(t, "every item delivered", func() bool { return items.Load() == 5 })
	eventually(t, "memory back to zero", func() bool { return s.mem.Load() == 0 })
}

// itemCounter starts a receiver that answers 200 and counts the items it receives.
func itemCounter(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var items atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p payload
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
		items.Add(int64(len(p.Items)))
	}))
	t.Cleanup(srv.Close)
	return srv, &items
}

// TestBackPressureCountsTheReadersWait: walhook_reader_backpressure_seconds_total counts
// the time Add waits at the memory limit for a healthy webhook's delivery while it waits,
// not only once the wait ends, and nothing while memory is under the limit.
func TestBackPressureCountsTheReadersWait(t *testing.T) {
	pool := stateDB(t)
	srv := newHoldingReceiver(t)
	cfg := testConfig()
	cfg.MemoryLimitBytes = 16 << 10
	cfg.SpillWait, cfg.SlowAfter, cfg.RequestTimeout = 5*time.Millisecond, time.Hour, time.Minute // never slow: no spill
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var g gen
	evs, txn := g.txn(400, oneEach)
	if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: evs[0]}); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.met.readerHeld); got != 0 {
		t.Fatalf("under the memory limit the reader waited %gs", got)
	}
	var added atomic.Int64
	done := make(chan error, 1)
	go func() {
		for _, ev := range evs[1:] {
			if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}); err != nil {
				done <- err
				return
			}
			added.Add(1)
		}
		done <- s.Commit(ctx, txn)
	}()
	eventually(t, "a request held and memory at the limit", func() bool {
		return srv.requests.Load() > 0 && s.mem.Load() >= cfg.MemoryLimitBytes
	})
	eventually(t, "the wait counted while the request is still held", func() bool {
		return testutil.ToFloat64(s.met.readerHeld) > 0
	})
	if n := added.Load(); n == int64(len(evs)-1) {
		t.Fatal("every event was added while the request was held: the reader never waited")
	}
	srv.release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.wait(t, txn.EndLSN)
	if got := testutil.ToFloat64(s.met.readerHeld); got <= 0 {
		t.Errorf("walhook_reader_backpressure_seconds_total = %g after the reader waited for a held request", got)
	}
}
