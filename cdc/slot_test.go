package cdc

import (
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"
)

// TestResumeReason pins when a remembered position is declared not valid on the server.
func TestResumeReason(t *testing.T) {
	sys := origin{system: "7300000000000000001", timeline: 1}
	slot := slotInfo{confirmed: 0x2000, serverEnd: 0x9000}
	for _, tc := range []struct {
		name       string
		remembered pglogrepl.LSN
		was, now   origin
		slot       slotInfo
		want       string // substring; "" for valid
	}{
		{"first session", 0, origin{}, sys, slot, ""},
		{"no origin yet", 0x3000, origin{}, sys, slot, ""},
		{"same server, ahead of the slot", 0x3000, sys, sys, slot, ""},
		{"same server, at the slot", 0x2000, sys, sys, slot, ""},
		{"replaced database", 0x3000, sys, origin{system: "7300000000000000002", timeline: 1}, slot, "system identifier changed"},
		{"failover", 0x3000, sys, origin{system: sys.system, timeline: 2}, slot, "timeline changed"},
		{"past the WAL end", 0xa000, sys, sys, slot, "past the server's WAL end"},
		{"slot recreated", 0x1000, sys, sys, slot, "slot was recreated"},
	} {
		got := resumeReason(tc.remembered, tc.was, tc.now, tc.slot)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: resumeReason = %q, want %q", tc.name, got, tc.want)
		}
	}
}
