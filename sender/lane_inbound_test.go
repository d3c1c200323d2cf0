package sender

import (
	"fmt"
	"testing"

	"github.com/walhook/walhook/event"
)

// TestLaneOfOrderKey: events with one OrderKey (the calls of one inbound webhook) share a
// lane whatever their entity ids, so they keep their order with several lanes.
func TestLaneOfOrderKey(t *testing.T) {
	lanes := map[int]bool{}
	plain := map[int]bool{}
	for i := range 50 {
		id := fmt.Sprintf("call-%d", i)
		lanes[laneOf(&event.Event{Entity: event.EntityInbound, EntityID: id, OrderKey: "u1"}, 8)] = true
		plain[laneOf(&event.Event{Entity: event.EntityInbound, EntityID: id}, 8)] = true
	}
	if len(lanes) != 1 {
		t.Errorf("calls of one inbound webhook spread over %d lanes", len(lanes))
	}
	if len(plain) < 2 {
		t.Errorf("without an order key, 50 entity ids used %d lane(s): the hash ignores entity ids", len(plain))
	}
}
