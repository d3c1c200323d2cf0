package cdc

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/testwait"
)

// waitConfirmed waits until the slot's confirmed_flush_lsn reaches lsn.
func (c *crm) waitConfirmed(t *testing.T, what string, lsn event.LSN) {
	t.Helper()
	testwait.Until(t, 30*time.Second, what, func() (bool, string, error) {
		got := c.confirmedFlush(t)
		return got >= lsn, fmt.Sprintf("confirmed_flush_lsn %s, want %s or later", got, lsn), nil
	})
}

// TestUnmappedWritesAdvanceSlot: with only unmapped tables written, keepalives move the
// slot's confirmed_flush_lsn forward, so WAL does not pile up behind walhook.
func TestUnmappedWritesAdvanceSlot(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)
	start := c.confirmedFlush(t)
	var target event.LSN
	for i := range 20 {
		c.Exec(t, fmt.Sprintf(`INSERT INTO crm.audit_log (message) SELECT 'batch %d row ' || g FROM generate_series(1, 200) g`, i))
	}
	if err := c.Conn.QueryRow(context.Background(), "SELECT pg_current_wal_insert_lsn()").Scan(&target); err != nil {
		t.Fatal(err)
	}
	c.waitConfirmed(t, "confirmed_flush_lsn to pass the unmapped writes", target)
	if target <= start {
		t.Fatalf("writes did not move the WAL: %s <= %s", target, start)
	}
	select {
	case ev := <-h.events:
		t.Errorf("unmapped writes raised %s", ev.Name)
	default:
	}
}

// killableConn lets a test cut the replication connection as a crash would: no final
// standby status update reaches the server.
type killableConn struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (k *killableConn) wrap(_ context.Context, _ *pgconn.Config, conn net.Conn) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.conns = append(k.conns, conn)
	return conn, nil
}

func (k *killableConn) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.conns {
		c.Close()
	}
}

// TestKillMidStreamReplaysWithSameIDs: a reader that has handed off 20 transactions but had
// only the first 5 acknowledged is killed; a new reader raises every unacknowledged event
// again, with the same ids and bodies, and skips nothing.
func TestKillMidStreamReplaysWithSameIDs(t *testing.T) {
	c := newCRM(t)
	h1 := newCollector()
	h1.noAck = true
	var k killableConn
	r1, stop1 := startReader(t, c, h1, func(cfg *Config) { cfg.AfterNetConnect = k.wrap })
	type txnEvents struct {
		txn event.Txn
		evs []*event.Event
	}
	var first []txnEvents
	for i := range 20 {
		c.Exec(t, fmt.Sprintf(`UPDATE crm.accounts SET phone = '%d' WHERE id = '%s'; INSERT INTO crm.tasks (subject) VALUES ('t%d')`, i, acme, i))
		txn, evs := h1.nextTxn(t)
		first = append(first, txnEvents{txn, evs})
	}
	for _, te := range first[:5] {
		r1.Ack(te.txn.EndLSN)
	}
	acked := first[4].txn.EndLSN
	c.waitConfirmed(t, "the acknowledged transactions to be confirmed", acked)
	k.kill()
	stop1()
	if got := c.confirmedFlush(t); got >= first[5].txn.EndLSN {
		t.Fatalf("slot confirmed %s, past unacknowledged transaction ending %s", got, first[5].txn.EndLSN)
	}

	h2 := newCollector()
	startReader(t, c, h2, nil)
	replayed := map[event.EventID]*event.Event{}
	for len(replayed) < 2*15 {
		_, evs := h2.nextTxn(t)
		for _, ev := range evs {
			replayed[ev.ID] = ev
		}
	}
	for _, te := range first[5:] {
		for _, ev := range te.evs {
			again, ok := replayed[ev.ID]
			if !ok {
				t.Errorf("event %s (%s %s) was not raised again", ev.ID, ev.Name, ev.EntityID)
				continue
			}
			if a, b := string(again.New.AppendJSON(nil)), string(ev.New.AppendJSON(nil)); a != b || again.Name != ev.Name {
				t.Errorf("replay of %s differs:\n%s\n%s", ev.ID, a, b)
			}
		}
	}
	for _, te := range first[:5] {
		for _, ev := range te.evs {
			if _, ok := replayed[ev.ID]; ok {
				t.Errorf("acknowledged event %s raised again", ev.ID)
			}
		}
	}
}

// countingHandler keeps nothing: it counts events and samples the heap.
type countingHandler struct {
	mu       sync.Mutex
	events   int
	peakHeap uint64
	reader   *Reader
	done     chan struct{}
	want     int
}

func (h *countingHandler) HandleEvent(_ context.Context, _ *event.Event) error {
	h.events++
	if h.events%10000 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		h.peakHeap = max(h.peakHeap, ms.HeapAlloc)
	}
	return nil
}

func (h *countingHandler) HandleCommit(_ context.Context, txn event.Txn) error {
	h.reader.Ack(txn.EndLSN)
	if h.events >= h.want {
		close(h.done)
	}
	return nil
}

// TestLargeTransactionBoundedMemory: a 200,000-row transaction streams through the reader
// without being held whole: the live heap stays under a fixed bound far below what the
// transaction's events would take together (about 200,000 × 600 bytes).
func TestLargeTransactionBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 200,000-row transaction")
	}
	c := newCRM(t)
	h := &countingHandler{done: make(chan struct{}), want: 200_000}
	r, err := New(Config{ConnString: c.DSN, Slot: c.Slot, Publication: "walhook", Mapping: c.Mapping, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h.reader = r
	c.Exec(t, `INSERT INTO crm.tasks (subject, description, owner_id, due_date) SELECT 'bulk ' || g, repeat('x', 200), '`+jana+`', DATE '2026-01-01' + (g % 365) FROM generate_series(1, 200000) g`)
	runtime.GC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx, h) }()
	select {
	case <-h.done:
	case err := <-errc:
		t.Fatalf("reader stopped: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatalf("only %d of 200000 events", h.events)
	}
	cancel()
	<-errc
	const bound = 64 << 20
	t.Logf("200000 events, peak heap %.1f MiB", float64(h.peakHeap)/(1<<20))
	if h.peakHeap > bound {
		t.Errorf("peak heap %d bytes exceeds %d", h.peakHeap, bound)
	}
}

// BenchmarkReader200k measures the whole reader (receive, decode, derive) draining one
// 200,000-row INSERT transaction from a real server.
func BenchmarkReader200k(b *testing.B) {
	benchReader(b, 200_000)
}

func benchReader(b *testing.B, rows int) {
	c := newCRM(b)
	b.ReportAllocs()
	total := 0
	for b.Loop() {
		b.StopTimer()
		c.Exec(b, fmt.Sprintf(`INSERT INTO crm.tasks (subject, owner_id) SELECT 'bulk ' || g, '%s' FROM generate_series(1, %d) g`, jana, rows))
		h := &countingHandler{done: make(chan struct{}), want: rows}
		r, err := New(Config{ConnString: c.DSN, Slot: c.Slot, Publication: "walhook", Mapping: c.Mapping, Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		h.reader = r
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		b.StartTimer()
		go func() { errc <- r.Run(ctx, h) }()
		<-h.done
		b.StopTimer()
		cancel()
		<-errc
		total += h.events
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
}

// TestReconnectAfterConnectionLoss: when the replication connection drops, Run reconnects
// by itself and raises again whatever was not acknowledged, then goes on.
func TestReconnectAfterConnectionLoss(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	h.noAck = true
	var k killableConn
	r, _ := startReader(t, c, h, func(cfg *Config) { cfg.AfterNetConnect = k.wrap })
	c.Exec(t, `UPDATE crm.products SET price = 1 WHERE id = 1`)
	txn1, evs1 := h.nextTxn(t)
	r.Ack(txn1.EndLSN)
	c.Exec(t, `UPDATE crm.products SET price = 2 WHERE id = 1`)
	_, evs2 := h.nextTxn(t)
	c.waitConfirmed(t, "the first transaction to be confirmed", txn1.EndLSN)
	k.kill()
	// The unacknowledged second transaction comes again on the new connection.
	_, again := h.nextTxn(t)
	if again[0].ID != evs2[0].ID || again[0].ID == evs1[0].ID {
		t.Fatalf("after reconnect got %s, want %s again", again[0].ID, evs2[0].ID)
	}
	c.Exec(t, `UPDATE crm.products SET price = 3 WHERE id = 1`)
	if _, evs3 := h.nextTxn(t); evs3[0].Name != "Product.Update" {
		t.Errorf("after reconnect: %s", evs3[0].Name)
	}
	if got := testutil.ToFloat64(r.met.reconnects); got < 1 {
		t.Errorf("walhook_replication_reconnects_total = %v, want ≥ 1", got)
	}
}

// TestStandbyTakesOver: a second reader on the same slot waits as a standby while the first
// streams, and takes over when the first stops.
func TestStandbyTakesOver(t *testing.T) {
	c := newCRM(t)
	h1, h2 := newCollector(), newCollector()
	_, stop1 := startReader(t, c, h1, nil)
	c.Exec(t, `UPDATE crm.products SET price = 1 WHERE id = 1`)
	h1.nextTxn(t)
	r2, _ := startReader(t, c, h2, nil)
	testwait.For(t, 30*time.Second, "the second reader to be a standby", func() bool {
		return testutil.ToFloat64(r2.met.state.WithLabelValues(StateStandby)) == 1
	})
	stop1()
	c.Exec(t, `UPDATE crm.products SET price = 2 WHERE id = 1`)
	_, evs := h2.nextTxn(t)
	if v, _ := evs[0].New.Get("price"); v.Text() != "2.00" {
		t.Errorf("standby got %s", evs[0].New.AppendJSON(nil))
	}
}

// TestReaderStopsCleanly: after Run returns, none of the reader's goroutines remain.
func TestReaderStopsCleanly(t *testing.T) {
	c := newCRM(t)
	before := runtime.NumGoroutine()
	h := newCollector()
	_, stop := startReader(t, c, h, nil)
	c.Exec(t, `UPDATE crm.products SET price = 1 WHERE id = 1`)
	h.nextTxn(t)
	stop()
	testwait.Until(t, 10*time.Second, "reader goroutines to exit", func() (bool, string, error) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before the reader started", n, before), nil
	})
}
