package cdc

import (
	"sort"
	"sync"

	"github.com/jackc/pglogrepl"
)

// tracker is the acknowledgement low-water mark. The reader adds each transaction's end
// event.LSN as pending when it hands the transaction's commit to the Handler; the consumer acks
// it (from any goroutine, in any order) once its events are delivered or durably queued.
// The confirmable event.LSN is the end of the longest prefix of done transactions, so the slot
// never moves past a transaction whose events could still be lost.
type tracker struct {
	mu        sync.Mutex
	pending   []pendingTxn // ascending end LSNs, from head
	head      int
	confirmed pglogrepl.LSN
}

type pendingTxn struct {
	end  pglogrepl.LSN
	at   int64 // commit time, unix nanos
	done bool
}

// add registers a transaction's end event.LSN; ends arrive in commit order.
func (t *tracker) add(end pglogrepl.LSN, at int64) {
	t.mu.Lock()
	t.pending = append(t.pending, pendingTxn{end: end, at: at})
	t.mu.Unlock()
}

// ack marks the transaction ending at end done. Unknown LSNs (from before a reconnect, or
// acked twice) are ignored.
func (t *tracker) ack(end pglogrepl.LSN) {
	t.mu.Lock()
	defer t.mu.Unlock()
	live := t.pending[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].end >= end })
	if i == len(live) || live[i].end != end {
		return
	}
	live[i].done = true
	for t.head < len(t.pending) && t.pending[t.head].done {
		t.confirmed = max(t.confirmed, t.pending[t.head].end)
		t.head++
	}
	if t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	} else if t.head > 1024 && t.head*2 > len(t.pending) {
		n := copy(t.pending, t.pending[t.head:])
		t.pending, t.head = t.pending[:n], 0
	}
}

// idle advances the mark to walEnd when nothing is pending: used for keepalives between
// transactions, so writes to unmapped tables never make WAL pile up behind the slot.
func (t *tracker) idle(walEnd pglogrepl.LSN) {
	t.mu.Lock()
	if t.head == len(t.pending) {
		t.confirmed = max(t.confirmed, walEnd)
	}
	t.mu.Unlock()
}

// restart forgets pending transactions and sets the mark to from, where a new session
// starts: the server resends everything past it, so they come again. Acks of the old
// session's transactions are then unknown and ignored.
func (t *tracker) restart(from pglogrepl.LSN) {
	t.mu.Lock()
	t.pending, t.head = t.pending[:0], 0
	t.confirmed = from
	t.mu.Unlock()
}

// state returns the confirmable event.LSN, the number of pending transactions and the commit
// time (unix nanos) of the oldest one.
func (t *tracker) state() (lsn pglogrepl.LSN, pending int, oldest int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head < len(t.pending) {
		oldest = t.pending[t.head].at
	}
	return t.confirmed, len(t.pending) - t.head, oldest
}
