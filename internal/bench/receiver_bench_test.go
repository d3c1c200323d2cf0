package bench

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkReceiverServe: one delivery of 100 task items, as walhook renders them, through
// the receiver's handler (signature check, scan, dedup, latency).
func BenchmarkReceiverServe(b *testing.B) {
	at := time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00")
	r := NewReceiver(testSecret)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		var items []string
		for range 100 {
			n++
			items = append(items, fmt.Sprintf(`{"id":"00000000AB000000-%d-Task.Create","event":"Task.Create","entity":"Task","entity_id":"%d","committed_at":%q,"lsn":"0/AB000000","xid":7,"data":{"id":"%d","subject":"insert_0 %d","owner_id":"c2000000-0000-4000-8000-000000000007","due_date":"2026-03-04","priority":2,"done":false,"created_at":"2026-11-30T14:25:42.123456Z","updated_at":"2026-11-30T14:25:42.123456Z","deal_id":null,"contact_id":null,"notes":null},"previous":null,"changed_fields":null,"related_entity":null,"truncated":null}`, n, n, at, n, n))
		}
		serveDelivery(b, r, "w1", items)
	}
}
