package cdc

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
)

// resyncing is a collector that is also a Resyncer: it counts Resync calls, fails the
// first failFirst of them, and records how many had succeeded when each event arrived.
type resyncing struct {
	*collector
	failFirst int32
	calls     atomic.Int32
	atEvent   chan int32 // successful resyncs so far, per event
}

func (h *resyncing) Resync(context.Context) error {
	if n := h.calls.Add(1); n <= h.failFirst {
		return errors.New("webhook store unreachable")
	}
	return nil
}

func (h *resyncing) HandleEvent(ctx context.Context, ev *event.Event) error {
	h.atEvent <- h.calls.Load() - h.failFirst
	return h.collector.HandleEvent(ctx, ev)
}

// TestResyncBeforeEverySession checks that a Resyncer handler is resynced before each
// session streams: a failed resync ends the session (no event before a successful one),
// and a reconnect resyncs again before the next event.
func TestResyncBeforeEverySession(t *testing.T) {
	c := newCRM(t)
	h := &resyncing{collector: newCollector(), failFirst: 1, atEvent: make(chan int32, 64)}
	k := &killableConn{}
	r, err := New(Config{ConnString: c.DSN, Slot: c.Slot, Publication: "walhook", Mapping: c.Mapping,
		StandbyInterval: 100 * time.Millisecond, ReconnectBackoff: 20 * time.Millisecond, Logger: discardLogger(),
		AfterNetConnect: k.wrap})
	if err != nil {
		t.Fatal(err)
	}
	h.reader = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()
	t.Cleanup(func() { cancel(); <-done })

	c.Exec(t, `INSERT INTO crm.tasks (subject) VALUES ('resync 1')`)
	h.nextTxn(t)
	if got := <-h.atEvent; got != 1 {
		t.Errorf("first event after %d successful resyncs, want 1 (the failed one must end the session)", got)
	}
	k.kill()
	c.Exec(t, `INSERT INTO crm.tasks (subject) VALUES ('resync 2')`)
	for {
		_, evs := h.nextTxn(t)
		got := <-h.atEvent
		if evs[0].New == nil {
			t.Fatalf("unexpected event %s", evs[0].Name)
		}
		if v, _ := evs[0].New.Get("subject"); v.Text() != "resync 2" {
			continue // a replay of the first transaction after the reconnect
		}
		if got < 2 {
			t.Errorf("event after the reconnect came after %d successful resyncs, want 2", got)
		}
		break
	}
}
