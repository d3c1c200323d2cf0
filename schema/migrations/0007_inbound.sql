-- 0007: inbound webhooks (DESIGN.md §13): the endpoints external systems call, the
-- idempotency record of their calls, and the files those calls carried.
--
-- This file is the body of a PL/pgSQL block that runs only when version 7 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- A call itself is not stored here: it is landed in the WAL as a transactional logical
-- decoding message (prefix walhook.inbound) in the same transaction as its rows here, and
-- the replication reader raises its event from there. inbound_calls holds one row per
-- call that carried a webhook-id header (a repeated id is accepted once); inbound_files
-- the files of multipart calls, byte for byte. Both are pruned after the inbound
-- retention window (WALHOOK_INBOUND_RETENTION). Every statement is idempotent.

CREATE TABLE IF NOT EXISTS walhook.inbound_webhooks (
    uuid        uuid PRIMARY KEY,
    event_key   text NOT NULL,
    description text,
    verify      jsonb,
    created     timestamptz NOT NULL DEFAULT now(),
    modified    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE walhook.inbound_webhooks IS
    'walhook: inbound webhook endpoints (POST /api/v3/webhook.receive?uuid=); each call raises an event named event_key';
COMMENT ON COLUMN walhook.inbound_webhooks.verify IS
    'optional signature check of calls: {"type":"standard-webhooks","secret":"whsec_…"} or {"type":"hmac-sha256","header":"…","secret":"…"}';

CREATE TABLE IF NOT EXISTS walhook.inbound_calls (
    webhook_uuid uuid NOT NULL,
    message_id   text NOT NULL,
    call_id      uuid NOT NULL,
    received_at  timestamptz NOT NULL,
    landed       boolean NOT NULL DEFAULT true,
    PRIMARY KEY (webhook_uuid, message_id)
);
COMMENT ON COLUMN walhook.inbound_calls.landed IS
    'false while a call is being landed in the CRM database from a separate state database (WALHOOK_STATE_DATABASE_URL); a repeated webhook-id of a call not landed is landed again';
COMMENT ON TABLE walhook.inbound_calls IS
    'walhook: calls landed with a webhook-id header, so that a repeated id is accepted once; pruned after the inbound retention';
CREATE INDEX IF NOT EXISTS inbound_calls_received ON walhook.inbound_calls (received_at);

CREATE TABLE IF NOT EXISTS walhook.inbound_files (
    call_id      uuid NOT NULL,
    idx          int NOT NULL,
    webhook_uuid uuid NOT NULL,
    field        text NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size         bigint NOT NULL,
    sha256       text NOT NULL,
    content      bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (call_id, idx)
);
COMMENT ON TABLE walhook.inbound_files IS
    'walhook: files of inbound calls, byte for byte, downloadable with an API token; pruned after the inbound retention';
CREATE INDEX IF NOT EXISTS inbound_files_received ON walhook.inbound_files (received_at);

-- webhook.send: each outgoing send is a target of its own (its id is the webhook_id of its
-- one chunk in walhook.delivery_queue), so the sender's queue workers deliver it, retry it
-- and dead-letter it like any chunk. Pruned after the inbound retention.
CREATE TABLE IF NOT EXISTS walhook.outgoing_sends (
    id        uuid PRIMARY KEY,
    url       text NOT NULL,
    signature text,
    headers   jsonb,
    created   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE walhook.outgoing_sends IS
    'walhook: one-off outgoing webhooks of the webhook.send command; the queue delivers each to url, signed with signature';
CREATE INDEX IF NOT EXISTS outgoing_sends_created ON walhook.outgoing_sends (created);
