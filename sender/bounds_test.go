package sender

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/walhook/walhook/event"
)

// TestBodyBoundSplitsChunk: a chunk whose body would pass MaxBodyBytes goes out as
// several requests, in order, each within the bound and with its own deterministic
// delivery id; the transaction is acknowledged once, after the last. The second request
// fails once: the parts behind it wait for it (order), through the durable queue.
func TestBodyBoundSplitsChunk(t *testing.T) {
	const limit = 4096
	pool := stateDB(t)
	var calls atomic.Int32
	rc := newReceiver(t, func(*request) int {
		if calls.Add(1) == 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	cfg := testConfig()
	cfg.MaxBodyBytes = limit
	s, a := startSender(t, cfg, pool)
	wh := newWebhook(rc.srv.URL)
	var g gen
	evs, txn := g.txn(100, func(i int) string { return strings.Repeat("x", 100) + oneEach(i) })
	feed(t, s, wh, evs, txn)

	var ids []string
	seen := map[string]bool{}
	requests := 0
	for len(ids) < len(evs) {
		r := rc.next(t)
		requests++
		if len(r.body) > limit {
			t.Errorf("request %d: %d bytes, over the bound of %d", requests, len(r.body), limit)
		}
		first, last := r.p.Items[0].ID, r.p.Items[len(r.p.Items)-1].ID
		if want := deliveryID(wh.ID, event.EventID(first), event.EventID(last)).String(); r.p.DeliveryID != want || r.header.Get("Webhook-Id") != want {
			t.Errorf("request %d: delivery id %s (header %s), want %s", requests, r.p.DeliveryID, r.header.Get("Webhook-Id"), want)
		}
		if seen[r.p.DeliveryID] {
			t.Errorf("request %d: delivery id %s delivered twice", requests, r.p.DeliveryID)
		}
		seen[r.p.DeliveryID] = true
		for _, it := range r.p.Items {
			ids = append(ids, it.ID)
		}
	}
	for i, ev := range evs {
		if ids[i] != string(ev.ID) {
			t.Fatalf("item %d is %s, want %s (commit order)", i, ids[i], ev.ID)
		}
	}
	if requests < 7 {
		t.Errorf("%d requests for ~30 KiB of items under a 4 KiB bound", requests)
	}
	a.wait(t, txn.EndLSN)
	if n := a.count(txn.EndLSN); n != 1 {
		t.Errorf("transaction acknowledged %d times", n)
	}
	if got := testutil.ToFloat64(s.met.splits); got != 1 {
		t.Errorf("walhook_chunk_splits_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(s.met.splitParts); got != float64(requests) {
		t.Errorf("walhook_chunk_split_requests_total = %v, want %d", got, requests)
	}
	// Each part, delivered or queued, is uncounted once; the chunk it replaced never is.
	eventually(t, "no chunk counted as sealed and not resolved", func() bool { return s.sealedChunks.Load() == 0 })
}

func TestSplitItems(t *testing.T) {
	items := make([][]byte, 0, 5)
	for _, n := range []int{100, 100, 5000, 100, 100} {
		items = append(items, make([]byte, n))
	}
	raw := make([]json.RawMessage, len(items))
	for i := range items {
		raw[i] = items[i]
	}
	env := bodySize("w", nil)
	got := splitItems("w", raw, env+202)
	want := []span{{0, 2}, {2, 3}, {3, 5}}
	if len(got) != len(want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("spans %v, want %v", got, want)
		}
	}
}
