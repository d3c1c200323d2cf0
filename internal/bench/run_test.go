package bench

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestRestartHereWaitsForTheSlotToBeFree: a stopped walhook's WAL sender lets go of its
// slot a moment after walhook has gone, and the next run's restartHere must wait for it
// rather than fail with "replication slot is active" (a CI failure of TestBenchTinyRun).
func TestRestartHereWaitsForTheSlotToBeFree(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dsn, slot := slotDatabase(t, "held")
	// The pool reports each query's end once counting starts, so the slot is let go only
	// after restartHere has been at it twice: the old restartHere failed on its second
	// query, the advance, while the slot was still active.
	ends := make(chan struct{}, 100)
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	tr := &queryEnds{ends: ends}
	pcfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	conn := startReplication(ctx, t, dsn, slot, "p")

	r := &runner{cfg: Config{Slot: slot, Out: io.Discard}, o: Options{Timeout: 30 * time.Second}, pool: pool}
	if err := r.waitSlot(ctx, slot, true); err != nil {
		t.Fatal(err)
	}
	tr.counting.Store(true)
	done := make(chan error, 1)
	go func() { done <- r.restartHere(ctx) }()
	for range 2 {
		select {
		case <-ends:
		case err := <-done:
			t.Fatalf("restartHere with the slot still held by a WAL sender returned %v", err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("restartHere once the WAL sender let go: %v", err)
	}
}

// queryEnds is a pgx tracer sending on ends as each query ends, once counting is set.
type queryEnds struct {
	counting atomic.Bool
	ends     chan<- struct{}
}

func (q *queryEnds) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (q *queryEnds) TraceQueryEnd(_ context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	if q.counting.Load() {
		select {
		case q.ends <- struct{}{}:
		default:
		}
	}
}

// TestRestartHereMovesTheRestartPointToThePresent: a stopped walhook leaves its slot
// with a candidate restart point its WAL sender met past what walhook confirmed. The
// server applies that stale candidate at the next advance and ignores newer ones, so
// after one checkpoint and advance the slot restarted before the rows written since, and
// walhook's WAL sender decoded them again before the next run's (one live run in five
// had its first receipt 0.13–0.25 s after the start, and a p99 of 55–100 ms).
// restartHere must leave the restart point near the present.
func TestRestartHereMovesTheRestartPointToThePresent(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dsn, slot := slotDatabase(t, "walhook")
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := &runner{cfg: Config{Slot: slot, Out: io.Discard}, o: Options{Timeout: 30 * time.Second}, pool: pool}

	// A reader that reads past a running-transactions record (the checkpoint's) and stops
	// without confirming anything.
	conn := startReplication(ctx, t, dsn, slot, "p")
	pgtest.Exec(t, dsn, "INSERT INTO t VALUES (1, '')")
	pgtest.Exec(t, dsn, "CHECKPOINT")
	pgtest.Exec(t, dsn, "INSERT INTO t VALUES (2, '')")
	for commits := 0; commits < 2; {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cd, ok := msg.(*pgproto3.CopyData); ok && len(cd.Data) > 0 && cd.Data[0] == pglogrepl.XLogDataByteID {
			x, err := pglogrepl.ParseXLogData(cd.Data[1:])
			if err != nil {
				t.Fatal(err)
			}
			if len(x.WALData) > 0 && x.WALData[0] == 'C' {
				commits++
			}
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.waitSlot(ctx, slot, false); err != nil {
		t.Fatal(err)
	}

	pgtest.Exec(t, dsn, "INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(3, 40000) g")
	if err := r.restartHere(ctx); err != nil {
		t.Fatal(err)
	}
	var lag int64
	if err := pool.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lag); err != nil {
		t.Fatal(err)
	}
	if lag > 1<<20 {
		t.Fatalf("slot restarts %d bytes of WAL back, want at most 1 MiB", lag)
	}
}

// slotDatabase returns a fresh database with a table t (id, pad) published as p, and a
// pgoutput slot named from prefix (slots are the cluster's, not the database's).
func slotDatabase(t *testing.T, prefix string) (dsn, slot string) {
	t.Helper()
	dsn = pgtest.NewDatabase(t, "")
	pgtest.Exec(t, dsn, "CREATE TABLE t (id int PRIMARY KEY, pad text)")
	pgtest.Exec(t, dsn, "CREATE PUBLICATION p FOR TABLE t")
	slot = fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	pgtest.Exec(t, dsn, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot)
	return dsn, slot
}

// startReplication starts streaming slot (openStream), closing the connection when the
// test ends.
func startReplication(ctx context.Context, t *testing.T, dsn, slot, publication string) *pgconn.PgConn {
	t.Helper()
	conn, err := openStream(ctx, dsn, slot, publication)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
