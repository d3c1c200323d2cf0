package sender

import (
	"sync"
	"sync/atomic"
)

// renderSlots bounds, sender-wide, the chunks rendered while memory is short. At the
// limit each lane may still render its next chunk when nothing else of it is in memory
// (laneRoom), so that it moves; with many webhooks whose chunks fill together — 1,000
// webhooks sharing one transaction's rows — that alone rendered a body per webhook at
// once, 60 MB of bodies beyond a 16 MiB budget (issue 16's fanout). A lane renders at the
// limit only with a slot, held by its chunk until the chunk is delivered or queued. A loop
// refused one waits in line and is woken, in turn, as slots come back. Slots are never
// needed below the limit, so they cannot hold a webhook back while memory is plentiful;
// at the limit a slow webhook's chunk gives its slot back when it is spilled.
type renderSlots struct {
	mu      sync.Mutex
	free    int
	waiting []*hook // in line for a slot, each once
}

func newRenderSlots(n int) *renderSlots { return &renderSlots{free: n} }

// renderSlotCount is how many chunks may be rendered at the memory limit: one per 512 KiB
// of the budget (16 for the default 8 MiB), at least 8. A Pipeliner body of 100 items is
// typically 50-100 KB, so they add a few MiB at most beyond the budget.
func renderSlotCount(memoryLimitBytes int64) int {
	return int(max(8, memoryLimitBytes/(512<<10)))
}

// take takes a slot for h, or puts h in line and reports false.
func (r *renderSlots) take(h *hook) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.free > 0 {
		r.free--
		return true
	}
	if !h.slotWaiting.Swap(true) {
		r.waiting = append(r.waiting, h)
	}
	return false
}

// give returns a slot and wakes the next loop in line.
func (r *renderSlots) give() {
	r.mu.Lock()
	r.free++
	r.mu.Unlock()
	r.wakeNext()
}

// wakeNext wakes the first loop in line, if a slot is free: a loop woken that no longer
// needs one passes the turn on (pass).
func (r *renderSlots) wakeNext() {
	r.mu.Lock()
	if r.free == 0 || len(r.waiting) == 0 {
		r.mu.Unlock()
		return
	}
	h := r.waiting[0]
	r.waiting[0] = nil
	r.waiting = r.waiting[1:]
	r.mu.Unlock()
	h.slotWaiting.Store(false)
	h.slotTurn.Store(true)
	h.signal()
}

// leave takes h out of line, for a loop that ends, passing its turn on.
func (r *renderSlots) leave(h *hook) {
	r.mu.Lock()
	for i, w := range r.waiting {
		if w == h {
			r.waiting = append(r.waiting[:i], r.waiting[i+1:]...)
			break
		}
	}
	r.mu.Unlock()
	h.slotWaiting.Store(false)
	if h.slotTurn.Swap(false) {
		r.wakeNext()
	}
}

// pass is called by a loop after a step: when it was woken for a slot and did not take
// one, the next loop in line gets the turn.
func (r *renderSlots) pass(h *hook, took bool) {
	if h.slotTurn.Swap(false) && !took {
		r.wakeNext()
	}
}

// slotFlags are a hook's places in renderSlots' line.
type slotFlags struct {
	slotWaiting atomic.Bool // in line
	slotTurn    atomic.Bool // woken for a slot, not yet used
}
