package testwait_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/testwait"
)

// fakeTB records a fatal failure and stops the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	failure string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failure = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls wait with a fakeTB on its own goroutine and returns the failure, if any.
func run(wait func(tb testing.TB)) string {
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait(f)
	}()
	<-done
	return f.failure
}

func TestUntil(t *testing.T) {
	t.Run("done", func(t *testing.T) {
		polls := 0
		failure := run(func(tb testing.TB) {
			testwait.Until(tb, time.Minute, "the third poll", func() (bool, string, error) {
				polls++
				return polls == 3, fmt.Sprintf("poll %d", polls), nil
			})
		})
		if failure != "" || polls != 3 {
			t.Errorf("failure %q after %d polls; want none after 3", failure, polls)
		}
	})
	t.Run("timeout names the last status", func(t *testing.T) {
		polls := 0
		failure := run(func(tb testing.TB) {
			testwait.Until(tb, 20*time.Millisecond, "the impossible", func() (bool, string, error) {
				polls++
				return false, fmt.Sprintf("poll %d", polls), nil
			})
		})
		want := fmt.Sprintf("waiting for the impossible: not done within 20ms; last status: poll %d", polls)
		if failure != want || polls < 2 {
			t.Errorf("failure %q after %d polls; want %q", failure, polls, want)
		}
	})
	t.Run("error fails at once", func(t *testing.T) {
		polls := 0
		failure := run(func(tb testing.TB) {
			testwait.Until(tb, time.Minute, "a row", func() (bool, string, error) {
				polls++
				return false, "", errors.New("connection refused")
			})
		})
		if failure != "waiting for a row: connection refused" || polls != 1 {
			t.Errorf("failure %q after %d polls", failure, polls)
		}
	})
}

func TestFor(t *testing.T) {
	failure := run(func(tb testing.TB) {
		testwait.For(tb, 10*time.Millisecond, "never", func() bool { return false })
	})
	if !strings.HasPrefix(failure, "waiting for never: not done within 10ms; last status: (none reported)") {
		t.Errorf("failure %q", failure)
	}
	ok := false
	if failure := run(func(tb testing.TB) {
		testwait.For(tb, time.Minute, "at once", func() bool { ok = true; return true })
	}); failure != "" || !ok {
		t.Errorf("failure %q, polled %v", failure, ok)
	}
}
