package sender

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// BenchmarkChunk measures the per-chunk work of the fast path after rendering: packing
// events, deriving the delivery id, encoding the body and signing it.
func BenchmarkChunk(b *testing.B) {
	wh := newWebhook("https://example.com/hook")
	wh.Signature = "01234567-abcd-dcba-ffff-000000000000"
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			var g gen
			evs, _ := g.txn(n, oneEach)
			items, _ := itemRenderer{}.Render(context.Background(), matcher.Subscription{}, evs)
			t := newTxnRef(func(event.LSN) {})
			var body []byte
			var f format = pipelinerChunk{}
			b.ReportAllocs()
			for b.Loop() {
				c := &chunk{}
				for _, ev := range evs {
					c.addEvent(ev, t, nil, eventSize(ev))
				}
				id := deliveryID(wh.ID, c.events[0].ID, c.events[len(c.events)-1].ID)
				body = f.appendBody(body[:0], wh.ID, id, items)
				_ = signPipeliner(wh.Signature, body)
			}
			b.SetBytes(int64(len(body)))
		})
	}
}

// BenchmarkPipeline measures the whole sender: Add and Commit of 100-event transactions
// to a loopback receiver, until every transaction is acknowledged.
func BenchmarkPipeline(b *testing.B) {
	for _, webhooks := range []int{1, 4} {
		b.Run(fmt.Sprintf("webhooks=%d", webhooks), func(b *testing.B) {
			pool := stateDB(b)
			var items atomic.Int64
			rc := newReceiver(b, func(r *request) int {
				items.Add(int64(len(r.p.Items)))
				return http.StatusOK
			})
			rc.got = make(chan *request, 1) // unused: keep the channel from filling
			go func() {
				for range rc.got {
				}
			}()
			cfg := testConfig()
			cfg.Logger = nil
			s, a := startSender(b, cfg, pool)
			whs := make([]*matcher.Webhook, webhooks)
			for i := range whs {
				whs[i] = newWebhook(rc.srv.URL)
				whs[i].Signature = "01234567-abcd-dcba-ffff-000000000000"
			}
			var g gen
			var last event.LSN
			events := 0
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				evs, txn := g.txn(100, oneEach)
				for _, ev := range evs {
					for _, wh := range whs {
						if err := s.Add(context.Background(), matcher.Match{Webhook: wh, Event: ev}); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := s.Commit(context.Background(), txn); err != nil {
					b.Fatal(err)
				}
				last = txn.EndLSN
				events += len(evs) * webhooks
			}
			a.wait(b, last)
			eventually(b, "every delivery", func() bool { return items.Load() >= int64(events) })
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		})
	}
}
