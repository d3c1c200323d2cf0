-- 0003: the sender's durable delivery queue (with dead letters) and its delivery log.
--
-- This file is the body of a PL/pgSQL block that runs only when version 3 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- Chunks are delivered from memory; only a chunk that failed its first attempt, is due
-- later (chunk_delay), or was spilled (memory limit, open circuit breaker, or queued
-- chunks ahead of it in its lane) is written here. Order: each (webhook_id, lane) is a
-- FIFO by (pos_lsn, pos_seq); of a lane's pending chunks only the first (the head) has a
-- next_attempt_at, the others wait with NULL, and every change to a lane's pending set
-- holds the lane's advisory lock, so a later chunk is never claimed before an earlier one
-- is delivered or dead-lettered. Lane -1 holds redelivered dead letters.

CREATE TABLE IF NOT EXISTS walhook.delivery_queue (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id      uuid NOT NULL,
    delivery_id     uuid NOT NULL,
    lane            int NOT NULL,
    pos_lsn         pg_lsn NOT NULL,
    pos_seq         bigint NOT NULL,
    items           int NOT NULL,
    body            bytea NOT NULL,
    committed_at    timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    next_attempt_at timestamptz,
    attempt         int NOT NULL DEFAULT 0,
    claim           bigint,
    first_failed_at timestamptz,
    last_status     int,
    last_error      text,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    dead_at         timestamptz,
    created         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_queue_delivery_key UNIQUE (webhook_id, delivery_id),
    CONSTRAINT delivery_queue_head_pending CHECK (next_attempt_at IS NULL OR state = 'pending')
);
COMMENT ON TABLE walhook.delivery_queue IS
    'walhook: chunks waiting for delivery (state pending) and dead letters (state dead); body holds the exact bytes sent';
COMMENT ON COLUMN walhook.delivery_queue.lane IS
    'ordering lane: hash of entity and entity id modulo the per-webhook concurrency; -1 for redelivered dead letters';
COMMENT ON COLUMN walhook.delivery_queue.pos_lsn IS
    'commit LSN of the chunk''s first event; with pos_seq, the chunk''s place in its lane';
COMMENT ON COLUMN walhook.delivery_queue.next_attempt_at IS
    'set only on the head of a lane (its earliest pending chunk); NULL while waiting behind it';
COMMENT ON COLUMN walhook.delivery_queue.claim IS
    'token of the attempt that holds the chunk until next_attempt_at (its lease)';

CREATE INDEX IF NOT EXISTS delivery_queue_due
    ON walhook.delivery_queue (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS delivery_queue_heads
    ON walhook.delivery_queue (webhook_id, lane) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS delivery_queue_lane
    ON walhook.delivery_queue (webhook_id, lane, pos_lsn, pos_seq, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS delivery_queue_dead
    ON walhook.delivery_queue (webhook_id, dead_at) WHERE state = 'dead';

CREATE TABLE IF NOT EXISTS walhook.delivery_log (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       uuid NOT NULL,
    delivery_id      uuid NOT NULL,
    attempt          int NOT NULL,
    attempted_at     timestamptz NOT NULL,
    items            int NOT NULL,
    outcome          text NOT NULL,
    status           int,
    duration_seconds double precision NOT NULL,
    error            text,
    response         text
);
COMMENT ON TABLE walhook.delivery_log IS
    'walhook: one row per delivery attempt (outcome, status, duration, error, first 4 KiB of the response); pruned after the retention period';

CREATE INDEX IF NOT EXISTS delivery_log_webhook
    ON walhook.delivery_log (webhook_id, id DESC);
CREATE INDEX IF NOT EXISTS delivery_log_attempted
    ON walhook.delivery_log (attempted_at);
