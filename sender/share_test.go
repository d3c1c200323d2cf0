package sender

import (
	"context"
	"testing"

	"github.com/walhook/walhook/matcher"
)

// TestFanoutChargesAnEventOnce: an event matched by many webhooks is in memory once, and
// the in-flight budget counts it once (plus a small cost per match), not once per
// webhook; its memory comes back when the last chunk holding it is delivered.
func TestFanoutChargesAnEventOnce(t *testing.T) {
	const webhooks, events = 10, 50
	rc := newReceiver(t, nil)
	s, a := startSender(t, testConfig(), stateDB(t)) // chunks are not sealed mid-transaction

	var whs []*matcher.Webhook
	for range webhooks {
		whs = append(whs, newWebhook(rc.srv.URL))
	}
	var g gen
	evs, txn := g.txn(events, oneEach)
	ctx := context.Background()
	var want int64
	for _, ev := range evs {
		for _, wh := range whs {
			if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}); err != nil {
				t.Fatal(err)
			}
		}
		want += eventSize(ev) + webhooks*matchBytes
	}
	if got := s.mem.Load(); got != want {
		t.Errorf("in-flight memory after %d events × %d webhooks = %d bytes, want %d (each event once)", events, webhooks, got, want)
	}
	if err := s.Commit(ctx, txn); err != nil {
		t.Fatal(err)
	}
	a.wait(t, txn.EndLSN)
	eventually(t, "memory returned", func() bool { return s.mem.Load() == 0 })
	for range webhooks {
		if r := rc.next(t); len(r.p.Items) != events {
			t.Errorf("a request of %d items, want %d", len(r.p.Items), events)
		}
	}
}
