package event

import (
	"fmt"
	"testing"
)

// TestMakeID pins the event id's form: 16 lowercase hex digits of the commit LSN, the
// change's sequence number (and part, when one message raises several), the event name.
func TestMakeID(t *testing.T) {
	for _, tc := range []struct {
		lsn  LSN
		seq  uint32
		part int
		name EventName
	}{
		{0, 0, -1, "Task.Create"}, {0x16B3A28, 7, -1, "Contact.Update"}, {0xFFFFFFFFFFFFFFFF, 4294967295, -1, "Opportunity.Won"},
		{0x16B3A28, 7, 0, "Task.Create"}, {0x16B3A28, 7, 12345, "Task.Create"},
	} {
		want := fmt.Sprintf("%016x-%d-%s", uint64(tc.lsn), tc.seq, tc.name)
		if tc.part >= 0 {
			want = fmt.Sprintf("%016x-%d.%d-%s", uint64(tc.lsn), tc.seq, tc.part, tc.name)
		}
		if got := string(MakeID(tc.lsn, tc.seq, tc.part, tc.name)); got != want {
			t.Errorf("MakeID(%d, %d, %d, %s) = %s, want %s", tc.lsn, tc.seq, tc.part, tc.name, got, want)
		}
	}
}

func BenchmarkMakeID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = MakeID(0x16B3A28, 123456, -1, "Task.Create")
	}
}
