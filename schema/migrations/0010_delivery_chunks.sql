-- 0010: the delivery log per event (DESIGN.md §14): what each logged chunk carried, its
-- request body (compressed) for the payload retention, and the indexes that search the
-- log by event id, entity id, status and time.
--
-- This file is the body of a PL/pgSQL block that runs only when version 10 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- One row per chunk (per delivery_id), not per attempt: a chunk retried ten times carries
-- the same items and body each time, so its ids and body are stored once, beside the
-- attempts in walhook.delivery_log, which join it on (webhook_id, delivery_id). The ids
-- are text[] columns with GIN indexes rather than a side table of one row per item: a
-- 100-item chunk is one row to write (a million-row transaction is 10,000 rows, not a
-- million), and "which chunks carried event X" is an array containment (@>) that the GIN
-- index answers. entities[i] is the entity of entity_ids[i]: the pairs of the chunk,
-- each once. body is the request body compressed with S2 (github.com/klauspost/compress/s2);
-- it is set to NULL after the payload retention (WALHOOK_PAYLOAD_RETENTION), and the row
-- is deleted with the delivery log (WALHOOK_DELIVERY_LOG_RETENTION). lane, pos_lsn,
-- pos_seq and committed_at are what a replay needs to queue the chunk again.
--
-- The table is UNLOGGED: every delivered body would otherwise be written to the WAL a
-- second time — into the CRM's own WAL when walhook's state lives there, doubling what its
-- backups and replicas carry, and what the replication reader must read past — for a log
-- that only people read (delivery never depends on it). The cost: a crash of the database
-- server (not of walhook) empties it, and physical standbys do not have it.
-- Every statement is idempotent.

CREATE UNLOGGED TABLE IF NOT EXISTS walhook.delivery_chunks (
    webhook_id   uuid NOT NULL,
    delivery_id  uuid NOT NULL,
    formed_at    timestamptz NOT NULL,
    items        int NOT NULL,
    lane         int NOT NULL,
    pos_lsn      pg_lsn NOT NULL,
    pos_seq      bigint NOT NULL,
    committed_at timestamptz NOT NULL,
    event_ids    text[] NOT NULL,
    entities     text[] NOT NULL,
    entity_ids   text[] NOT NULL,
    body         bytea,
    body_bytes   int,
    PRIMARY KEY (webhook_id, delivery_id)
);
COMMENT ON TABLE walhook.delivery_chunks IS
    'walhook: one row per logged chunk: its items'' event ids and entity ids (searchable) and its request body, S2-compressed, for the payload retention';
COMMENT ON COLUMN walhook.delivery_chunks.entities IS
    'entities[i] is the entity of entity_ids[i]; each (entity, entity id) pair of the chunk once';
COMMENT ON COLUMN walhook.delivery_chunks.body IS
    'the exact request body, S2-compressed; NULL when not kept (payload retention 0, or the log writer was over its memory bound) or pruned';
COMMENT ON COLUMN walhook.delivery_chunks.body_bytes IS
    'length of the uncompressed body';

CREATE INDEX IF NOT EXISTS delivery_chunks_event_ids
    ON walhook.delivery_chunks USING gin (event_ids);
CREATE INDEX IF NOT EXISTS delivery_chunks_entity_ids
    ON walhook.delivery_chunks USING gin (entity_ids);
CREATE INDEX IF NOT EXISTS delivery_chunks_formed
    ON walhook.delivery_chunks (formed_at);
CREATE INDEX IF NOT EXISTS delivery_chunks_bodies
    ON walhook.delivery_chunks (formed_at) WHERE body IS NOT NULL;

-- The attempts of one chunk (GET …/deliveries/{delivery_id}, the event id and entity id
-- searches, replay), a webhook's log since a time, and its failures.
CREATE INDEX IF NOT EXISTS delivery_log_delivery
    ON walhook.delivery_log (webhook_id, delivery_id);
CREATE INDEX IF NOT EXISTS delivery_log_webhook_attempted
    ON walhook.delivery_log (webhook_id, attempted_at);
CREATE INDEX IF NOT EXISTS delivery_log_failed
    ON walhook.delivery_log (webhook_id, id DESC) WHERE outcome <> 'delivered';
