package sender

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/internal/jsonx"
)

// eventPerRequest is a test-only payload format grouped as the Pipedrive dialect will be
// (DESIGN.md §12): one event per request, its body {"delivery_id": …, "event": ITEM}.
type eventPerRequest struct{}

func (eventPerRequest) requests(_ string, items []json.RawMessage, _ int) ([]span, bool) {
	out := make([]span, len(items))
	for i := range items {
		out[i] = span{i, i + 1}
	}
	return out, false
}

func (eventPerRequest) appendBody(dst []byte, _ string, id uuid.UUID, items []json.RawMessage) []byte {
	dst = append(dst, `{"delivery_id":`...)
	dst = jsonx.AppendString(dst, id.String())
	dst = append(dst, `,"event":`...)
	dst = append(dst, items[0]...)
	return append(dst, '}')
}

// TestFormatPlugsIn: a second format, selected by the webhook, changes how a chunk's events
// become requests without any change to the send loop: one request per event, in commit
// order, each with the delivery id of its one event and signed over its own body.
func TestFormatPlugsIn(t *testing.T) {
	pool := stateDB(t)
	rc := newReceiver(t, nil)
	s, a := startSender(t, testConfig(), pool)
	s.formats["test-event-per-request"] = eventPerRequest{} // before the first Add starts a loop
	wh := newWebhook(rc.srv.URL)
	wh.Format, wh.Signature = "test-event-per-request", "k"
	var g gen
	evs, txn := g.txn(3, oneEach)
	feed(t, s, wh, evs, txn)

	for i, ev := range evs {
		r := rc.next(t)
		var body struct {
			DeliveryID string `json:"delivery_id"`
			Event      struct {
				ID string `json:"id"`
			} `json:"event"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, r.body)
		}
		want := deliveryID(wh.ID, ev.ID, ev.ID).String()
		if body.Event.ID != string(ev.ID) || body.DeliveryID != want || r.header.Get("Webhook-Id") != want {
			t.Errorf("request %d: event %s, delivery id %s, Webhook-Id %s; want event %s, delivery id %s",
				i, body.Event.ID, body.DeliveryID, r.header.Get("Webhook-Id"), ev.ID, want)
		}
		if got := r.header.Get("WebHook-Signature"); got != signPipeliner(wh.Signature, r.body) {
			t.Errorf("request %d: signature %s does not sign its body", i, got)
		}
	}
	a.wait(t, txn.EndLSN)
	eventually(t, "memory released", func() bool { return s.mem.Load() == 0 })
	if got := testutil.ToFloat64(s.met.splits); got != 0 {
		t.Errorf("walhook_chunk_splits_total = %v, want 0: the format's grouping is no split", got)
	}
}

// TestPipelinerRequests: Pipeliner's format sends a chunk whole while its body fits, and
// splits it, counted as a cut, when it would not.
func TestPipelinerRequests(t *testing.T) {
	items := []json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`{"b":2}`), json.RawMessage(`{"c":3}`)}
	f := pipelinerChunk{}
	if spans, cut := f.requests("w", items, bodySize("w", items)); len(spans) != 1 || spans[0] != (span{0, 3}) || cut {
		t.Errorf("fitting chunk: %v cut=%v, want one span of all, no cut", spans, cut)
	}
	if spans, cut := f.requests("w", items, bodySize("w", items[:2])); len(spans) != 2 || !cut {
		t.Errorf("chunk past the bound: %v cut=%v, want two spans, cut", spans, cut)
	}
	body := f.appendBody(nil, "w", uuid.Nil, items)
	if !json.Valid(body) || len(body) > bodySize("w", items) {
		t.Errorf("body %s: want JSON within bodySize %d", body, bodySize("w", items))
	}
}
