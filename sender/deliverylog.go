package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
type logWriter struct {
	ch  chan logEntry
	met *metrics
}

const (
	logBuffer    = 8192
	logBatch     = 512
	logFlushTick = 200 * time.Millisecond
)

func newLogWriter(m *metrics) *logWriter {
	return &logWriter{ch: make(chan logEntry, logBuffer), met: m}
}

func (w *logWriter) add(e logEntry) {
	select {
	case w.ch <- e:
	default:
		w.met.logDropped.Inc()
	}
}

// run writes entries until ctx ends, then flushes what is left with a fresh deadline.
func (w *logWriter) run(ctx context.Context, st *store, log *slog.Logger) {
	t := time.NewTicker(logFlushTick)
	defer t.Stop()
	batch := make([]logEntry, 0, logBatch)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := st.writeLog(ctx, batch); err != nil {
			w.met.logDropped.Add(float64(len(batch)))
			log.Warn("write delivery log", "entries", len(batch), "err", err)
		}
		clear(batch)
		batch = batch[:0]
	}
	for {
		select {
		case e := <-w.ch:
			batch = append(batch, e)
			if len(batch) >= logBatch {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
		drain:
			for {
				select {
				case e := <-w.ch:
					batch = append(batch, e)
				default:
					break drain
				}
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(fctx)
			cancel()
			return
		}
	}
}

// writeLog inserts log entries in one statement.
func (st *store) writeLog(ctx context.Context, es []logEntry) error {
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
	_, err := st.pool.Exec(ctx, `INSERT INTO walhook.delivery_log (webhook_id, delivery_id, attempt, attempted_at,
			items, outcome, status, duration_seconds, error, response)
		SELECT w::uuid, d::uuid, a, t, i, o, NULLIF(s, 0), dur, NULLIF(e, ''), NULLIF(r, '')
		FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[], $5::int[], $6::text[], $7::int[],
			$8::float8[], $9::text[], $10::text[]) AS x(w, d, a, t, i, o, s, dur, e, r)`,
		webhooks, deliveries, attempts, ats, items, outcomes, statuses, durations, errs, responses)
	if err != nil {
		return fmt.Errorf("insert %d delivery log entries: %w", n, err)
	}
	return nil
}

// Delivery is one delivery log entry: one attempt to deliver one chunk.
type Delivery struct {
	DeliveryID  string    `json:"delivery_id"`
	Attempt     int       `json:"attempt"`
	AttemptedAt time.Time `json:"attempted_at"`
	Items       int       `json:"items"`
	// Outcome is delivered, http_error, timeout, connection_error or blocked.
	Outcome string `json:"outcome"`
	// Status is the response status; nil when there was no response.
	Status          *int    `json:"status"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Error describes a failure (never containing credentials); empty on success.
	Error string `json:"error"`
	// Response is the start (up to 4 KiB) of the response body.
	Response string `json:"response"`
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

// Deliveries returns one page of the webhook's delivery log, newest first, and the
// number of entries in all. Entries are written asynchronously, so the latest attempts
// appear within a fraction of a second.
func (s *Sender) Deliveries(ctx context.Context, webhookID string, offset, limit int) ([]Delivery, int, error) {
	if !uuidx.Is(webhookID) {
		return []Delivery{}, 0, nil
	}
	total, err := s.st.count(ctx, `SELECT count(*) FROM walhook.delivery_log WHERE webhook_id = $1`, webhookID)
	if err != nil {
		return nil, 0, fmt.Errorf("count delivery log of webhook %s: %w", webhookID, err)
	}
	rows, _ := s.st.pool.Query(ctx, `SELECT delivery_id::text, attempt, attempted_at, items, outcome, status,
			duration_seconds, coalesce(error, ''), coalesce(response, '')
		FROM walhook.delivery_log WHERE webhook_id = $1
		ORDER BY id DESC OFFSET $2 LIMIT $3`, webhookID, max(offset, 0), max(limit, 0))
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		err := r.Scan(&d.DeliveryID, &d.Attempt, &d.AttemptedAt, &d.Items, &d.Outcome, &d.Status,
			&d.DurationSeconds, &d.Error, &d.Response)
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read delivery log of webhook %s: %w", webhookID, err)
	}
	if out == nil {
		out = []Delivery{}
	}
	return out, total, nil
}

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
