// Package backfill sends the current rows of a webhook's entities to that webhook alone
// (DESIGN.md §14), as <Entity>.Backfill events, consistent with the live stream.
//
// # The watermark scheme
//
// A backfill reads its tables in key order, one chunk at a time, and never sends a row
// itself: it puts every chunk into the CRM's WAL, where the replication reader meets it in
// commit order with the changes, as DBLog and Debezium's incremental snapshots do. For
// each chunk it emits, as transactional logical decoding messages (prefix
// event.BackfillPrefix):
//
//  1. a low watermark L, in a transaction of its own;
//  2. in one transaction: the chunk's rows read (with each row's xmin), then the chunk
//     message C carrying them — C's place in the WAL is that transaction's commit.
//
// Between L and C the reader (Tracker) records, per entity id, the last live change of the
// chunk's entity. When C arrives, a row that changed in that window is current only if the
// chunk read the version that last change wrote (its xmin is the change's transaction);
// every other changed row is left out of the chunk, and recorded to be read again in a
// later window, and a deleted one is left out for good. Every row sent is therefore at
// least as new as every change before C in the stream, and every change after C comes
// after it: a row changed during the backfill never reaches the webhook stale after its
// newer live event. Unchanged rows need no such care: nothing in the stream is newer.
//
// # Durability
//
// The rows travel in the WAL, so they are delivered with every guarantee of DESIGN.md §6
// (ordered per entity with the live events, retried, held while paused). The reader holds
// L's transaction unacknowledged until C has been taken, so the slot never restarts inside
// a window; the reader's side keeps no state a restart would need. The backfill's cursor
// (the table and key read up to) is recorded in walhook.backfills after each chunk, so a
// restarted walhook (any instance: one runs each backfill, under an advisory lock) goes on
// from there; a chunk emitted but not yet recorded is read again (at-least-once, like
// every delivery). Chunks are paced to the backfill's rate and to at most InFlight chunks
// ahead of the reader.
package backfill
