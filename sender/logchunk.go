package sender

import (
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// chunkRecord is what the delivery log keeps of one chunk (one delivery id), once,
// whatever its number of attempts (migration 0010): its items' event ids, its (entity,
// entity id) pairs, and its request body. The send loop makes it when it renders the
// chunk's body, so every chunk of a webhook has one — delivered from memory or queued —
// and a retry, a redelivery or a replay, which keep the delivery id, finds it.
type chunkRecord struct {
	webhookID   string
	deliveryID  uuid.UUID
	formed      time.Time
	items       int
	lane        int
	pos         position
	committedAt time.Time
	eventIDs    []string
	// entities[i] is the entity of entityIDs[i]; each pair of the chunk once.
	entities, entityIDs []string
	// body is the request body as sent, shared with the chunk (read only); nil when not
	// kept. The writer replaces it by packed, its S2 encoding, and bodyBytes, its length.
	body      []byte
	packed    []byte
	bodyBytes int
	// charged is what the record counts against the log writer's byte budget.
	charged int64
}

// newChunkRecord returns the record of a rendered chunk of webhookID. It runs on the send
// loop, so it only copies references (three slices); the writer removes repeated entity
// pairs (dedupeEntities) off the delivery path.
func newChunkRecord(webhookID string, c *chunk) chunkRecord {
	n := len(c.events)
	r := chunkRecord{
		webhookID: webhookID, deliveryID: c.id, formed: c.formed, items: n, lane: c.lane,
		pos: posOf(c.events[0]), committedAt: c.committedAt(), body: c.body,
		eventIDs: make([]string, n), entities: make([]string, n), entityIDs: make([]string, n),
	}
	for i, ev := range c.events {
		r.eventIDs[i], r.entities[i], r.entityIDs[i] = string(ev.ID), string(ev.Entity), ev.EntityID
	}
	return r
}

// entityPair is one (entity, entity id) of a chunk.
type entityPair struct{ entity, id string }

// dedupeEntities keeps each (entity, entity id) pair of the record once, in order of first
// item, using seen (cleared first) as scratch.
func (r *chunkRecord) dedupeEntities(seen map[entityPair]bool) {
	if len(r.entities) < 2 {
		return
	}
	clear(seen)
	k := 0
	for i := range r.entities {
		p := entityPair{r.entities[i], r.entityIDs[i]}
		if seen[p] {
			continue
		}
		seen[p] = true
		r.entities[k], r.entityIDs[k] = r.entities[i], r.entityIDs[i]
		k++
	}
	clear(r.entities[k:])
	clear(r.entityIDs[k:])
	r.entities, r.entityIDs = r.entities[:k], r.entityIDs[:k]
}

// idBytes estimates the memory the record's ids hold: string headers and contents.
func (r *chunkRecord) idBytes() int64 {
	n := 256 + 16*(len(r.eventIDs)+len(r.entities)+len(r.entityIDs))
	for _, ss := range [...][]string{r.eventIDs, r.entities, r.entityIDs} {
		for _, s := range ss {
			n += len(s)
		}
	}
	return int64(n)
}

// queueChunks queues the inserts of chunk records. A chunk formed again with the same
// delivery id (a replay of the WAL after a crash) keeps its first record, and gets the
// new body if the first has none.
func queueChunks(b *pgx.Batch, rs []chunkRecord) {
	for _, r := range rs {
		var n *int
		if r.packed != nil {
			n = &r.bodyBytes
		}
		b.Queue(`INSERT INTO walhook.delivery_chunks (webhook_id, delivery_id, formed_at, items, lane, pos_lsn,
				pos_seq, committed_at, event_ids, entities, entity_ids, body, body_bytes)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			ON CONFLICT (webhook_id, delivery_id) DO UPDATE SET body = EXCLUDED.body, body_bytes = EXCLUDED.body_bytes
			WHERE delivery_chunks.body IS NULL AND EXCLUDED.body IS NOT NULL`,
			r.webhookID, r.deliveryID, r.formed, r.items, r.lane, r.pos.lsn, r.pos.seq, r.committedAt,
			r.eventIDs, nonNil(r.entities), nonNil(r.entityIDs), r.packed, n)
	}
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
