// Package inbound receives webhooks (DESIGN.md §13, PIPEFORCE's webhook.put / webhook.get
// / webhook.delete / webhook.receive) and lands each call in the CRM database's WAL, where
// the replication reader raises it as an event like any row change: the matcher and the
// sender then carry it to its subscribers with every guarantee of §6.
//
// # Landing
//
// A call is answered 2xx only once it is durable: one transaction, with
// synchronous_commit on whatever the server's default, writes the idempotency row (when
// the call carries a webhook-id header), the call's files (bytea rows), and a
// transactional logical decoding message (prefix event.InboundPrefix) holding the call id,
// the event key and the call object. The reader turns the message into an event.Event named
// by the key, entity "Inbound", entity id the call id, the call object as its Data, and an
// id built from the commit LSN like every event's: a replay raises the same id. A call is
// never held in walhook's memory after its answer, so a SIGKILL right after a 2xx loses
// nothing. The receive path runs on the HTTP server's goroutines, never on the reader's.
//
// # Guarantees and bounds
//
//   - A repeated webhook-id for the same inbound webhook is accepted (2xx, the first call's
//     id) without a second event, within the retention window.
//   - Order per inbound webhook: its calls are events of one order key (event.Event.OrderKey
//     is its uuid), so a subscriber gets them in commit order.
//   - Request bodies are bounded (Config.MaxBytes, 413), the call object too
//     (Config.MaxCallBytes: it must fit one delivery item, 413), calls per inbound webhook
//     by a token bucket per process (Config.Rate, Config.Burst; 429 with Retry-After).
//   - An inbound webhook with verify set refuses calls whose signature does not match (401):
//     Standard Webhooks (webhook-id, webhook-timestamp within five minutes,
//     webhook-signature) or a named header holding the hex HMAC-SHA256 of the body.
//   - Files are kept byte for byte and served to API token holders until Run prunes them,
//     with the idempotency rows, after Config.Retention.
//   - A change to an inbound webhook (put, delete) reaches the receive path of every
//     instance within CacheTTL.
//   - Secrets (verify secrets, webhook.send signatures) are sealed at rest with
//     Config.Secrets when set, and answers show them masked.
//
// # webhook.send
//
// An outgoing send is stored as a target of its own (walhook.outgoing_sends) and its body
// handed to Config.Enqueue, the sender's durable queue, which delivers, retries and
// dead-letters it like any chunk; the pipeline resolves the target for the sender
// (LookupOutgoing).
package inbound
