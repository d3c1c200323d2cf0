// Package cdc reads a PostgreSQL logical replication slot (pgoutput, protocol 1) and turns
// row changes of mapped CRM tables into entity events: Create, Update, Delete, OwnerChanged,
// the mapping's transitions (Move, Won, Lost, Qualify, BackToLead…), and link events
// (DocumentLinked, Comment) raised on a parent entity.
//
// # Guarantees
//
//   - Order: events reach the Handler in commit order, and within a transaction in change
//     order; an UPDATE's events come as Update, OwnerChanged, then transitions in mapping
//     order.
//   - Identity: an event's ID is derived from its transaction's commit event.LSN, the change's
//     position in the transaction and the event name, so a change replayed from the slot
//     raises events with the same IDs.
//   - At-least-once: the slot's confirmed event.LSN never passes a transaction until the Handler's
//     owner has acknowledged it with Reader.Ack (delivered, durably queued, or matched by
//     nothing). After a crash or reconnect, everything after the confirmed event.LSN is raised
//     again.
//   - Bounded memory: events stream out as they are decoded (the commit event.LSN and time come
//     from Begin), so a transaction of any size is never held whole; backpressure from the
//     Handler stops the reader.
//   - No pinned WAL: between transactions, with nothing pending, server keepalives advance
//     the confirmed event.LSN, so writes to unmapped tables never make WAL pile up.
//   - Schema changes: each Relation message replaces the relation's cache entry, so columns
//     added to or dropped from a live table are picked up without a restart.
//   - Untrusted bytes: the decoder checks every length and recovers from panics in the
//     protocol library; malformed input is an error naming the event.LSN, never a crash.
//
// cdc knows nothing of webhooks: it depends only on the mapping and the event vocabulary
// (package event), whose events it produces.
package cdc
