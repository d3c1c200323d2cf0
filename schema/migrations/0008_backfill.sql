-- 0008: backfills (DESIGN.md §14): the current rows of a webhook's entities, sent to that
-- webhook alone, consistent with the live stream.
--
-- This file is the body of a PL/pgSQL block that runs only when version 8 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- The rows themselves never pass through these tables: a backfill reads them in chunks
-- and emits each chunk into the CRM's WAL as a transactional logical decoding message
-- (prefix walhook.backfill) between watermarks, and the replication reader delivers it in
-- commit order with the changes (package backfill's doc explains the watermark scheme).
-- backfills holds each backfill's request and progress: the table and key it has read up
-- to (the cursor), so that a restarted walhook goes on where it stopped. backfill_rechecks
-- holds the keys of rows the reader left out of a chunk because they changed while it was
-- read: the backfill reads them again. Every statement is idempotent.

CREATE TABLE IF NOT EXISTS walhook.backfills (
    id            uuid PRIMARY KEY,
    webhook_id    uuid NOT NULL,
    entities      text[] NOT NULL,
    filter        json,
    rate          int NOT NULL CHECK (rate > 0),
    state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'cancelled', 'failed')),
    -- The cursor: the entity (index into entities) and table (index into its tables) being
    -- read, and the key values of the last row read there (NULL: from the start).
    entity_index  int NOT NULL DEFAULT 0,
    table_index   int NOT NULL DEFAULT 0,
    after_key     text[],
    next_window   bigint NOT NULL DEFAULT 1,
    -- The last window whose chunk the replication reader has taken (written by the reader,
    -- after recording the chunk's rows to read again): the backfill paces itself by it.
    seen_window   bigint NOT NULL DEFAULT 0,
    rows_done     bigint NOT NULL DEFAULT 0,
    rows_total    bigint NOT NULL DEFAULT 0,
    rows_reread   bigint NOT NULL DEFAULT 0,
    error         text,
    created       timestamptz NOT NULL DEFAULT now(),
    modified      timestamptz NOT NULL DEFAULT now(),
    finished      timestamptz
);
COMMENT ON TABLE walhook.backfills IS
    'walhook: backfills of webhooks (POST …/Webhooks/{id}/backfill) with their progress; rows are sent through the WAL, not stored here';
COMMENT ON COLUMN walhook.backfills.after_key IS
    'key values (text) of the last row read from the current table; NULL to start from its first row';

CREATE UNIQUE INDEX IF NOT EXISTS backfills_one_running
    ON walhook.backfills (webhook_id) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS backfills_webhook ON walhook.backfills (webhook_id, created DESC);

CREATE TABLE IF NOT EXISTS walhook.backfill_rechecks (
    backfill_id uuid NOT NULL REFERENCES walhook.backfills (id) ON DELETE CASCADE,
    entity      text NOT NULL,
    tbl         text NOT NULL,
    key         text[] NOT NULL,
    -- The last window that left the row out: reading it again in a later window clears
    -- only what was recorded before that window.
    win         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (backfill_id, entity, tbl, key)
);
COMMENT ON TABLE walhook.backfill_rechecks IS
    'walhook: rows a backfill must read again (they changed while their chunk was read)';
