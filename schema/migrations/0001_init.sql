-- 0001: walhook's own schema, its migration ledger and the skip-key helper.
--
-- This file is the body of a PL/pgSQL block that runs only when version 1 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- With WALHOOK_STATE_DATABASE_URL it runs on both databases: the CRM database needs the
-- skip-key helper (its messages must be in the CRM's WAL), the state database the ledger.
-- target: crm, state

CREATE SCHEMA IF NOT EXISTS walhook;
COMMENT ON SCHEMA walhook IS
    'walhook: webhook subscriptions, delivery queue and helpers; managed by "walhook setup"';

CREATE TABLE IF NOT EXISTS walhook.schema_migrations (
    version    int PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE walhook.schema_migrations IS
    'walhook: applied migrations of the walhook schema, one row per version';

-- skip_key emits a transactional logical decoding message: it is decoded only if the
-- calling transaction commits, at its position in that transaction, so walhook skips,
-- for webhooks listing this key in their skip_keys, the changes made after the call.
CREATE OR REPLACE FUNCTION walhook.skip_key(key text) RETURNS void
    LANGUAGE sql
    VOLATILE
    STRICT
    SECURITY INVOKER
AS $skip_key$
    SELECT pg_catalog.pg_logical_emit_message(true, 'walhook.skip_key', key);
$skip_key$;
COMMENT ON FUNCTION walhook.skip_key(text) IS
    'walhook: suppress deliveries of this transaction''s later changes to webhooks whose skip_keys contain key; transactional (a rollback emits nothing); NULL does nothing';
REVOKE ALL ON FUNCTION walhook.skip_key(text) FROM PUBLIC;
