package pipeline_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/sender"
)

// bigTxnRows is the size of TestBigTransactionHeapBounded's transaction: 200,000 rows keep
// the suite fast (a few seconds); WALHOOK_TEST_BIG_TXN_ROWS=1000000 runs issue 16's full
// million.
func bigTxnRows(t *testing.T) int {
	if v := os.Getenv("WALHOOK_TEST_BIG_TXN_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("WALHOOK_TEST_BIG_TXN_ROWS=%q is not a positive number", v)
		}
		return n
	}
	return 200_000
}

// liveHeap reads the heap marked live by the last GC.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestBigTransactionHeapBounded: one INSERT transaction of bigTxnRows tasks passes through
// the real reader, matcher, renderer and sender to one healthy webhook (chunk_size 100,
// every signature checked) with the live heap bounded by the sender's in-flight budget,
// and nothing goes to the durable queue: the reader waits for the webhook
// (back-pressure) instead of holding the transaction or spilling it (DESIGN.md §16). The
// heap is sampled on every delivery — a count, not a clock — and the bound is the
// budget's, with room for the render slots' bodies and the test's own allocations:
// without back-pressure the transaction's events alone take hundreds of megabytes
// (checked: with Sender.reserve made a no-op the heap grew by 175 MB). Spills are caught
// by walhook_chunks_queued_total, which a queued-then-delivered chunk leaves behind
// (checked: SlowAfter 1ns, SpillWait 1µs give 1 spilled and 2,574 behind), and the queue
// must be empty at the end. The sender runs with its defaults but the budget.
func TestBigTransactionHeapBounded(t *testing.T) {
	const budget = 4 << 20
	// The delivery log keeps each chunk's record and body, compressed, until written, within
	// a budget of its own (the sender's logBodyBudget, 1 MiB), beside MemoryLimitBytes; its
	// batches are encoded for PostgreSQL once more.
	const logBudget = 1 << 20
	const bound = 4*budget + 2*logBudget // the budget, render slots (8 × ~60 KB), render buffers, the test receiver; the log
	rows := bigTxnRows(t)
	ctx := context.Background()
	c := crmtest.New(t)
	pool := c.Pool(t, nil)

	const secret = "heap-test-secret"
	var items, requests atomic.Int64
	var peak atomic.Uint64
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if r.Header.Get("WebHook-Signature") != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("bad signature")
		}
		items.Add(int64(bytes.Count(body, []byte(`,"event":"Task.Create"`))))
		requests.Add(1)
		mu.Lock()
		if h := liveHeap(); h > peak.Load() {
			peak.Store(h)
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	reg := prometheus.NewRegistry()
	reader, err := cdc.New(cdc.Config{ConnString: c.DSN, Slot: c.Slot, Publication: schema.DefaultName, Mapping: c.Mapping,
		StandbyInterval: 50 * time.Millisecond, ReconnectBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := matcher.New(matcher.Config{DB: pool, Mapping: c.Mapping})
	wh := &matcher.Webhook{URL: srv.URL, Events: []string{"Task.Create"}, Signature: secret}
	if _, err := matcher.NewStore(pool).Create(ctx, wh); err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil { // the handler loads them again at start (Resync)
		t.Fatal(err)
	}
	s := sender.New(sender.Config{Version: "heap-test", AllowPrivateTargets: true, Registerer: reg,
		MemoryLimitBytes: budget}, m, pool, reader.Ack)
	closeAtEnd(t, s)
	runUntilEnd(t, map[string]func(context.Context) error{"sender": s.Run,
		"reader": func(ctx context.Context) error { return reader.Run(ctx, pipeline.NewHandler(m, s)) }})

	if _, err := c.Conn.Exec(ctx, `INSERT INTO crm.tasks (subject, due_date, priority)
		SELECT 'heap ' || g, DATE '2026-01-01' + (g % 365), 1 + g % 3 FROM generate_series(1, $1::int) g`, rows); err != nil {
		t.Fatal(err)
	}
	var end uint64
	if err := c.Conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'`).Scan(&end); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	base := liveHeap()
	peak.Store(base)

	testwait.For(t, 2*time.Minute, "every item delivered", func() bool { return items.Load() >= int64(rows) })
	testwait.For(t, time.Minute, "the transaction acknowledged", func() bool {
		var confirmed uint64
		err := c.Conn.QueryRow(ctx, `SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = $1`, c.Slot).Scan(&confirmed)
		return err == nil && confirmed >= end-8192
	})
	if got := items.Load(); got != int64(rows) {
		t.Errorf("%d items delivered, want %d", got, rows)
	}
	if got, want := requests.Load(), int64((rows+99)/100); got != want {
		t.Errorf("%d requests, want %d (chunks of 100)", got, want)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("%d rows: live heap %d bytes before, peak %d (+%d) over %d deliveries; budget %d, bound %d",
		rows, base, peak.Load(), grew, requests.Load(), budget, bound)
	if grew > bound {
		t.Errorf("live heap grew by %d bytes during the transaction, past %d (4 × the %d-byte budget and 2 × the delivery log's)", grew, bound, budget)
	}
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM walhook.delivery_queue`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued != 0 {
		t.Errorf("%d chunks in the durable queue, want none for a healthy webhook", queued)
	}
	if n, err := testutil.GatherAndCount(reg, "walhook_chunks_queued_total"); err != nil {
		t.Fatal(err)
	} else if n == 0 {
		t.Error("walhook_chunks_queued_total is not exported")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "walhook_chunks_queued_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			if v := mt.GetCounter().GetValue(); v != 0 {
				t.Errorf("walhook_chunks_queued_total%v = %v, want 0", mt.GetLabel(), v)
			}
		}
	}
}
