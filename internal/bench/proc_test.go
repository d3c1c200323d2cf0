package bench

import (
	"os"
	"testing"
	"time"
)

// TestProcessMeasures: this process's CPU read from /proc agrees with getrusage within a
// few ticks, and its peak RSS resets to at most its current RSS.
func TestProcessMeasures(t *testing.T) {
	// Burn CPU, not wall time: the machine may be busy.
	for x := 0; CPUTime() < 300*time.Millisecond; x++ {
	}
	proc, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// /proc counts in 10 ms ticks, sampled: allow a few.
	if self := CPUTime(); proc < 200*time.Millisecond || proc > self+50*time.Millisecond {
		t.Errorf("/proc says %s, getrusage %s", proc, self)
	}
	if _, err := ProcessCPU(-1); err == nil {
		t.Error("read the CPU time of process -1")
	}
	if err := ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	if peak, now := PeakRSSBytes(), RSSBytes(); peak <= 0 || now <= 0 || peak > now+(4<<20) {
		t.Errorf("after a reset, peak RSS %d, RSS %d", peak, now)
	}
}
