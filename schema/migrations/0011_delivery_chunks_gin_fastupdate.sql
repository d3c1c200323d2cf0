-- 0011: the delivery log's id indexes (0010) take their entries at once, not through a
-- pending list (DESIGN.md §14, issue 16).
--
-- This file is the body of a PL/pgSQL block that runs only when version 11 is not yet in
-- walhook.schema_migrations; Setup records the version itself (see package schema's doc).
--
-- With GIN's fastupdate (the default), each chunk record's ~100 event ids and entity ids
-- go to a pending list, and the insert that finds the list over gin_pending_list_limit
-- (4 MB) merges all of it into the index: a burst of tens of milliseconds of CPU every few
-- seconds of deliveries, on the database server that also decodes the CRM's changes.
-- On a 2-core machine those bursts were most of walhook's live p99 above the server's own
-- (10,000 rows/s: p99 3.2 ms with fastupdate, 2.3 ms without; the 1M-row drain unchanged,
-- ratio 0.97–1.11). Without it each insert pays its own index entries, evenly, and the log
-- writer writes right after a delivery (sender.logWriter), in the gap before the next.
-- The cost moves into each insert: its entries go to random places of the index, which
-- on a log far larger than memory can mean a few more page reads per write (the writer
-- is off the delivery path). What the lists already hold is merged now. ALTER INDEX takes
-- each index's exclusive lock until Setup commits: a moment on a fresh list, longer behind
-- a long search of the log. Every statement is idempotent, and an index an operator has
-- dropped is skipped.

ALTER INDEX IF EXISTS walhook.delivery_chunks_event_ids SET (fastupdate = off);
ALTER INDEX IF EXISTS walhook.delivery_chunks_entity_ids SET (fastupdate = off);
PERFORM gin_clean_pending_list(i) FROM (VALUES (to_regclass('walhook.delivery_chunks_event_ids')),
    (to_regclass('walhook.delivery_chunks_entity_ids'))) AS x(i) WHERE i IS NOT NULL;
