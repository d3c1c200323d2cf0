-- 0006: the Pipedrive dialect (DESIGN.md §12): a webhook's payload format, and the fields
-- of webhooks created through Pipedrive's API (POST /v1/webhooks).
--
-- This file is the body of a PL/pgSQL block that runs only when version 6 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- Pipedrive webhooks live in walhook.webhooks like every other, so the delivery log, dead
-- letters, redeliver, pause/resume and metrics work for them unchanged. payload_format
-- says how their deliveries are encoded: 'pipeliner' (chunks, §5), 'pipedrive-v1' or
-- 'pipedrive-v2' (one event per request, §12). pipedrive_id is Pipedrive's integer id,
-- NULL for webhooks created through the Pipeliner API; pipedrive holds the Pipedrive
-- fields as created (event_action, event_object, version, name, user_id) and the
-- Pipedrive object of each subscribed entity (objects), resolved from the mapping then.
-- Every statement is idempotent, so re-running the block is harmless.

ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS payload_format text NOT NULL DEFAULT 'pipeliner';
ALTER TABLE walhook.webhooks DROP CONSTRAINT IF EXISTS webhooks_payload_format_check;
ALTER TABLE walhook.webhooks ADD CONSTRAINT webhooks_payload_format_check
    CHECK (payload_format IN ('pipeliner', 'pipedrive-v1', 'pipedrive-v2'));
CREATE SEQUENCE IF NOT EXISTS walhook.pipedrive_webhook_ids AS bigint;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS pipedrive_id bigint UNIQUE;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS pipedrive jsonb;
COMMENT ON COLUMN walhook.webhooks.payload_format IS
    'how deliveries are encoded: pipeliner (chunks), pipedrive-v1 or pipedrive-v2 (one event per request)';
COMMENT ON COLUMN walhook.webhooks.pipedrive_id IS
    'Pipedrive''s integer webhook id (from walhook.pipedrive_webhook_ids); NULL unless created through /v1/webhooks';
COMMENT ON COLUMN walhook.webhooks.pipedrive IS
    'Pipedrive fields as created: event_action, event_object, version, name, user_id, objects (entity -> Pipedrive object)';
