-- 0009: webhook names, the key of "walhook apply" (config as code, DESIGN.md §14).
--
-- This file is the body of a PL/pgSQL block that runs only when version 9 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- name is optional: NULL for a webhook without one, which "walhook apply" never touches.
-- Among the live webhooks of one space a name is unique (webhooks_name_key; partial, so a
-- deleted webhook keeps its name without blocking its reuse); the webhooks stored before
-- spaces were (space_id NULL, migration 0005) count as one space of their own. Webhooks
-- created through Pipedrive's API keep their Pipedrive name (free text, not unique) in the
-- pipedrive column (0006); name stays NULL for them. Every statement is idempotent.

ALTER TABLE walhook.webhooks ADD COLUMN IF NOT EXISTS name text;
CREATE UNIQUE INDEX IF NOT EXISTS webhooks_name_key ON walhook.webhooks (coalesce(space_id, ''), name)
    WHERE NOT is_deleted AND name IS NOT NULL;
COMMENT ON COLUMN walhook.webhooks.name IS
    'optional name, unique among the live webhooks of a space; the key of "walhook apply" (NULL: unnamed, never touched by apply)';
