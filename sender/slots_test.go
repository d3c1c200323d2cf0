package sender

import "testing"

// TestRenderSlotsLine: loops refused a slot wait in line and are woken one per slot given
// back, in order; a loop woken that takes none passes its turn on, and one that ends
// leaves the line.
func TestRenderSlotsLine(t *testing.T) {
	newLoop := func() *hook { return &hook{wake: make(chan struct{}, 1)} }
	woken := func(h *hook) bool {
		select {
		case <-h.wake:
			return true
		default:
			return false
		}
	}
	r := newRenderSlots(1)
	a, b, c, d := newLoop(), newLoop(), newLoop(), newLoop()
	if !r.take(a) {
		t.Fatal("the free slot was refused")
	}
	for _, h := range []*hook{b, c, d, b} {
		if r.take(h) {
			t.Fatal("a slot was given beyond the count")
		}
	}
	if len(r.waiting) != 3 {
		t.Fatalf("%d loops in line, want 3 (each once)", len(r.waiting))
	}
	r.leave(d)
	r.give()
	if !woken(b) || woken(c) || woken(d) {
		t.Fatal("the first in line was not the only one woken")
	}
	r.pass(b, false) // b no longer needs it
	if !woken(c) {
		t.Fatal("the turn was not passed on")
	}
	if !r.take(c) {
		t.Fatal("the woken loop could not take the free slot")
	}
	r.pass(c, true)
	if len(r.waiting) != 0 || r.free != 0 {
		t.Fatalf("line %d, free %d; want 0, 0", len(r.waiting), r.free)
	}
}
