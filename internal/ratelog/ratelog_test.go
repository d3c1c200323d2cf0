package ratelog

import (
	"fmt"
	"testing"
	"time"
)

func TestAllowOncePerIntervalAndCountSuppressed(t *testing.T) {
	l := New(time.Minute)
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		key        string
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", time.Second, true, 0},
		{"a", 30 * time.Second, false, 0},
		{"a", time.Minute, true, 2},
		{"a", time.Minute + time.Second, false, 0},
	} {
		ok, n := l.Allow(c.key, t0.Add(c.at))
		if ok != c.ok || n != c.suppressed {
			t.Errorf("step %d: Allow(%q, +%s) = %t, %d; want %t, %d", i, c.key, c.at, ok, n, c.ok, c.suppressed)
		}
	}
}

func TestKeysAreBounded(t *testing.T) {
	l := New(time.Second)
	t0 := time.Unix(1000, 0)
	for i := range 10 * maxKeys {
		l.Allow(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond*10))
	}
	if n := len(l.seen); n > maxKeys+200 {
		t.Errorf("%d keys held, want about %d at most", n, maxKeys)
	}
}
