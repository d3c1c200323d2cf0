package sender

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestLogWriterWritesAfterEachAttempt checks that an attempt's entry is written at once,
// with the chunk record waiting beside it in the same transaction, not at the next tick (here an hour away): so
// under a trickle of deliveries the log's writes follow each delivery instead of landing
// on a later one (issue 16's live p99).
func TestLogWriterWritesAfterEachAttempt(t *testing.T) {
	pool := stateDB(t)
	met := newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })
	w := newLogWriter(met, true)
	w.tick, w.trickle = time.Hour, 0 // every attempt trickles; the tick never comes
	runLogWriter(t, w, pool)

	webhookID := uuid.NewString()
	count := func(table string) int { return logRows(t, pool, table, webhookID) }
	now := time.Now()
	for i := range 2 {
		id := uuid.New()
		w.addChunk(chunkRecord{webhookID: webhookID, deliveryID: id, formed: now, items: 1, committedAt: now,
			eventIDs: []string{"e"}, entities: []string{"Account"}, entityIDs: []string{"1"}, body: []byte(`{"items":[]}`)})
		w.add(logEntry{webhookID: webhookID, deliveryID: id.String(), attempt: 1, at: now, items: 1, outcome: OutcomeDelivered, status: 200})
		eventually(t, "the attempt and its chunk written", func() bool {
			return count("delivery_log") == i+1 && count("delivery_chunks") == i+1
		})
		// One round trip and one transaction for both (writeDeliveryLog).
		var same bool
		err := pool.QueryRow(context.Background(), `SELECT (SELECT xmin::text FROM walhook.delivery_log WHERE delivery_id = $1) =
			(SELECT xmin::text FROM walhook.delivery_chunks WHERE delivery_id = $1)`, id).Scan(&same)
		if err != nil {
			t.Fatal(err)
		}
		if !same {
			t.Errorf("chunk %d: its record and its attempt were written in two transactions, want one", i)
		}
	}
}

// TestLogWriterFinishesAWriteShutdownInterrupts stops the writer while its write is on the
// wire (a tracer cancels the writer's context as the batch starts): the write still
// commits, and nothing is dropped. On the old code the write failed with "context
// canceled" and its chunk records and attempts were dropped, at every shutdown that met a
// write (about 80 chunk records and 300 attempts per stop of a bench run).
func TestLogWriterFinishesAWriteShutdownInterrupts(t *testing.T) {
	// The deadline ends the writer should no write ever reach the tracer.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wrote atomic.Bool
	pool := stateDBTraced(t, &batchTracer{start: func() {
		if !wrote.Swap(true) {
			cancel()
		}
	}})
	met := newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })
	w := newLogWriter(met, true)
	w.tick, w.trickle = time.Hour, 0
	webhookID, id, now := uuid.NewString(), uuid.New(), time.Now()
	w.addChunk(chunkRecord{webhookID: webhookID, deliveryID: id, formed: now, items: 1, committedAt: now,
		eventIDs: []string{"e"}, entities: []string{"Account"}, entityIDs: []string{"1"}, body: []byte(`{"items":[]}`)})
	w.add(logEntry{webhookID: webhookID, deliveryID: id.String(), attempt: 1, at: now, items: 1, outcome: OutcomeDelivered, status: 200})
	w.run(ctx, &store{pool: pool}, slog.New(slog.NewTextHandler(io.Discard, nil)))

	if !wrote.Load() {
		t.Fatal("the writer wrote no batch")
	}
	for _, table := range []string{"delivery_log", "delivery_chunks"} {
		if n := logRows(t, pool, table, webhookID); n != 1 {
			t.Errorf("%s: %d rows for the webhook, want 1", table, n)
		}
	}
	if got := testutil.ToFloat64(met.logDropped); got != 0 {
		t.Errorf("walhook_delivery_log_dropped_total = %v, want 0", got)
	}
}

// batchTracer calls start as each batch (a delivery log write) starts.
type batchTracer struct{ start func() }

func (b *batchTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	b.start()
	return ctx
}

func (*batchTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (*batchTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (*batchTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (*batchTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TestLogWriterBatchesCloseAttempts checks the other half of the trickle rule: an attempt
// that follows the previous one or the last write closely (under a backlog, attempts come
// every 0.5-0.7 ms) waits for a full batch, the tick (here an hour away) or shutdown,
// instead of being written alone. An attempt with nothing before it is written at once;
// then 20 attempts, each taken by the writer before the next is sent, are written in one
// more write, at shutdown, not one each: a write per attempt took the 1M-row drain from
// 1.0x to 0.84x of a bare read.
func TestLogWriterBatchesCloseAttempts(t *testing.T) {
	var writes atomic.Int64
	pool := stateDBTraced(t, &batchTracer{start: func() { writes.Add(1) }})
	met := newMetrics(nil, func() float64 { return 0 }, func() float64 { return 0 })
	w := newLogWriter(met, true)
	w.tick, w.trickle = time.Hour, time.Hour // only an attempt with nothing before it trickles
	stop := runLogWriter(t, w, pool)

	webhookID, now := uuid.NewString(), time.Now()
	attempt := func() {
		w.add(logEntry{webhookID: webhookID, deliveryID: uuid.NewString(), attempt: 1, at: now, items: 1, outcome: OutcomeDelivered, status: 200})
		eventually(t, "the writer taking the attempt", func() bool { return len(w.ch) == 0 })
	}
	rows := func() int { return logRows(t, pool, "delivery_log", webhookID) }
	attempt()
	eventually(t, "the first attempt written at once", func() bool { return rows() == 1 })
	const closeOnes = 20
	for range closeOnes {
		attempt()
	}
	if n := rows(); n != 1 {
		t.Fatalf("%d attempts written before shutdown, want only the first", n)
	}
	stop()
	if n := rows(); n != 1+closeOnes {
		t.Errorf("%d attempts written, want %d", n, 1+closeOnes)
	}
	if n := writes.Load(); n != 2 {
		t.Errorf("%d writes for an attempt and %d close ones, want 2", n, closeOnes)
	}
}

// runLogWriter runs w on pool until the stop it returns (also called at cleanup) has
// ended it, its drain included.
func runLogWriter(t *testing.T, w *logWriter, pool *pgxpool.Pool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(ctx, &store{pool: pool}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// logRows counts the webhook's rows in walhook.<table> (delivery_log, delivery_chunks).
func logRows(t *testing.T, pool *pgxpool.Pool, table, webhookID string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM walhook."+table+" WHERE webhook_id = $1", webhookID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
