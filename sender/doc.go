// Package sender delivers matched events to webhooks as signed, chunked HTTP POSTs, with
// retries, a durable queue in PostgreSQL and dead letters (DESIGN.md §5, §6, §9).
//
// # The fast path
//
// Each webhook has its own send loop and bounded in-memory queue with a coalescing
// wake-up. Events are packed into chunks of at most chunk_size items in commit order; a
// chunk lingers (Config.Linger) for more events but is only closed between
// transactions, so a transaction's events stay together (250 events at chunk_size 100
// go out as 100, 100 and 50). A chunk whose body would pass Config.MaxBodyBytes is sent
// as several requests (parts), in order, each within the bound and with its own delivery
// id, derived like every chunk's from its first and last events; a part is a chunk in
// everything that follows. Chunks are delivered from memory: nothing is written to
// the database for a chunk that succeeds at its first attempt. A loop that has had
// nothing to do for Config.HookIdleTimeout — nothing in memory, in flight or in the
// durable queue — ends and forgets the webhook; its next event starts a new loop. A loop
// reaches nothing of the Sender: its dependencies (the attempt, the queue as three
// methods, memory accounting, breakers, configuration) are handed to it, so it is tested
// alone, with fakes and a fake clock (hook_test.go).
//
// # Payload formats
//
// The webhook's format (matcher.Webhook.Format) says how a chunk's rendered items, in
// commit order, group into requests and encodes each request's body. Pipeliner's, the
// default, sends a chunk as one request and splits it only by the body bound; Pipedrive's
// v1 and v2 (pipedrive.go) send one event per request. Either way each
// request is a part as above, with the delivery id of its first and last events. Formats
// know nothing of signing: each attempt signs whatever body the format produced. A chunk
// is rendered with the compiled subscription that matched its events (matcher.Match.Sub),
// as the webhook was last seen by Add.
//
// # The durable queue
//
// A chunk is written to walhook.delivery_queue (migration 0003) only when its first
// attempt fails, when it is due beyond Config.DelayHorizon (chunk_delay), when memory is
// short (Config.MemoryLimitBytes), when its webhook's circuit breaker is open, when its
// webhook is paused or disabled, or when its lane already has chunks queued. Workers
// (Run) claim due chunks with FOR UPDATE SKIP LOCKED and a lease, so every walhook
// instance shares the queue, and a chunk held by a crashed instance is retried when its
// lease runs out. Failed attempts are retried with exponential backoff and full jitter,
// honouring Retry-After, for Config.RetryWindow; then the chunk is dead-lettered
// (Redeliver puts it back). A webhook whose endpoint failed for a whole window is
// disabled (see below). A circuit breaker per webhook stops attempts after consecutive
// failures and lets one probe through per cooldown; an endpoint that fails or hangs never
// delays other webhooks, which have their own loops, and the queue's workers skip
// webhooks whose breaker is open.
//
// # Paused, disabled and 410 Gone
//
// A webhook paused through the API, or disabled — by a 410 Gone answer (at once,
// Standard Webhooks' rule) or after failing for a whole retry window — still matches its
// events (matcher.Webhook.Held): they are held, never dropped. Its chunks go straight to
// the durable queue without an attempt (reason "held"), its lanes are parked there, and
// their transactions are acknowledged once queued, so a held webhook never holds the
// slot back. Workers skip the chunks of webhooks whose status is not active in the
// statement that claims, so they neither attempt nor spin over them. A 410 records the
// disable (Config.Webhooks.Disable, with a reason) before the chunk is queued or released,
// so no one attempts it again: it gets exactly one attempt, and heads its lane, due at
// once, with its retry window restarted. A disable is counted
// (walhook_webhooks_disabled_total{reason}) and logged at warning level once, by whoever
// changed the status. On resume, the queue's workers deliver the held chunks in lane
// order; each lane returns to the fast path once the queue holds none of its chunks.
// Status changes reach this process through the matcher (LISTEN/NOTIFY) and the claiming
// statement, so every instance follows within a second.
//
// # Order
//
// A webhook receives each entity's events in commit order, across retries and
// restarts: a later event of an entity is never delivered before an earlier one was
// delivered or dead-lettered. Events go to one of Config.Concurrency lanes per webhook by
// a hash of entity and entity id; a lane is a FIFO of chunks. In memory a lane sends one
// chunk at a time. Once any chunk of a lane is in the queue, the lane is parked: its later
// chunks are queued behind it (a chunk whose first attempt is still in flight is queued
// first, leased to that attempt), and the lane returns to the fast path only when the
// queue holds none of its chunks. In the queue only a lane's head (its earliest chunk by
// commit position) is ever due; the next is promoted when the head is delivered or
// dead-lettered, under the lane's advisory lock.
//
// # Acknowledgement and memory
//
// A transaction's end LSN is acknowledged (the ack callback) once every chunk holding
// one of its events is delivered or durably queued, or at once when none matched, so
// the slot's confirmed LSN passes only what cannot be lost. Memory for events and bodies
// not yet delivered or queued is bounded: past Config.MemoryLimitBytes, Add waits while
// healthy webhooks deliver (back-pressure); every Config.SpillWait of waiting the
// in-memory chunks of slow webhooks move to the queue, so the slot never waits on a dead
// endpoint. When every byte is in chunks still being filled, nothing is on its way out:
// they are sealed at once and sent as they are.
// Chunks in memory at a crash or Close are not acknowledged: the slot raises their events
// again, with the same event ids, and a chunk formed again gets the same delivery id.
//
// # Requests
//
// POST, Content-Type application/json, body (Pipeliner's format) {"webhook_id",
// "delivery_id", "items"};
// headers Webhook-Id (the delivery id, the same on every retry), Webhook-Timestamp,
// User-Agent walhook/<version>; WebHook-Signature (hex HMAC-SHA256 of the body keyed by
// the webhook's signature) or, with signing "standard-webhooks", webhook-signature
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>"; Basic auth when http_auth_user is set.
// One shared HTTP client per TLS mode keeps connections alive; redirects are not
// followed; private addresses are refused at dial time, after DNS, unless allowed.
package sender
