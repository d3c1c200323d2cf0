-- 0004: webhook status (active, paused, disabled) and why a webhook was disabled.
--
-- This file is the body of a PL/pgSQL block that runs only when version 4 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- A paused or disabled webhook still matches events: their chunks are written to
-- walhook.delivery_queue without an attempt and held there, in order, until the webhook is
-- resumed (POST …/{id}/resume). Queue workers skip the chunks of webhooks whose status is
-- not 'active'. disabled_at and disabled_reason are set while the status is 'disabled'
-- (by the sender: the endpoint answered 410 Gone, or failed for a whole retry window).
-- Webhooks that 0002's disabled_at already marked become 'disabled'.

ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'active';
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS disabled_reason text;
ALTER TABLE walhook.webhooks DROP CONSTRAINT IF EXISTS webhooks_status_check;
ALTER TABLE walhook.webhooks ADD CONSTRAINT webhooks_status_check
    CHECK (status IN ('active', 'paused', 'disabled'));
UPDATE walhook.webhooks SET status = 'disabled',
    disabled_reason = coalesce(disabled_reason, 'endpoint failed for the whole retry window')
    WHERE disabled_at IS NOT NULL AND status = 'active';
COMMENT ON COLUMN walhook.webhooks.status IS
    'active: delivered; paused (API) or disabled (410 Gone, or failing for a whole retry window): matched events are held in walhook.delivery_queue until resumed';
COMMENT ON COLUMN walhook.webhooks.disabled_reason IS
    'why the sender disabled the webhook; NULL unless status is disabled';
COMMENT ON COLUMN walhook.webhooks.disabled_at IS
    'when the sender disabled the webhook; NULL unless status is disabled';
