package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanDelivery(t *testing.T) {
	body := []byte(`{"webhook_id":"w1","delivery_id":"d","items":[` +
		`{"id":"0000000000001000-1-Task.Create","event":"Task.Create","entity":"Task","entity_id":"1","committed_at":"2026-11-23T12:00:00.000001Z","lsn":"0/1000","xid":7,"data":{"id":"a uuid","note":"{\"id\":\"x\""},"previous":null,"changed_fields":null,"related_entity":null},` +
		`{"id":"0000000000001000-2-Task.Create","event":"Task.Create","entity":"Task","entity_id":"2","committed_at":"2026-11-23T12:00:00.000002Z","lsn":"0/1000","xid":7,"data":{"id":2},"previous":null,"changed_fields":null,"related_entity":null}]}`)
	wh, items, ok := scanDelivery(body)
	want := []benchItem{{"0000000000001000-1-Task.Create", "2026-11-23T12:00:00.000001Z"}, {"0000000000001000-2-Task.Create", "2026-11-23T12:00:00.000002Z"}}
	if !ok || wh != "w1" {
		t.Fatalf("ok=%v webhook=%q", ok, wh)
	}
	if diff := cmp.Diff(want, items, cmp.AllowUnexported(benchItem{})); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if _, _, ok := scanDelivery([]byte(`{"other":1}`)); ok {
		t.Error("accepted a body that is not a delivery")
	}
}
