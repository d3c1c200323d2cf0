package sender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/walhook/walhook/internal/uuidx"
	"github.com/walhook/walhook/matcher"
)

// logEntry is one attempt for the delivery log.
type logEntry struct {
	webhookID, deliveryID string
	attempt               int
	at                    time.Time
	items                 int
	outcome               Outcome
	status                int
	duration              time.Duration
	errText               string
	response              []byte
}

// logWriter writes the delivery log in batches, off the delivery path: attempts hand
// entries over without waiting, and when the writer falls behind by logBuffer entries
// the excess is dropped and counted (the log is for people; delivery never waits on it).
// Chunk records (what a chunk carried, and its body) come through a second channel, and
// what they hold in memory — ids and bodies, raw until the writer compresses them, then
// compressed until written — is bounded in bytes by budget: past it a body is dropped
// from the log (walhook_delivery_log_bodies_total{outcome="dropped"}), and a record whose
// ids alone do not fit is dropped whole. Bodies are compressed in the writer's goroutine,
// never on the delivery path.
//
// The writer writes when a batch is full, on a tick when it has not written for half a
// tick, and as soon as an attempt's entry arrives logTrickleGap or more after both the
// previous entry and its own last write (deliveries trickle), with everything else
// waiting then. So under a trickle each write follows a delivery's answer, in the gap
// before the next transaction, rather than landing on one: on a 2-core machine a write
// of 20 chunk records every tick, wherever it fell, took the live p99 from 3.2 to 3.65 ms
// (issue 16). Under a backlog, entries come closer than that, or wait while a write
// runs, and batches stay a tick's worth: a write after every attempt took the 1M-row
// drain from 1.0× to 0.84× of a bare read.
type logWriter struct {
	ch         chan logEntry
	chunks     chan chunkRecord
	met        *metrics
	tick       time.Duration // an entry or record waits at most about 1.5 ticks
	trickle    time.Duration // attempts this far apart are each written at once
	keepBodies bool
	budget     int64
	pending    atomic.Int64 // bytes of chunk records handed over and not yet written

	// Used by the writer's goroutine only: scratch for dedupeEntities, and the buffer
	// pack compresses into before copying the result out at its own size.
	seen    map[entityPair]bool
	scratch []byte
}

const (
	logBuffer     = 2048
	logBatch      = 512
	logFlushTick  = 200 * time.Millisecond
	logTrickleGap = 5 * time.Millisecond
	// logWriteTimeout bounds one write of the log, and shutdown's last writes together: a
	// database that does not answer within it costs the log that batch (counted in
	// walhook_delivery_log_dropped_total), not the writer its loop, and holds a shutdown
	// up by at most twice it (a write on the wire, then the drain).
	logWriteTimeout = 5 * time.Second
	// chunkBuffer bounds the chunk records waiting for the writer (their bytes are bounded
	// by logBodyBudget); chunkBatch and chunkBatchBytes end a batch of records.
	chunkBuffer     = 1024
	chunkBatch      = 256
	chunkBatchBytes = 1 << 20
	// logBodyBudget bounds the bytes of chunk records in memory: a few MiB, small
	// beside the sender's MemoryLimitBytes, so the log never makes walhook's peak.
	logBodyBudget = 1 << 20
)

func newLogWriter(m *metrics, keepBodies bool) *logWriter {
	return &logWriter{ch: make(chan logEntry, logBuffer), chunks: make(chan chunkRecord, chunkBuffer),
		met: m, tick: logFlushTick, trickle: logTrickleGap, keepBodies: keepBodies, budget: logBodyBudget, seen: map[entityPair]bool{}}
}

func (w *logWriter) add(e logEntry) {
	select {
	case w.ch <- e:
	default:
		w.met.logDropped.Inc()
	}
}

// addChunk hands a chunk record over without waiting. r.body is only read, and never
// after the writer has compressed it.
func (w *logWriter) addChunk(r chunkRecord) {
	if !w.keepBodies {
		r.body = nil
	}
	ids := r.idBytes()
	if w.pending.Add(ids) > w.budget {
		w.pending.Add(-ids)
		w.met.logDropped.Inc()
		if r.body != nil {
			w.met.logBodies.WithLabelValues(bodyDropped).Inc()
		}
		return
	}
	r.charged = ids
	if r.body != nil {
		if n := int64(len(r.body)); w.pending.Add(n) > w.budget {
			w.pending.Add(-n)
			r.body = nil
			w.met.logBodies.WithLabelValues(bodyDropped).Inc()
		} else {
			r.charged += n
		}
	}
	select {
	case w.chunks <- r:
	default:
		w.pending.Add(-r.charged)
		w.met.logDropped.Inc()
		if r.body != nil {
			w.met.logBodies.WithLabelValues(bodyDropped).Inc()
		}
	}
}

// pack compresses a received record's body and recharges the budget for what it holds
// now: the raw body is released, the compressed one charged until written.
func (w *logWriter) pack(r *chunkRecord) {
	r.dedupeEntities(w.seen)
	if r.body == nil {
		return
	}
	raw := int64(len(r.body))
	// s2 encodes into a buffer of its worst-case size (more than the body): kept that way,
	// a record would hold about three times the bytes it is charged for.
	if n := s2.MaxEncodedLen(len(r.body)); n > cap(w.scratch) {
		w.scratch = make([]byte, n)
	}
	r.packed = bytes.Clone(s2.Encode(w.scratch[:cap(w.scratch)], r.body))
	r.bodyBytes = len(r.body)
	r.body = nil
	w.pending.Add(int64(len(r.packed)) - raw)
	r.charged += int64(len(r.packed)) - raw
}

// run writes entries until ctx ends, then flushes what is left with a fresh deadline.
func (w *logWriter) run(ctx context.Context, st *store, log *slog.Logger) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	batch := make([]logEntry, 0, logBatch)
	var chunks []chunkRecord
	var chunkBytes int64
	var wrote, attempted time.Time // when the last write ended, the last entry was taken
	// write runs one write to its end whatever happens to ctx meanwhile, so that a
	// shutdown arriving while it is on the wire does not fail it and drop its rows; it is
	// bounded by logWriteTimeout, or ctx's deadline when that comes sooner.
	write := func(ctx context.Context, chunks []chunkRecord, batch []logEntry) error {
		d := time.Now().Add(logWriteTimeout)
		if dl, ok := ctx.Deadline(); ok && dl.Before(d) {
			d = dl
		}
		wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), d)
		defer cancel()
		return st.writeDeliveryLog(wctx, chunks, batch)
	}
	draining := false
	// flush writes what was taken; with ctx cancelled it leaves it to the drain below.
	flush := func(ctx context.Context) {
		if (len(chunks) == 0 && len(batch) == 0) || ctx.Err() != nil {
			return
		}
		defer func() { wrote = time.Now() }()
		keep := false // the attempts, for the drain to write
		err := write(ctx, chunks, batch)
		if err != nil {
			log.Warn("write delivery log", "chunks", len(chunks), "entries", len(batch), "err", err)
			w.met.logDropped.Add(float64(len(chunks)))
			// The attempts alone, which auto-disable reads (hasDelivered): a bad chunk
			// record must not take them with it. When shutdown began meanwhile, the
			// drain writes them, within its own deadline.
			if len(chunks) > 0 && len(batch) > 0 {
				if ctx.Err() != nil && !draining {
					keep = true
				} else if rerr := write(ctx, nil, batch); rerr == nil {
					batch = batch[:0]
				}
			}
			if !keep {
				w.met.logDropped.Add(float64(len(batch)))
			}
		}
		for _, r := range chunks {
			switch {
			case r.packed == nil:
			case err != nil:
				w.met.logBodies.WithLabelValues(bodyDropped).Inc()
			default:
				w.met.logBodies.WithLabelValues(bodyStored).Inc()
				w.met.logBodyBytes.Add(float64(r.bodyBytes))
				w.met.logPackedBytes.Add(float64(len(r.packed)))
			}
			w.pending.Add(-r.charged)
		}
		clear(chunks)
		chunks, chunkBytes = chunks[:0], 0
		if !keep {
			clear(batch)
			batch = batch[:0]
		}
	}
	takeChunk := func(r chunkRecord) {
		w.pack(&r)
		chunks = append(chunks, r)
		chunkBytes += r.charged
	}
	// takeWaiting takes the entries and records already waiting while more allows.
	takeWaiting := func(more func() bool) {
		for more() {
			select {
			case e := <-w.ch:
				batch = append(batch, e)
			case r := <-w.chunks:
				takeChunk(r)
			default:
				return
			}
		}
	}
	full := func() bool {
		return len(batch) >= logBatch || len(chunks) >= chunkBatch || chunkBytes >= chunkBatchBytes
	}
	for {
		select {
		case e := <-w.ch:
			batch = append(batch, e)
			now := time.Now()
			// Measured from the later of the previous entry and the last write: an entry
			// that waited while a write ran does not trickle.
			prev := attempted
			if wrote.After(prev) {
				prev = wrote
			}
			attempted = now
			if full() {
				flush(ctx)
				continue
			}
			if now.Sub(prev) < w.trickle {
				continue
			}
			// An attempt has ended: take what else is waiting, and write.
			takeWaiting(func() bool { return !full() })
			flush(ctx)
		case r := <-w.chunks:
			takeChunk(r)
			if full() {
				flush(ctx)
			}
		case <-t.C:
			if time.Since(wrote) >= w.tick/2 {
				flush(ctx)
			}
		case <-ctx.Done():
			// One deadline for the whole drain, the retry of its attempts included.
			takeWaiting(func() bool { return true })
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logWriteTimeout)
			draining = true
			flush(dctx)
			cancel()
			return
		}
	}
}

// writeDeliveryLog writes chunk records and attempt entries in one round trip and one
// transaction, committed asynchronously (synchronous_commit off for it alone): the log is
// for people, so a crash of the database server may lose its last moments — as it
// empties the UNLOGGED chunk records anyway — and in exchange a write under a trickle of
// deliveries, one after each, does not wait for a WAL flush of its own (the WAL writer
// flushes its records with others').
func (st *store) writeDeliveryLog(ctx context.Context, rs []chunkRecord, es []logEntry) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	queueChunks(b, rs)
	if len(es) > 0 {
		queueLog(b, es)
	}
	if err := st.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert %d delivery log chunks and %d entries: %w", len(rs), len(es), err)
	}
	return nil
}

// queueLog queues the insert of log entries in one statement.
func queueLog(b *pgx.Batch, es []logEntry) {
	n := len(es)
	var (
		webhooks, deliveries, outcomes, errs, responses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		attempts, items, statuses                       = make([]int32, n), make([]int32, n), make([]int32, n)
		ats                                             = make([]time.Time, n)
		durations                                       = make([]float64, n)
	)
	for i, e := range es {
		webhooks[i], deliveries[i], outcomes[i], errs[i] = e.webhookID, e.deliveryID, e.outcome.String(), e.errText
		responses[i] = strings.ToValidUTF8(strings.ReplaceAll(string(e.response), "\x00", ""), "\uFFFD")
		attempts[i], items[i], statuses[i] = int32(e.attempt), int32(e.items), int32(e.status)
		ats[i], durations[i] = e.at, e.duration.Seconds()
	}
	b.Queue(`INSERT INTO walhook.delivery_log (webhook_id, delivery_id, attempt, attempted_at,
			items, outcome, status, duration_seconds, error, response)
		SELECT w::uuid, d::uuid, a, t, i, o, NULLIF(s, 0), dur, NULLIF(e, ''), NULLIF(r, '')
		FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::int[], $6::text[], $7::int[],
			$8::float8[], $9::text[], $10::text[]) AS x(w, d, a, t, i, o, s, dur, e, r)`,
		webhooks, deliveries, attempts, ats, items, outcomes, statuses, durations, errs, responses)
}

// DeadLetter is a chunk dead-lettered after its retry window (or because its webhook
// was disabled); it stays until redelivered or pruned after DeadLetterRetention.
type DeadLetter struct {
	// ID is the chunk's delivery id: the key for Redeliver.
	ID            string    `json:"id"`
	Items         int       `json:"items"`
	Attempts      int       `json:"attempts"`
	FirstFailedAt time.Time `json:"first_failed_at"`
	DeadAt        time.Time `json:"dead_at"`
	LastStatus    *int      `json:"last_status"`
	LastError     string    `json:"last_error"`
	// Body is the exact request body, as it will be sent again.
	Body json.RawMessage `json:"body"`
}

// ErrDeadLetterNotFound is returned (wrapped) by Redeliver when the webhook has no dead
// letter with the given id. It wraps matcher.ErrNotFound, which the API answers with 404.
var ErrDeadLetterNotFound error = deadLetterNotFound{}

type deadLetterNotFound struct{}

func (deadLetterNotFound) Error() string { return "dead letter not found" }
func (deadLetterNotFound) Unwrap() error { return matcher.ErrNotFound }

// DeadLetters returns one page of the webhook's dead letters, oldest first, and the
// number of dead letters in all.
func (s *Sender) DeadLetters(ctx context.Context, webhookID string, offset, limit int) ([]DeadLetter, int, error) {
	if !uuidx.Is(webhookID) {
		return []DeadLetter{}, 0, nil
	}
	total, err := s.st.count(ctx, `SELECT count(*) FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND state = 'dead'`, webhookID)
	if err != nil {
		return nil, 0, fmt.Errorf("count dead letters of webhook %s: %w", webhookID, err)
	}
	rows, _ := s.st.pool.Query(ctx, `SELECT delivery_id::text, items, attempt, coalesce(first_failed_at, dead_at),
			dead_at, last_status, coalesce(last_error, ''), body
		FROM walhook.delivery_queue WHERE webhook_id = $1 AND state = 'dead'
		ORDER BY dead_at, id OFFSET $2 LIMIT $3`, webhookID, max(offset, 0), max(limit, 0))
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		var body []byte
		err := r.Scan(&d.ID, &d.Items, &d.Attempts, &d.FirstFailedAt, &d.DeadAt, &d.LastStatus, &d.LastError, &body)
		d.Body = body
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read dead letters of webhook %s: %w", webhookID, err)
	}
	if out == nil {
		out = []DeadLetter{}
	}
	return out, total, nil
}

// count runs a count query.
func (st *store) count(ctx context.Context, sql string, args ...any) (int, error) {
	var n int
	err := st.pool.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

// Redeliver puts the webhook's dead letter id (or, with id "", all its dead letters)
// back in the queue, with the same body and delivery id, and returns how many; it also
// closes the webhook's circuit breaker in this instance. They
// queue in their own lane, by position, so they never hold up newer events (whose order
// they no longer bind). An unknown id is an error wrapping ErrDeadLetterNotFound.
func (s *Sender) Redeliver(ctx context.Context, webhookID, id string) (int, error) {
	if !uuidx.Is(webhookID) || (id != "" && !uuidx.Is(id)) {
		return 0, fmt.Errorf("redeliver %q of webhook %q: %w", id, webhookID, ErrDeadLetterNotFound)
	}
	n, err := s.st.redeliver(ctx, webhookID, id, time.Now())
	if err != nil {
		return 0, err
	}
	if id != "" && n == 0 {
		return 0, fmt.Errorf("redeliver %s of webhook %s: %w", id, webhookID, ErrDeadLetterNotFound)
	}
	if n > 0 {
		s.breakerFor(webhookID).reset() // the operator says the endpoint is back: try at once
		s.signalQueue()
	}
	return int(n), nil
}

// redeliver moves dead letters back to pending in the redelivery lane.
func (st *store) redeliver(ctx context.Context, webhookID, id string, now time.Time) (int64, error) {
	var n int64
	l := laneKey{webhookID, redeliverLane}
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := lockLanes(ctx, tx, []laneKey{l}); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE walhook.delivery_queue
			SET state = 'pending', lane = $3, attempt = 0, claim = NULL, first_failed_at = NULL,
				dead_at = NULL, next_attempt_at = NULL, due_at = $4
			WHERE webhook_id = $1 AND state = 'dead' AND ($2 = '' OR delivery_id = NULLIF($2, '')::uuid)`,
			webhookID, id, redeliverLane, now)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		return ensureHead(ctx, tx, l, now)
	})
	if err != nil {
		return 0, fmt.Errorf("redeliver dead letters of webhook %s: %w", webhookID, err)
	}
	return n, nil
}
