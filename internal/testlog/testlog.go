// Package testlog helps tests read what walhook logs: a concurrency-safe buffer to point a
// slog handler at, and a reader for the JSON step log of "walhook setup".
package testlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// SetupSteps reads a JSON log of schema.Setup and returns each "setup step" record's
// result ("applied", "nothing to do") by step name. A line that is not JSON fails the test.
func SetupSteps(tb testing.TB, log string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for line := range strings.Lines(log) {
		var rec struct{ Msg, Step, Result string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "setup step" {
			out[rec.Step] = rec.Result
		}
	}
	return out
}
