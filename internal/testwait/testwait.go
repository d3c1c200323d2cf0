// Package testwait waits in tests for a condition, never for a duration: it polls the
// condition until it holds, and when it does not hold in time fails the test with the
// condition's last status, so the failure says how far things got.
//
// The timeout only bounds a wait that would otherwise hang; it is not an assertion about
// speed, so make it generous. Polling starts at once and backs off from 1ms to 50ms, so a
// condition that holds quickly costs little time and a slow one little CPU. Call Until and
// For from the test's goroutine only: they stop the test with tb.Fatalf.
package testwait

import (
	"testing"
	"time"
)

// maxInterval is the longest pause between two polls.
const maxInterval = 50 * time.Millisecond

// Until polls cond until it reports done. It fails tb at once when cond returns an error,
// and after timeout with what and cond's last status. what names the awaited effect
// ("the slot to be confirmed"); status says where things stand ("confirmed 0/16B3A28,
// want 0/16B3B00").
func Until(tb testing.TB, timeout time.Duration, what string, cond func() (done bool, status string, err error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for {
		done, status, err := cond()
		if err != nil {
			tb.Fatalf("waiting for %s: %v", what, err)
			return
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: not done within %s; last status: %s", what, timeout, orNone(status))
			return
		}
		time.Sleep(interval)
		interval = min(2*interval, maxInterval)
	}
}

// For polls cond until it holds, failing tb after timeout. It is Until for a condition
// with no status to report; prefer Until when the state is worth reading in a failure.
func For(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	Until(tb, timeout, what, func() (bool, string, error) { return cond(), "", nil })
}

func orNone(status string) string {
	if status == "" {
		return "(none reported)"
	}
	return status
}
