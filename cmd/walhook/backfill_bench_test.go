package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/schema/sample"
)

// latencyReceiver counts backfilled rows and measures live events' latency: the time from
// an item's committed_at to its receipt.
type latencyReceiver struct {
	mu         sync.Mutex
	backfilled map[string]bool
	lats       []time.Duration
	measure    bool
}

func (lr *latencyReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(req.Body)
	var d struct {
		Items []struct {
			Event       string    `json:"event"`
			EntityID    string    `json:"entity_id"`
			CommittedAt time.Time `json:"committed_at"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	for _, it := range d.Items {
		switch it.Event {
		case "Task.Backfill":
			lr.backfilled[it.EntityID] = true
		case "Task.Update":
			if lr.measure {
				lr.lats = append(lr.lats, now.Sub(it.CommittedAt))
			}
		}
	}
}

// phase runs live updates (rate a second, one transaction each, on random tasks) for d
// and returns the live latencies measured meanwhile.
func (lr *latencyReceiver) phase(b *testing.B, dsn string, ids []int64, rate int, d time.Duration) []time.Duration {
	conn := crmConn(b, dsn)
	lr.mu.Lock()
	lr.lats, lr.measure = nil, true
	lr.mu.Unlock()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	for k := 0; time.Now().Before(end); k++ {
		<-tick.C
		if _, err := conn.Exec(context.Background(), `UPDATE crm.tasks SET description = $1 WHERE id = $2`,
			fmt.Sprintf("live %d", k), ids[rand.IntN(len(ids))]); err != nil {
			b.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the last updates' deliveries (a measurement tail, not a condition)
	lr.mu.Lock()
	defer lr.mu.Unlock()
	lr.measure = false
	return slices.Clone(lr.lats)
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// BenchmarkBackfill measures a backfill of 100,000 tasks at its highest rate, with the real
// binary, while 200 live updates a second run: the backfill's rows per second (from the
// request to the last row received) and the live updates' latency (commit to receipt,
// p50 and p99) without and during the backfill. Run it once:
//
//	go test ./cmd/walhook -run '^$' -bench BenchmarkBackfill -benchtime 1x
func BenchmarkBackfill(b *testing.B) {
	const rows, liveRate = 100000, 200
	dsn := pgtest.NewDatabase(b, sample.CRMSQL)
	env := e2eEnv(dsn)
	env["WALHOOK_LOG_LEVEL"] = "warn"
	b.Cleanup(func() { dropSlot(b, dsn, env["WALHOOK_SLOT"]) })
	conn := crmConn(b, dsn)
	// The test cluster runs with synchronous_commit off, where the WAL writer flushes
	// commits up to 200 ms late and logical decoding sees them only then: this database's
	// sessions (the CRM's and walhook's) commit synchronously, as by default in production.
	if _, err := conn.Exec(context.Background(), `DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = on', current_database()); END$$`); err != nil {
		b.Fatal(err)
	}
	conn = crmConn(b, dsn)
	setupWalhook(b, env)
	if _, err := conn.Exec(context.Background(), `INSERT INTO crm.tasks (subject, description)
		SELECT 'bench ' || i, repeat('x', 200) FROM generate_series(1, $1) AS i`, rows); err != nil {
		b.Fatal(err)
	}
	var ids []int64
	r, _ := conn.Query(context.Background(), `SELECT id FROM crm.tasks WHERE NOT is_deleted`)
	for r.Next() {
		var id int64
		if err := r.Scan(&id); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
	}
	lr := &latencyReceiver{backfilled: map[string]bool{}}
	srv := httptest.NewServer(lr)
	b.Cleanup(srv.Close)
	p := startWalhook(b, env)
	p.waitReady(b)
	id := registerWebhook(b, p.base, map[string]any{"url": srv.URL + "/hook", "events": []string{"Task.Update"}})
	testwait.Until(b, 30*time.Second, "the webhook to take effect", func() (bool, string, error) {
		lats := lr.phase(b, dsn, ids, 20, 100*time.Millisecond)
		return len(lats) > 0, "no live update received", p.checkRunning()
	})
	base := lr.phase(b, dsn, ids, liveRate, 5*time.Second)
	b.Logf("live updates without a backfill: p50 %s, p99 %s (%d)", percentile(base, 0.5), percentile(base, 0.99), len(base))

	// Throttled: live latency during 5 s of a backfill at 2,000 rows/s, then cancelled.
	b.Run("rate=2000", func(b *testing.B) {
		if status, _, msg := backfillCall(b, p.base, id, http.MethodPost, `{"entities": ["Task"], "rate": 2000}`); status != http.StatusAccepted {
			b.Fatalf("POST backfill: %d %s", status, msg)
		}
		during := lr.phase(b, dsn, ids, liveRate, 5*time.Second)
		if status, _, msg := backfillCall(b, p.base, id, http.MethodDelete, ""); status != http.StatusOK {
			b.Fatalf("DELETE backfill: %d %s", status, msg)
		}
		reportLatency(b, base, during)
	})
	// Unthrottled: the whole table at the highest rate.
	b.Run("rate=100000", func(b *testing.B) {
		lr.mu.Lock()
		clear(lr.backfilled)
		lr.mu.Unlock()
		start := time.Now()
		if status, _, msg := backfillCall(b, p.base, id, http.MethodPost, `{"entities": ["Task"], "rate": 100000}`); status != http.StatusAccepted {
			b.Fatalf("POST backfill: %d %s", status, msg)
		}
		var during []time.Duration
		var took time.Duration
		for {
			during = append(during, lr.phase(b, dsn, ids, liveRate, time.Second)...)
			lr.mu.Lock()
			n := len(lr.backfilled)
			lr.mu.Unlock()
			if n >= len(ids) {
				took = time.Since(start)
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("backfill: %d of %d rows received in 5 minutes", n, len(ids))
			}
		}
		b.ReportMetric(float64(len(ids))/took.Seconds(), "backfill_rows/s")
		reportLatency(b, base, during)
	})
}

func reportLatency(b *testing.B, base, during []time.Duration) {
	b.ReportMetric(float64(percentile(base, 0.5).Microseconds())/1000, "live_p50_ms")
	b.ReportMetric(float64(percentile(base, 0.99).Microseconds())/1000, "live_p99_ms")
	b.ReportMetric(float64(percentile(during, 0.5).Microseconds())/1000, "backfill_live_p50_ms")
	b.ReportMetric(float64(percentile(during, 0.99).Microseconds())/1000, "backfill_live_p99_ms")
}
