package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// PeakRSSBytes is this process's peak resident set size (VmHWM in /proc/self/status) since
// it started or since the last ResetPeakRSS, 0 if unknown.
func PeakRSSBytes() int64 { return statusKB("VmHWM:") * 1024 }

// RSSBytes is this process's resident set size now (VmRSS), 0 if unknown.
func RSSBytes() int64 { return statusKB("VmRSS:") * 1024 }

func statusKB(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// ResetPeakRSS sets this process's peak RSS (VmHWM) to its current RSS, by writing 5 to
// /proc/self/clear_refs (Linux 4.0 or newer), so that PeakRSSBytes measures one phase.
func ResetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak rss: %w", err)
	}
	return nil
}

// CPUTime is this process's user plus system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times (100 on every
// Linux platform Go supports).
const clockTicks = 100

// ProcessCPU is the user plus system CPU time process pid has used, read from
// /proc/PID/stat; the bench reads the server's WAL senders with it.
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time of process %d: malformed stat", pid)
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state); utime is field 14
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time of process %d: malformed stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read cpu time of process %d: malformed stat", pid)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
