package sender

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Chunk states in walhook.delivery_queue.
const (
	statePending = "pending"
	stateDead    = "dead"
)

// redeliverLane is the lane of redelivered dead letters: they were released from their
// entity's order when dead-lettered, so they queue among themselves, by position, apart
// from live traffic.
const redeliverLane = -1

// store is the durable queue and delivery log in walhook's schema (migration 0003).
//
// Lane invariant: every (webhook_id, lane) with pending chunks has exactly one chunk with
// a next_attempt_at — its head, normally the earliest by position — and every statement
// that adds, deletes or buries a pending chunk runs in a transaction holding the lane's
// advisory lock, so an insert and a promotion can never both miss each other.
type store struct {
	pool *pgxpool.Pool
}

// qrow is a chunk to write to the queue.
type qrow struct {
	webhookID   string
	deliveryID  uuid.UUID
	lane        int
	pos         position
	items       int
	body        []byte
	committedAt time.Time
	dueAt       time.Time
	// next is the chunk's next_attempt_at if it becomes its lane's head (due time, retry
	// time, or the end of an in-flight attempt's lease).
	next        time.Time
	attempt     int
	claim       int64 // the in-flight attempt's lease token; 0: none
	firstFailed time.Time
	lastStatus  int
	lastError   string
}

// laneKey is one ordering lane.
type laneKey struct {
	webhookID string
	lane      int
}

func compareLanes(a, b laneKey) int {
	if c := strings.Compare(a.webhookID, b.webhookID); c != 0 {
		return c
	}
	return a.lane - b.lane
}

// lockLanes takes the lanes' advisory locks, in a fixed order so that two transactions
// never deadlock.
func lockLanes(ctx context.Context, tx pgx.Tx, lanes []laneKey) error {
	lanes = slices.Clone(lanes)
	slices.SortFunc(lanes, compareLanes)
	lanes = slices.Compact(lanes)
	for _, l := range lanes {
		if _, err := tx.Exec(ctx, `SELECT pg_catalog.pg_advisory_xact_lock(
			pg_catalog.hashtextextended($1::text || '/' || $2::int::text, 7))`, l.webhookID, l.lane); err != nil {
			return fmt.Errorf("lock lane %d of webhook %s: %w", l.lane, l.webhookID, err)
		}
	}
	return nil
}

// ensureHead gives the lane a head when it has pending chunks but none has a
// next_attempt_at. Call it holding the lane's lock.
func ensureHead(ctx context.Context, tx pgx.Tx, l laneKey, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE walhook.delivery_queue SET next_attempt_at = greatest(due_at, $3)
		WHERE id = (SELECT id FROM walhook.delivery_queue
			WHERE webhook_id = $1 AND lane = $2 AND state = 'pending'
			ORDER BY pos_lsn, pos_seq, id LIMIT 1)
		AND next_attempt_at IS NULL
		AND NOT EXISTS (SELECT FROM walhook.delivery_queue
			WHERE webhook_id = $1 AND lane = $2 AND next_attempt_at IS NOT NULL)`, l.webhookID, l.lane, now) // delivery_queue_heads
	if err != nil {
		return fmt.Errorf("promote head of lane %d of webhook %s: %w", l.lane, l.webhookID, err)
	}
	return nil
}

const insertSQL = `INSERT INTO walhook.delivery_queue (webhook_id, delivery_id, lane, pos_lsn, pos_seq, items,
	body, committed_at, due_at, next_attempt_at, attempt, claim, first_failed_at, last_status, last_error)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9,
	CASE WHEN EXISTS (SELECT FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND lane = $3 AND state = 'pending') THEN NULL ELSE $10::timestamptz END,
	$11, NULLIF($12::bigint, 0), $13, NULLIF($14::int, 0), NULLIF($15::text, '')
ON CONFLICT (webhook_id, delivery_id) DO NOTHING
RETURNING id, next_attempt_at IS NOT NULL`

// enqueue writes chunks to the queue in one transaction, in the given order: the first
// chunk of an empty lane becomes its head, the others wait behind. A chunk already in
// the queue (a replay after a crash forms chunks with the same delivery ids) is skipped.
// It returns each chunk's row id and whether it became its lane's head (id 0: skipped).
func (st *store) enqueue(ctx context.Context, rows []qrow) (ids []int64, heads []bool, err error) {
	lanes := make([]laneKey, len(rows))
	for i, r := range rows {
		lanes[i] = laneKey{r.webhookID, r.lane}
	}
	ids, heads = make([]int64, len(rows)), make([]bool, len(rows))
	err = pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := lockLanes(ctx, tx, lanes); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, r := range rows {
			var ff *time.Time
			if !r.firstFailed.IsZero() {
				ff = &r.firstFailed
			}
			b.Queue(insertSQL, r.webhookID, r.deliveryID, r.lane, r.pos.lsn, r.pos.seq, r.items, r.body,
				r.committedAt, r.dueAt, r.next, r.attempt, r.claim, ff, r.lastStatus, r.lastError)
		}
		res := tx.SendBatch(ctx, b)
		for i := range rows {
			err := res.QueryRow().Scan(&ids[i], &heads[i])
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				res.Close()
				return fmt.Errorf("insert delivery %s: %w", rows[i].deliveryID, err)
			}
		}
		return res.Close()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("enqueue %d chunks: %w", len(rows), err)
	}
	return ids, heads, nil
}

// claimed is a chunk a worker holds for one attempt.
type claimed struct {
	id          int64
	webhookID   string
	deliveryID  string
	lane        int
	body        []byte
	items       int
	attempt     int // this attempt's number, from 1
	claim       int64
	firstFailed time.Time // zero before any failure
	committedAt time.Time
}

// claim takes up to n due heads, skipping webhooks in exclude, webhooks that are paused
// or disabled in walhook.webhooks (their chunks are held, keeping their place and due
// time, until the webhook is resumed) and rows other workers hold (FOR UPDATE SKIP
// LOCKED), and leases them until leaseUntil: no one else claims them before, so a crashed
// worker's chunk is retried after its lease. Held heads are skipped in the statement, so
// a held webhook costs a worker nothing but at most one skipped row per lane.
func (st *store) claim(ctx context.Context, n int, exclude []string, now, leaseUntil time.Time, token int64) ([]claimed, error) {
	if exclude == nil {
		exclude = []string{}
	}
	rows, _ := st.pool.Query(ctx, `UPDATE walhook.delivery_queue q
		SET next_attempt_at = $3, attempt = q.attempt + 1, claim = $4
		FROM (SELECT d.id FROM walhook.delivery_queue d
			WHERE d.next_attempt_at <= $2 AND NOT (d.webhook_id::text = ANY($5::text[]))
			AND NOT EXISTS (SELECT FROM walhook.webhooks w WHERE w.id = d.webhook_id AND w.status <> 'active')
			ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
		WHERE q.id = c.id
		RETURNING q.id, q.webhook_id::text, q.delivery_id::text, q.lane, q.body, q.items, q.attempt,
			q.first_failed_at, q.committed_at`, n, now, leaseUntil, token, exclude)
	var out []claimed
	var c claimed
	var firstFailed *time.Time
	_, err := pgx.ForEachRow(rows, []any{&c.id, &c.webhookID, &c.deliveryID, &c.lane, &c.body, &c.items,
		&c.attempt, &firstFailed, &c.committedAt}, func() error {
		c.claim, c.firstFailed = token, time.Time{}
		if firstFailed != nil {
			c.firstFailed = *firstFailed
		}
		out = append(out, c)
		c.body = nil
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due chunks: %w", err)
	}
	return out, nil
}

// delivered removes a delivered chunk held under claim and promotes its lane's next
// chunk. A lost lease (someone else claimed the chunk since) makes it a no-op.
func (st *store) delivered(ctx context.Context, id, claim int64, l laneKey, now time.Time) error {
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := lockLanes(ctx, tx, []laneKey{l}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM walhook.delivery_queue WHERE id = $1 AND claim = $2`, id, claim); err != nil {
			return err
		}
		return ensureHead(ctx, tx, l, now)
	})
	if err != nil {
		return fmt.Errorf("complete chunk %d of webhook %s: %w", id, l.webhookID, err)
	}
	return nil
}

// retry records a failed attempt of a chunk held under claim and schedules the next.
func (st *store) retry(ctx context.Context, id, claim int64, next, firstFailed time.Time, status int, errText string) error {
	_, err := st.pool.Exec(ctx, `UPDATE walhook.delivery_queue
		SET next_attempt_at = $3, claim = NULL, first_failed_at = coalesce(first_failed_at, $4),
			last_status = NULLIF($5::int, 0), last_error = $6
		WHERE id = $1 AND claim = $2 AND next_attempt_at IS NOT NULL`, id, claim, next, firstFailed, status, errText)
	if err != nil {
		return fmt.Errorf("reschedule chunk %d: %w", id, err)
	}
	return nil
}

// hold records an attempt of a chunk held under claim that disabled its webhook (410
// Gone): the chunk stays its lane's head, due at now, so it goes first once the webhook
// is resumed (claim skips it until then); its retry window starts again then.
func (st *store) hold(ctx context.Context, id, claim int64, now time.Time, status int, errText string) error {
	_, err := st.pool.Exec(ctx, `UPDATE walhook.delivery_queue
		SET next_attempt_at = $3, claim = NULL, first_failed_at = NULL,
			last_status = NULLIF($4::int, 0), last_error = $5
		WHERE id = $1 AND claim = $2 AND next_attempt_at IS NOT NULL`, id, claim, now, status, errText)
	if err != nil {
		return fmt.Errorf("hold chunk %d: %w", id, err)
	}
	return nil
}

// bury dead-letters a chunk held under claim and promotes its lane's next chunk.
func (st *store) bury(ctx context.Context, id, claim int64, l laneKey, now time.Time, status int, errText string) error {
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		if err := lockLanes(ctx, tx, []laneKey{l}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE walhook.delivery_queue
			SET state = 'dead', next_attempt_at = NULL, claim = NULL, dead_at = $3,
				first_failed_at = coalesce(first_failed_at, $3), last_status = NULLIF($4::int, 0), last_error = $5
			WHERE id = $1 AND claim = $2`, id, claim, now, status, errText); err != nil {
			return err
		}
		return ensureHead(ctx, tx, l, now)
	})
	if err != nil {
		return fmt.Errorf("dead-letter chunk %d of webhook %s: %w", id, l.webhookID, err)
	}
	return nil
}

// release gives back a claimed chunk without an attempt (its webhook's breaker is open),
// to be claimed again at at.
func (st *store) release(ctx context.Context, id, claim int64, at time.Time) error {
	_, err := st.pool.Exec(ctx, `UPDATE walhook.delivery_queue
		SET next_attempt_at = $3, attempt = attempt - 1, claim = NULL
		WHERE id = $1 AND claim = $2`, id, claim, at)
	if err != nil {
		return fmt.Errorf("release chunk %d: %w", id, err)
	}
	return nil
}

// dropWebhook deletes the pending chunks of a webhook that no longer exists.
func (st *store) dropWebhook(ctx context.Context, webhookID string) (int64, error) {
	tag, err := st.pool.Exec(ctx, `DELETE FROM walhook.delivery_queue WHERE webhook_id = $1 AND state = 'pending'`, webhookID)
	if err != nil {
		return 0, fmt.Errorf("drop queued chunks of deleted webhook %s: %w", webhookID, err)
	}
	return tag.RowsAffected(), nil
}

// busyLanes returns the lanes of the webhook that have pending chunks, the redelivery
// lane included.
func (st *store) busyLanes(ctx context.Context, webhookID string) ([]int, error) {
	rows, _ := st.pool.Query(ctx, `SELECT DISTINCT lane FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND state = 'pending'`, webhookID)
	lanes, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("read queued lanes of webhook %s: %w", webhookID, err)
	}
	out := make([]int, len(lanes))
	for i, l := range lanes {
		out[i] = int(l)
	}
	return out, nil
}

// laneBusy reports whether the lane has pending chunks.
func (st *store) laneBusy(ctx context.Context, l laneKey) (bool, error) {
	var busy bool
	err := st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND lane = $2 AND state = 'pending')`, l.webhookID, l.lane).Scan(&busy)
	if err != nil {
		return false, fmt.Errorf("check lane %d of webhook %s: %w", l.lane, l.webhookID, err)
	}
	return busy, nil
}

// repairHeadless gives a head to any lane that has pending chunks but none due — which
// the lane invariant rules out; it is a safety net, and it reports how many it repaired.
func (st *store) repairHeadless(ctx context.Context, now time.Time) (int, error) {
	rows, _ := st.pool.Query(ctx, `SELECT webhook_id::text, lane FROM walhook.delivery_queue
		WHERE state = 'pending' GROUP BY webhook_id, lane HAVING count(next_attempt_at) = 0`)
	var lanes []laneKey
	var l laneKey
	if _, err := pgx.ForEachRow(rows, []any{&l.webhookID, &l.lane}, func() error {
		lanes = append(lanes, l)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("find lanes without a head: %w", err)
	}
	for _, l := range lanes {
		err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
			if err := lockLanes(ctx, tx, []laneKey{l}); err != nil {
				return err
			}
			return ensureHead(ctx, tx, l, now)
		})
		if err != nil {
			return 0, err
		}
	}
	return len(lanes), nil
}

// counts returns the number of pending and dead chunks.
func (st *store) counts(ctx context.Context) (pending, dead int64, err error) {
	err = st.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'dead')
		FROM walhook.delivery_queue`).Scan(&pending, &dead)
	if err != nil {
		return 0, 0, fmt.Errorf("count queued chunks: %w", err)
	}
	return pending, dead, nil
}

// pruneCutoffs are what prune removes: delivery log entries attempted and chunk records
// formed before log, bodies of chunks formed before body, dead letters buried before
// dead.
type pruneCutoffs struct{ log, body, dead time.Time }

// cutoffs returns the cutoffs of the retentions at now.
func (c Config) cutoffs(now time.Time) pruneCutoffs {
	body := now // PayloadRetention < 0: keep none
	if c.PayloadRetention > 0 {
		body = now.Add(-c.PayloadRetention)
	}
	return pruneCutoffs{log: now.Add(-c.DeliveryLogRetention), body: body, dead: now.Add(-c.DeadLetterRetention)}
}

// prune deletes what is past its retention (see pruneCutoffs), in batches so that no
// statement runs long.
func (st *store) prune(ctx context.Context, c pruneCutoffs) (int64, error) {
	var total int64
	for _, q := range []struct {
		sql    string
		before time.Time
	}{
		{`DELETE FROM walhook.delivery_log WHERE id IN (SELECT id FROM walhook.delivery_log
			WHERE attempted_at < $1 LIMIT 5000)`, c.log},
		{`DELETE FROM walhook.delivery_chunks WHERE (webhook_id, delivery_id) IN (SELECT webhook_id, delivery_id
			FROM walhook.delivery_chunks WHERE formed_at < $1 LIMIT 5000)`, c.log}, // delivery_chunks_formed
		{`UPDATE walhook.delivery_chunks SET body = NULL WHERE (webhook_id, delivery_id) IN (SELECT webhook_id, delivery_id
			FROM walhook.delivery_chunks WHERE body IS NOT NULL AND formed_at < $1 LIMIT 5000)`, c.body}, // delivery_chunks_bodies
		{`DELETE FROM walhook.delivery_queue WHERE id IN (SELECT id FROM walhook.delivery_queue
			WHERE state = 'dead' AND dead_at < $1 LIMIT 5000)`, c.dead},
	} {
		for {
			tag, err := st.pool.Exec(ctx, q.sql, q.before)
			if err != nil {
				return total, fmt.Errorf("prune delivery log and dead letters: %w", err)
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < 5000 {
				break
			}
		}
	}
	return total, nil
}
