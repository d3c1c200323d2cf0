// Package pipeline assembles walhook: it builds the replication reader, the matcher, the
// sender and the webhook API from one Config (New), and runs them together (Run).
//
// The data flows one way, cdc → matcher → sender: the reader hands each event to a
// Handler, which matches it against the webhooks and hands every match to the sender, and
// passes each commit on so that the sender acknowledges the transaction (through the
// reader's Ack, handed to it at construction) once its chunks are delivered or durably
// queued, or at once when nothing matched. Both calls run on the reader's goroutine, in
// commit order, and block when the sender applies back-pressure.
//
// # Guarantees
//
//   - New does no I/O; Load reads the webhooks before the first event is matched, so no
//     event meets an empty matcher.
//   - Run returns when ctx ends or a component fails for good; Close then flushes the
//     sender. A transaction is acknowledged only as the sender allows (DESIGN.md §6).
//   - The matcher, the sender and the API share one webhook store, so a webhook created,
//     changed, paused or deleted through the API takes effect on every instance.
package pipeline
