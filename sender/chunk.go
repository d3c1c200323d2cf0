package sender

import (
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
)

// position is an event's place in commit order: its transaction's commit LSN and its
// change's sequence number in the transaction.
type position struct {
	lsn event.LSN
	seq int64
}

func posOf(ev *event.Event) position { return position{ev.CommitLSN, int64(ev.Seq)} }

// txnRef counts, for one transaction, the chunks holding its events that are not yet
// delivered or durably queued, plus one until the transaction's commit is seen. When the
// count drops to zero the transaction's end LSN is acknowledged, exactly once.
type txnRef struct {
	refs atomic.Int64
	// end is set by Commit before it drops the commit's reference.
	end event.LSN
	ack func(event.LSN)
}

func newTxnRef(ack func(event.LSN)) *txnRef {
	t := &txnRef{ack: ack}
	t.refs.Store(1)
	return t
}

func (t *txnRef) release() {
	if t.refs.Add(-1) == 0 {
		t.ack(t.end)
	}
}

// share is the memory of one decoded event, charged once however many chunks hold the
// event (an event matched by ten webhooks is in ten chunks, but in memory once) and
// returned when the last of them resolves. While the reader adds the event's matches it
// holds a reference of its own, so that a chunk resolved between two of them cannot
// return the memory while the event is still being added.
type share struct {
	size int64
	refs atomic.Int32
}

// drop releases one reference, returning the event's memory with the last.
func (sh *share) drop(mem memory) {
	if sh.refs.Add(-1) == 0 {
		mem.release(sh.size)
	}
}

// matchBytes is what one match costs beyond its shared event: the event's and its share's
// places in the chunk (two pointers, and the slices' spare room). Its rendered item is
// counted with the chunk's body.
const matchBytes = 32

// chunk is one request to be: up to chunk_size events of one webhook lane, in commit
// order. The reader goroutine fills it under its hook's lock; once sealed it belongs to
// the hook's loop.
type chunk struct {
	lane   int
	events []*event.Event
	// txns are the distinct transactions of events, in order; each holds a reference
	// for this chunk until the chunk is resolved.
	txns []*txnRef
	// shares are the events' memory, one reference each (nil for events charged to
	// memBytes instead).
	shares   []*share
	memBytes int64
	// slot is the render slot the chunk holds (rendered at the memory limit), nil if none.
	slot   *renderSlots
	opened time.Time // first event added: the linger starts
	formed time.Time // sealed
	wh     *matcher.Webhook
	sub    matcher.Subscription // wh compiled: what the chunk renders with

	// Set by the hook loop once sealed.
	due     time.Time
	started time.Time // its first attempt started
	id      uuid.UUID
	body    []byte
	sig     string // the body's signature when signed ahead (presign), or ""
	// resolved: delivered, durably queued or dropped; its references are released.
	resolved bool
	// leaseID and leaseClaim identify the queue row written while the chunk's first
	// attempt was in flight; that attempt then settles the row.
	leaseID, leaseClaim int64
}

// addEvent adds ev, holding a reference on sh (the event's memory) when not nil, and
// charges size bytes to the chunk itself.
func (c *chunk) addEvent(ev *event.Event, t *txnRef, sh *share, size int64) {
	c.events = append(c.events, ev)
	if sh != nil {
		sh.refs.Add(1)
		c.shares = append(c.shares, sh)
	}
	if n := len(c.txns); n == 0 || c.txns[n-1] != t {
		c.txns = append(c.txns, t)
		t.refs.Add(1)
	}
	c.memBytes += size
}

// resolve marks the chunk delivered, durably queued or dropped: its transactions'
// references are released (which may acknowledge them) and its memory returned to mem.
// Later calls do nothing.
func (c *chunk) resolve(mem memory) {
	if c.resolved {
		return
	}
	c.resolved = true
	for _, t := range c.txns {
		t.release()
	}
	c.txns = nil
	for _, sh := range c.shares {
		sh.drop(mem)
	}
	c.shares = nil
	mem.release(c.memBytes)
	mem.sealed(-1)
	if c.slot != nil {
		c.slot.give()
		c.slot = nil
	}
	c.memBytes = 0
}

// committedAt returns the commit time of the chunk's first event.
func (c *chunk) committedAt() time.Time { return c.events[0].CommitTime }

// eventSize estimates the memory an event holds.
func eventSize(ev *event.Event) int64 {
	n := 256 + len(ev.ID) + len(ev.EntityID) + len(ev.Data)
	for _, r := range [...]event.Row{ev.New, ev.Old, ev.Link} {
		for _, f := range r {
			n += 48 + len(f.Name) + len(f.Value.Raw)
		}
	}
	return int64(n)
}

// laneOf returns the ordering lane of an event's entity: a hash of entity name and
// entity id (or the event's OrderKey) modulo n. Lanes must be stable across restarts, so this uses FNV-1a rather
// than a seeded hash.
func laneOf(ev *event.Event, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint64(14695981039346656037)
	key := ev.EntityID
	if ev.OrderKey != "" {
		key = ev.OrderKey // inbound calls: ordered per inbound webhook
	}
	for _, s := range [...]string{string(ev.Entity), "\x00", key} {
		for i := 0; i < len(s); i++ {
			h = (h ^ uint64(s[i])) * 1099511628211
		}
	}
	return int(h % uint64(n))
}

// chunkSize returns the webhook's chunk_size, within 1–100.
func chunkSize(wh *matcher.Webhook) int {
	if wh.ChunkSize < 1 || wh.ChunkSize > 100 {
		return 100
	}
	return wh.ChunkSize
}
