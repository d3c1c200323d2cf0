package main

import (
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgcluster"
)

// BenchmarkInbound measures inbound calls with the real binary on loopback: 1 KB JSON
// calls landed (answered 2xx: durable) per second, their receive latency (p50, p99), and
// the rate at which they are delivered to one subscriber, from the first call to the last
// item received (polled every 50 ms). Run it with a fixed count, e.g.
//
//	go test ./cmd/walhook -run '^$' -bench BenchmarkInbound -benchtime 2000x
func BenchmarkInbound(b *testing.B) {
	_, p := inboundEnvTB(b, benchInboundVars)
	benchInbound(b, p)
}

// BenchmarkInboundDurable is BenchmarkInbound on a cluster of its own with fsync on (the
// test clusters run with fsync off): each landing waits for a real WAL flush.
func BenchmarkInboundDurable(b *testing.B) {
	_, dsn := ownCluster(b, pgcluster.Options{Settings: map[string]string{"fsync": "on"}})
	env := e2eEnv(dsn)
	for k, v := range benchInboundVars {
		env[k] = v
	}
	setupWalhook(b, env)
	p := startWalhook(b, env)
	p.waitReady(b)
	benchInbound(b, p)
}

var benchInboundVars = map[string]string{"WALHOOK_INBOUND_RATE": "1000000", "WALHOOK_INBOUND_BURST": "1000000", "WALHOOK_LOG_LEVEL": "warn"}

func benchInbound(b *testing.B, p *walhookProc) {
	r := newReceiver(b, "be4c0000-0000-4000-8000-0000000be4c0")
	wh := putInbound(b, p.base, "webhook.bench.call", nil)
	registerWebhook(b, p.base, map[string]any{"url": r.URL(), "events": []string{"webhook.bench.*"}, "signature": r.secret})
	waitInboundSubscribed(b, p, wh.UUID, r)
	body := fmt.Appendf(nil, `{"event": "bench", "pad": "%0990d"}`, 0) // 1 KB
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var (
				mu   sync.Mutex
				ids  []string
				lats []time.Duration
			)
			callOnce := func() {
				start := time.Now()
				status, ans, _, raw, err := tryCall(p.base, "/api/v3/webhook.receive", wh.UUID, "application/json", body, nil)
				d := time.Since(start)
				if err != nil || status != http.StatusOK {
					b.Errorf("call: %d %s %v", status, raw, err)
					return
				}
				mu.Lock()
				ids = append(ids, ans.ID)
				lats = append(lats, d)
				mu.Unlock()
			}
			start := time.Now()
			if clients == 1 {
				for b.Loop() {
					callOnce()
				}
			} else {
				b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0))) // × GOMAXPROCS goroutines
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						callOnce()
					}
				})
			}
			landed := time.Since(start)
			b.StopTimer()
			waitCalls(b, r, p, ids...)
			delivered := time.Since(start)
			slices.Sort(lats)
			b.ReportMetric(float64(len(ids))/landed.Seconds(), "landed/s")
			b.ReportMetric(float64(len(ids))/delivered.Seconds(), "delivered/s")
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
	r.checkNoProblems(b)
}
