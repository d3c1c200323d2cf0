-- 0005: spaces, signature rotation, per-webhook headers and timeout.
--
-- This file is the body of a PL/pgSQL block that runs only when version 5 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- space_id is the {space_id} of the path a webhook was created under; the API shows and
-- changes a webhook only under its own space. Webhooks created before this migration have
-- none (NULL) and are visible in every space until deleted.
-- previous_signature keeps the key a PATCH replaced, for WALHOOK_SIGNATURE_ROTATION_GRACE
-- after signature_rotated_at: deliveries are signed with both meanwhile.
-- headers are static extra request headers (a JSON object of strings); timeout_ms bounds
-- one delivery attempt (NULL: WALHOOK_REQUEST_TIMEOUT).
-- signature, previous_signature, http_auth_password and headers may hold values sealed
-- with WALHOOK_SECRET_KEY ("enc:v1:…").

ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS space_id text;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS previous_signature text;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS signature_rotated_at timestamptz;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS headers text;
ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS timeout_ms integer;
CREATE INDEX IF NOT EXISTS webhooks_space ON walhook.webhooks (space_id, created, id) WHERE NOT is_deleted;
COMMENT ON COLUMN walhook.webhooks.space_id IS
    'the {space_id} the webhook was created under; NULL (created before this migration): every space';
COMMENT ON COLUMN walhook.webhooks.previous_signature IS
    'the signature a PATCH replaced, still used to sign for WALHOOK_SIGNATURE_ROTATION_GRACE after signature_rotated_at';
COMMENT ON COLUMN walhook.webhooks.headers IS
    'static extra request headers, a JSON object of strings (possibly sealed with WALHOOK_SECRET_KEY)';
COMMENT ON COLUMN walhook.webhooks.timeout_ms IS
    'bound on one delivery attempt in milliseconds; NULL: WALHOOK_REQUEST_TIMEOUT';
