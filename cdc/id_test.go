package cdc

import (
	"fmt"
	"testing"

	"github.com/walhook/walhook/event"
)

// TestMakeEventID pins the event id's form: 16 lowercase hex digits of the commit LSN,
// the change's sequence number, the event name.
func TestMakeEventID(t *testing.T) {
	for _, tc := range []struct {
		lsn  event.LSN
		seq  uint32
		name event.EventName
	}{
		{0, 0, "Task.Create"}, {0x16B3A28, 7, "Contact.Update"}, {0xFFFFFFFFFFFFFFFF, 4294967295, "Opportunity.Won"},
	} {
		want := fmt.Sprintf("%016x-%d-%s", uint64(tc.lsn), tc.seq, tc.name)
		if got := string(makeEventID(tc.lsn, tc.seq, tc.name)); got != want {
			t.Errorf("makeEventID(%d, %d, %s) = %s, want %s", tc.lsn, tc.seq, tc.name, got, want)
		}
	}
}

func BenchmarkMakeEventID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = makeEventID(0x16B3A28, 123456, "Task.Create")
	}
}
