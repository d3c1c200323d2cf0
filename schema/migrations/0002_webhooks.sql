-- 0002: webhook subscriptions and their change notifications.
--
-- This file is the body of a PL/pgSQL block that runs only when version 2 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- events and options are stored exactly as the API client sent them (text[] and json, not
-- jsonb: json keeps key order, spacing and duplicate keys), so GET returns them unchanged.
-- A deleted webhook is kept with is_deleted = true. Every change to a row is announced on
-- the channel walhook_webhooks (payload: the webhook id; empty after a TRUNCATE), so every
-- running walhook instance reloads its subscriptions within milliseconds.
--
-- Like 0001, every statement is idempotent (IF NOT EXISTS, OR REPLACE; CREATE OR REPLACE
-- TRIGGER needs PostgreSQL 14, walhook's minimum), so re-running the block is harmless.

CREATE TABLE IF NOT EXISTS walhook.webhooks (
    id                 uuid PRIMARY KEY,
    url                text NOT NULL,
    events             text[] NOT NULL,
    insecure_ssl       boolean NOT NULL DEFAULT false,
    signature          text,
    options            json NOT NULL DEFAULT '{}',
    http_auth_user     text,
    http_auth_password text,
    signing            text NOT NULL DEFAULT 'pipeliner'
                       CHECK (signing IN ('pipeliner', 'standard-webhooks')),
    created            timestamptz NOT NULL DEFAULT now(),
    modified           timestamptz NOT NULL DEFAULT now(),
    is_deleted         boolean NOT NULL DEFAULT false,
    disabled_at        timestamptz
);
COMMENT ON TABLE walhook.webhooks IS
    'walhook: webhook subscriptions managed through the REST API; options and events as sent';
COMMENT ON COLUMN walhook.webhooks.signature IS
    'HMAC key of the deliveries (a UUID string, kept as sent); NULL for unsigned deliveries';
COMMENT ON COLUMN walhook.webhooks.disabled_at IS
    'set when deliveries failed for the whole retry window; the webhook then matches nothing';

CREATE INDEX IF NOT EXISTS webhooks_live_created_idx ON walhook.webhooks (created, id) WHERE NOT is_deleted;

CREATE OR REPLACE FUNCTION walhook.webhooks_notify() RETURNS trigger
    LANGUAGE plpgsql
AS $webhooks_notify$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_catalog.pg_notify('walhook_webhooks', '');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_catalog.pg_notify('walhook_webhooks', OLD.id::text);
    ELSE
        PERFORM pg_catalog.pg_notify('walhook_webhooks', NEW.id::text);
    END IF;
    RETURN NULL;
END
$webhooks_notify$;
COMMENT ON FUNCTION walhook.webhooks_notify() IS
    'walhook: announces changed webhooks on channel walhook_webhooks';

CREATE OR REPLACE TRIGGER webhooks_notify
    AFTER INSERT OR UPDATE OR DELETE ON walhook.webhooks
    FOR EACH ROW EXECUTE FUNCTION walhook.webhooks_notify();
CREATE OR REPLACE TRIGGER webhooks_notify_truncate
    AFTER TRUNCATE ON walhook.webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION walhook.webhooks_notify();
