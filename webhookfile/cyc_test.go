package webhookfile

import (
	"context"
	"testing"
	"time"
)

func TestCyclicAlias(t *testing.T) {
	start := time.Now()
	_, err := Parse(context.Background(), "f", []byte("space: s\nwebhooks:\n  - &x {name: a, url: u, events: [x], options: {o: *x}}\n"), env(nil), fakeCheck)
	t.Logf("%v in %v", err, time.Since(start))
}
