package cdc

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
)

// inboundMsg is a transactional logical decoding message of a landed inbound call.
func inboundMsg(content []byte) []byte {
	w := wire{'M'}.u8(1).u64(0).str(event.InboundPrefix).u32(uint32(len(content)))
	return append(w, content...)
}

// TestInboundMessageRaisesEvent: a landed call raises one event named by its key, entity
// Inbound, entity id the call id, the call object as its data, ordered by its inbound
// webhook's uuid, with an id from the commit LSN and its place in the transaction; a
// malformed one raises nothing and does not stop the reader.
func TestInboundMessageRaisesEvent(t *testing.T) {
	d, rec := newTestDecoder(t)
	const u = "c9efa584-dedd-4e10-898c-dd57e59977c5"
	call := `{"uuid":"` + u + `","eventKey":"webhook.a.b","body":{"x":1}}`
	names := run(t, d, rec, skipKeyMsg("loop"), inboundMsg([]byte("not an inbound message")),
		inboundMsg(event.AppendInboundMessage(nil, "call-1", "webhook.a.b", []byte(call))))
	if diff := cmp.Diff([]string{"webhook.a.b"}, names); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	ev := rec.events[0]
	if ev.ID != "0000000000001000-1-webhook.a.b" || ev.Entity != event.EntityInbound || ev.EntityID != "call-1" ||
		string(ev.Data) != call || ev.OrderKey != u || ev.New != nil {
		t.Errorf("event: %+v", ev)
	}
	if diff := cmp.Diff([]string{"loop"}, ev.SkipKeys); diff != "" {
		t.Errorf("skip keys (-want +got):\n%s", diff)
	}
	if len(rec.commits) != 1 || rec.commits[0].Events != 1 {
		t.Errorf("commit: %+v", rec.commits)
	}
}
