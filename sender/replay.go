package sender

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/uuidx"
)

// replayLane is the lane of replayed chunks: like redelivered dead letters (redeliverLane)
// they are out of their entity's order, so they queue among themselves, by position, and
// never hold up live events, nor redeliveries.
const replayLane = -2

// ReplayWindow selects the logged chunks of a webhook to replay: those whose first logged
// attempt was made in [Since, Until) and, when Outcome or Status is set, whose latest
// attempt ended so. Every chunk has one first attempt, so consecutive windows never
// replay a chunk twice.
type ReplayWindow struct {
	Since, Until time.Time
	Outcome      string
	Status       int
}

// Reasons a chunk of a replay window is not replayed (ReplayResult.Skipped).
const (
	// SkipBodyNotRetained: its body is past the payload retention, or was never kept.
	SkipBodyNotRetained = "body_not_retained"
	// SkipQueued: it is still pending in the durable queue (it will be delivered).
	SkipQueued = "queued"
	// SkipDeadLetter: it is a dead letter: POST …/redeliver puts it back.
	SkipDeadLetter = "dead_letter"
)

// ReplayResult is what a replay did.
type ReplayResult struct {
	// Replayed is the number of chunks queued again.
	Replayed int `json:"replayed"`
	// Skipped counts the chunks of the window not replayed, by reason (every reason is
	// present).
	Skipped map[string]int `json:"skipped"`
}

// replayBatch bounds the chunks a replay decodes and queues in one transaction.
const replayBatch = 100

// replayCandidate is a chunk of a replay window.
type replayCandidate struct {
	deliveryID uuid.UUID
	hasBody    bool
	queueState *string
}

// Replay queues again, in their own lane (replayLane), due now, every chunk of the
// webhook's delivery log that w selects and whose body is retained, with its body and
// delivery id unchanged (receivers deduplicate on Webhook-Id), oldest first. A chunk
// that the durable queue still holds is skipped (and counted): the queue keeps one row
// per delivery id. A filter that cannot select anything is an error wrapping
// ErrBadFilter.
func (s *Sender) Replay(ctx context.Context, webhookID string, w ReplayWindow) (ReplayResult, error) {
	res := ReplayResult{Skipped: map[string]int{SkipBodyNotRetained: 0, SkipQueued: 0, SkipDeadLetter: 0}}
	if err := (DeliveryFilter{Outcome: w.Outcome, Status: w.Status}).check(); err != nil {
		return res, err
	}
	if !uuidx.Is(webhookID) {
		return res, nil
	}
	cands, err := s.st.replayCandidates(ctx, webhookID, w)
	if err != nil {
		return res, err
	}
	var ready []uuid.UUID
	for _, c := range cands {
		switch {
		case c.queueState != nil && *c.queueState == stateDead:
			res.Skipped[SkipDeadLetter]++
		case c.queueState != nil:
			res.Skipped[SkipQueued]++
		case !c.hasBody:
			res.Skipped[SkipBodyNotRetained]++
		default:
			ready = append(ready, c.deliveryID)
		}
	}
	for len(ready) > 0 {
		n := min(len(ready), replayBatch)
		queued, skipped, err := s.st.replay(ctx, webhookID, ready[:n], time.Now())
		res.Replayed += queued
		res.Skipped[SkipQueued] += skipped
		if err != nil {
			return res, err
		}
		ready = ready[n:]
	}
	if res.Replayed > 0 {
		s.signalQueue()
	}
	return res, nil
}

// replayCandidates returns the chunks of the window, oldest first attempt first, with
// whether their body is retained and their state in the queue, if any.
func (st *store) replayCandidates(ctx context.Context, webhookID string, w ReplayWindow) ([]replayCandidate, error) {
	last := ""
	args := []any{webhookID, w.Since, w.Until}
	if w.Outcome != "" {
		args = append(args, w.Outcome)
		last += fmt.Sprintf(" AND la.outcome = $%d", len(args))
	}
	if w.Status != 0 {
		args = append(args, w.Status)
		last += fmt.Sprintf(" AND la.status = $%d", len(args))
	}
	rows, _ := st.pool.Query(ctx, replayWindowSQL(last), args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (replayCandidate, error) {
		var c replayCandidate
		err := r.Scan(&c.deliveryID, &c.hasBody, &c.queueState)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read replay window of webhook %s: %w", webhookID, err)
	}
	return out, nil
}

// replay queues the chunks ids of the webhook in the replay lane, in one transaction,
// with their logged bodies, and returns how many it queued and how many it skipped
// because the queue holds them already (or their body was pruned meanwhile).
func (st *store) replay(ctx context.Context, webhookID string, ids []uuid.UUID, now time.Time) (queued, skipped int, err error) {
	rows, _ := st.pool.Query(ctx, `SELECT delivery_id, items, pos_lsn, pos_seq, committed_at, body
		FROM walhook.delivery_chunks
		WHERE webhook_id = $1 AND delivery_id = ANY($2) AND body IS NOT NULL
		ORDER BY array_position($2, delivery_id)`, webhookID, ids)
	qrows, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (qrow, error) {
		q := qrow{webhookID: webhookID, lane: replayLane, dueAt: now, next: now}
		var packed []byte
		if err := r.Scan(&q.deliveryID, &q.items, &q.pos.lsn, &q.pos.seq, &q.committedAt, &packed); err != nil {
			return q, err
		}
		body, err := unpackBody(packed)
		q.body = body
		return q, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read logged bodies of webhook %s: %w", webhookID, err)
	}
	skipped = len(ids) - len(qrows)
	qids, _, err := st.enqueue(ctx, qrows)
	if err != nil {
		return 0, 0, fmt.Errorf("replay %d chunks of webhook %s: %w", len(qrows), webhookID, err)
	}
	for _, id := range qids {
		if id == 0 {
			skipped++
		} else {
			queued++
		}
	}
	return queued, skipped, nil
}

// replayWindowSQL returns the query of a replay window's chunks, webhook $1, [$2, $3),
// with extra conditions on their latest attempt (la). win: the chunks with an attempt in
// the window (delivery_log_webhook_attempted); firsts: those whose first attempt is in it,
// and last: their latest attempts (both delivery_log_delivery).
func replayWindowSQL(last string) string {
	return `WITH win AS (
			SELECT DISTINCT delivery_id FROM walhook.delivery_log
			WHERE webhook_id = $1 AND attempted_at >= $2 AND attempted_at < $3
		), firsts AS (
			SELECT l.delivery_id, min(l.attempted_at) AS first_at
			FROM walhook.delivery_log l JOIN win USING (delivery_id)
			WHERE l.webhook_id = $1
			GROUP BY l.delivery_id HAVING min(l.attempted_at) >= $2
		), last AS (
			SELECT DISTINCT ON (l.delivery_id) l.delivery_id, l.outcome, l.status
			FROM walhook.delivery_log l JOIN firsts USING (delivery_id)
			WHERE l.webhook_id = $1
			ORDER BY l.delivery_id, l.id DESC
		)
		SELECT f.delivery_id, c.body IS NOT NULL, q.state
		FROM firsts f
		JOIN last la USING (delivery_id)
		LEFT JOIN walhook.delivery_chunks c ON c.webhook_id = $1 AND c.delivery_id = f.delivery_id
		LEFT JOIN walhook.delivery_queue q ON q.webhook_id = $1 AND q.delivery_id = f.delivery_id
		WHERE true` + last + `
		ORDER BY f.first_at, f.delivery_id`
}
