package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/matcher"
)

// storeWebhook creates a webhook for url in the real webhook store, as the API would.
func storeWebhook(tb testing.TB, st *matcher.Store, url string) *matcher.Webhook {
	tb.Helper()
	wh, err := st.Create(context.Background(), &matcher.Webhook{URL: url, Events: []string{"*"}})
	if err != nil {
		tb.Fatal(err)
	}
	return wh
}

// setStatus changes a stored webhook's status as the API's pause and resume do, and
// returns it as the matcher then hands it to the sender.
func setStatus(tb testing.TB, st *matcher.Store, id, status string) *matcher.Webhook {
	tb.Helper()
	wh, err := st.Update(context.Background(), id, func(wh *matcher.Webhook) error {
		wh.Status = status
		if status == matcher.StatusActive {
			wh.DisabledAt, wh.DisabledReason = nil, ""
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return wh
}

func getWebhook(tb testing.TB, st *matcher.Store, id string) *matcher.Webhook {
	tb.Helper()
	wh, err := st.Get(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return wh
}

// queuedItems counts the items of the webhook's pending chunks.
func queuedItems(tb testing.TB, pool *pgxpool.Pool, webhookID string) int {
	tb.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT coalesce(sum(items), 0) FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND state = 'pending'`, webhookID).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// collector is a receiver's record of accepted item ids, in order of receipt.
type collector struct {
	mu  sync.Mutex
	ids []string
}

func (c *collector) add(r *request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range r.p.Items {
		c.ids = append(c.ids, it.ID)
	}
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

// workersPassed proves, without sleeping, that the queue's workers have claimed past
// whatever is due in the queue now: a control webhook's chunk, queued after a failed first
// attempt, behind every row due earlier, is delivered from the queue.
func workersPassed(tb testing.TB, s *Sender, st *matcher.Store, g *gen) {
	tb.Helper()
	var n atomic.Int32
	rc := newReceiver(tb, func(*request) int {
		if n.Add(1) == 1 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	wh := storeWebhook(tb, st, rc.srv.URL)
	evs, txn := g.txn(1, func(int) string { return "control" })
	feed(tb, s, wh, evs, txn)
	rc.next(tb)
}

// eventIDs returns the ids of evs.
func eventIDs(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.ID)
	}
	return out
}

// TestGoneDisablesAndHoldsUntilResume: an endpoint answering 410 Gone gets exactly one
// attempt; the webhook is disabled with a reason, counted and logged once; its later
// events are held, not attempted, and every one arrives in commit order after resume.
func TestGoneDisablesAndHoldsUntilResume(t *testing.T) {
	pool := stateDB(t)
	st := matcher.NewStore(pool)
	var gone atomic.Bool
	gone.Store(true)
	var attempts atomic.Int32
	var col collector
	rc := newReceiver(t, func(r *request) int {
		attempts.Add(1)
		if gone.Load() {
			return http.StatusGone
		}
		col.add(r)
		return http.StatusOK
	})
	logs := &testlog.Buffer{}
	cfg := testConfig()
	cfg.Webhooks = st
	cfg.BreakerThreshold = 1000
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	s, a := startSender(t, cfg, pool)
	wh := storeWebhook(t, st, rc.srv.URL)
	var g gen
	var want []string
	var ends []event.LSN
	send := func(wh *matcher.Webhook) {
		evs, txn := g.txn(3, oneEach)
		feed(t, s, wh, evs, txn)
		want = append(want, eventIDs(evs)...)
		ends = append(ends, txn.EndLSN)
	}

	send(wh)
	eventually(t, "the webhook to be disabled", func() bool { return getWebhook(t, st, wh.ID).Status == matcher.StatusDisabled })
	send(wh) // the matcher has not reloaded yet: the webhook still looks active
	send(getWebhook(t, st, wh.ID))
	a.wait(t, ends...) // held chunks are acknowledged once queued
	eventually(t, "nine held events in the queue", func() bool { return queuedItems(t, pool, wh.ID) == 9 })
	workersPassed(t, s, st, &g)
	if n := attempts.Load(); n != 1 {
		t.Fatalf("%d attempts to the 410 endpoint, want exactly 1", n)
	}
	disabled := getWebhook(t, st, wh.ID)
	if disabled.DisabledReason != "endpoint answered 410 Gone" || disabled.DisabledAt == nil {
		t.Errorf("disabled webhook: reason %q, disabled_at %v", disabled.DisabledReason, disabled.DisabledAt)
	}
	if got := testutil.ToFloat64(s.met.disabled.WithLabelValues(disabledGone)); got != 1 {
		t.Errorf("walhook_webhooks_disabled_total{reason=gone} = %v, want 1", got)
	}
	if n := queueRows(t, pool, wh.ID, stateDead); n != 0 {
		t.Errorf("%d dead letters, want 0: held chunks are not dead-lettered", n)
	}
	var warned int
	for line := range strings.Lines(logs.String()) {
		var rec struct{ Level, Msg, WebhookID, Reason string }
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		rec.Level, _ = m["level"].(string)
		rec.Msg, _ = m["msg"].(string)
		rec.WebhookID, _ = m["webhook_id"].(string)
		rec.Reason, _ = m["reason"].(string)
		if strings.HasPrefix(rec.Msg, "webhook disabled") {
			warned++
			if rec.Level != "WARN" || rec.WebhookID != wh.ID || rec.Reason != "endpoint answered 410 Gone" {
				t.Errorf("disable logged as %s", line)
			}
		}
	}
	if warned != 1 {
		t.Errorf("disable logged %d times, want once:\n%s", warned, logs)
	}

	gone.Store(false)
	send(setStatus(t, st, wh.ID, matcher.StatusActive))
	eventually(t, "every event after resume", func() bool { return len(col.got()) >= len(want) })
	if got := col.got(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered after resume:\n%v\nwant, in commit order:\n%v", got, want)
	}
	eventually(t, "an empty queue", func() bool { return queueRows(t, pool, wh.ID, statePending) == 0 })
}

// TestPauseHoldsThenResumeDeliversInOrder: while paused, a webhook gets no request, its
// chunks are durably queued and their transactions acknowledged; on resume every event
// arrives, in commit order per entity, and new events take the fast path again.
func TestPauseHoldsThenResumeDeliversInOrder(t *testing.T) {
	pool := stateDB(t)
	st := matcher.NewStore(pool)
	var col collector
	rc := newReceiver(t, func(r *request) int {
		col.add(r)
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.Webhooks = st
	cfg.Concurrency = 2
	s, a := startSender(t, cfg, pool)
	wh := storeWebhook(t, st, rc.srv.URL)
	paused := setStatus(t, st, wh.ID, matcher.StatusPaused)

	var g gen
	var want []string
	var ends []event.LSN
	const txns = 20
	for k := range txns {
		evs, txn := g.txn(3, func(i int) string { return fmt.Sprintf("e%d", (k*3+i)%5) })
		feed(t, s, paused, evs, txn)
		want = append(want, eventIDs(evs)...)
		ends = append(ends, txn.EndLSN)
	}
	a.wait(t, ends...)
	eventually(t, "every event held in the queue", func() bool { return queuedItems(t, pool, wh.ID) == len(want) })
	workersPassed(t, s, st, &g)
	if n := len(rc.all); n != 0 {
		t.Fatalf("paused webhook got %d requests, want 0", n)
	}
	if got := testutil.ToFloat64(s.met.queued.WithLabelValues(reasonHeld)); got == 0 {
		t.Error(`walhook_chunks_queued_total{reason="held"} is 0`)
	}

	active := setStatus(t, st, wh.ID, matcher.StatusActive)
	evs, txn := g.txn(3, func(i int) string { return fmt.Sprintf("e%d", i) })
	feed(t, s, active, evs, txn)
	want = append(want, eventIDs(evs)...)
	eventually(t, "every event after resume", func() bool { return len(col.got()) >= len(want) })
	got := col.got()
	if len(got) != len(want) {
		t.Errorf("%d events delivered, want %d", len(got), len(want))
	}
	// Per entity, commit order: event ids sort in commit order (LSN, then sequence).
	entityOf := map[string]string{}
	for k := range txns + 1 {
		for i := range 3 {
			entity := fmt.Sprintf("e%d", (k*3+i)%5)
			if k == txns {
				entity = fmt.Sprintf("e%d", i)
			}
			entityOf[want[k*3+i]] = entity
		}
	}
	last := map[string]string{}
	seen := map[string]bool{}
	for _, id := range got {
		e := entityOf[id]
		if e == "" || seen[id] {
			t.Errorf("unexpected or repeated event %s", id)
			continue
		}
		seen[id] = true
		if id <= last[e] {
			t.Errorf("entity %s: event %s delivered after %s", e, id, last[e])
		}
		last[e] = id
	}
	eventually(t, "an empty queue", func() bool { return queueRows(t, pool, wh.ID, statePending) == 0 })
	heldBefore := testutil.ToFloat64(s.met.queued.WithLabelValues(reasonHeld))
	evs, txn = g.txn(1, oneEach)
	feed(t, s, active, evs, txn)
	eventually(t, "the event after the drain", func() bool { return len(col.got()) == len(want)+1 })
	if got := testutil.ToFloat64(s.met.queued.WithLabelValues(reasonHeld)); got != heldBefore {
		t.Errorf("resumed webhook's chunk held (%v held chunks, %v before)", got, heldBefore)
	}
}
