package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoffUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := backoff{min: time.Second, max: time.Minute, window: time.Hour}
		first := time.Now()
		var waits []time.Duration
		for failed := 1; ; failed++ {
			now := time.Now()
			at, dead := b.next(first, now, failed, 0)
			if dead {
				break
			}
			ceiling := time.Minute
			if failed <= 6 {
				ceiling = time.Second << (failed - 1)
			}
			// The last attempt falls on the window's end, however short or long its wait.
			if w := at.Sub(now); (w < time.Second || w > ceiling) && !at.Equal(first.Add(time.Hour)) {
				t.Fatalf("attempt %d: wait %v outside [1s, %v]", failed, w, ceiling)
			}
			waits = append(waits, at.Sub(now))
			time.Sleep(time.Until(at))
		}
		if elapsed := time.Since(first); elapsed != time.Hour {
			t.Errorf("dead after %v, want exactly the window (1h): the last attempt falls on its end", elapsed)
		}
		if len(waits) < 60 {
			t.Errorf("only %d retries in an hour with a 1m cap", len(waits))
		}
	})
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	b := backoff{min: time.Second, max: time.Minute, window: 24 * time.Hour, rand: func(n int64) int64 { return 0 }}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at, _ := b.next(now, now, 1, 10*time.Minute)
	if at.Sub(now) != 10*time.Minute {
		t.Errorf("wait %v, want the Retry-After of 10m", at.Sub(now))
	}
	at, _ = b.next(now, now.Add(23*time.Hour+59*time.Minute), 5, time.Hour)
	if !at.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("retry at %v, want the end of the window", at)
	}
	if _, dead := b.next(now, now.Add(24*time.Hour), 9, 0); !dead {
		t.Error("not dead at the end of the window")
	}
}

func TestChunkDelaySchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var s schedule
		const d = 300 * time.Second
		t0 := time.Now()
		// A burst: four chunks formed at once are due 0, 1, 2, 3 × chunk_delay after chunk 0.
		for n := range 4 {
			if got := s.due(time.Now(), d); got.Sub(t0) != time.Duration(n)*d {
				t.Errorf("chunk %d due %v after chunk 0, want %v", n, got.Sub(t0), time.Duration(n)*d)
			}
		}
		// Formed before the burst caught up: chunk 4 of the same burst.
		time.Sleep(10 * time.Minute)
		if got := s.due(time.Now(), d); got.Sub(t0) != 4*d {
			t.Errorf("chunk 4 due %v after chunk 0, want %v", got.Sub(t0), 4*d)
		}
		// Once the schedule is idle (chunk 4's due + chunk_delay passed), a new burst starts.
		time.Sleep(time.Until(t0.Add(5 * d)))
		t1 := time.Now()
		if got := s.due(t1, d); !got.Equal(t1) {
			t.Errorf("first chunk of a new burst due %v after forming, want at once", got.Sub(t1))
		}
		if got := s.due(time.Now(), 0); !got.Equal(time.Now()) {
			t.Error("chunk_delay 0: chunk not due when formed")
		}
	})
}

func TestBreakerUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &breaker{threshold: 3, base: time.Minute, max: 4 * time.Minute}
		for range 2 {
			if b.failure(time.Now()) {
				t.Fatal("opened before the threshold")
			}
		}
		if !b.failure(time.Now()) || !b.isOpen(time.Now()) {
			t.Fatal("not open after 3 consecutive failures")
		}
		if ok, at := b.allow(time.Now()); ok || at.Sub(time.Now()) != time.Minute {
			t.Fatalf("allowed while open (retry at +%v)", at.Sub(time.Now()))
		}
		time.Sleep(time.Minute)
		if ok, _ := b.allow(time.Now()); !ok {
			t.Fatal("no probe after the cooldown")
		}
		if ok, _ := b.allow(time.Now()); ok {
			t.Fatal("a second request while the probe is in flight")
		}
		b.failure(time.Now()) // failed probe: cooldown doubles
		time.Sleep(time.Minute)
		if ok, _ := b.allow(time.Now()); ok {
			t.Fatal("probe after 1m, want the doubled cooldown of 2m")
		}
		time.Sleep(time.Minute)
		if ok, _ := b.allow(time.Now()); !ok {
			t.Fatal("no probe after the doubled cooldown")
		}
		b.success()
		if b.isOpen(time.Now()) {
			t.Fatal("open after a successful probe")
		}
		if ok, _ := b.allow(time.Now()); !ok {
			t.Fatal("closed breaker refused")
		}
	})
}

// timeoutErr is an error that knows it is a timeout.
type timeoutErr struct{}

func (timeoutErr) Error() string { return "i/o timeout" }
func (timeoutErr) Timeout() bool { return true }

func TestClassify(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hdr := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		err    error
		want   verdict
	}{
		{"200", 200, nil, nil, verdict{Outcome: OutcomeDelivered}},
		{"204", 204, nil, nil, verdict{Outcome: OutcomeDelivered}},
		{"301 not followed", 301, nil, nil, verdict{Outcome: OutcomeHTTPError, Retry: true}},
		{"400 retried", 400, nil, nil, verdict{Outcome: OutcomeHTTPError, Retry: true}},
		{"410 gone", 410, nil, nil, verdict{Outcome: OutcomeHTTPError, Retry: true, Gone: true}},
		{"429 seconds", 429, hdr("120"), nil, verdict{Outcome: OutcomeHTTPError, Retry: true, RetryAfter: 2 * time.Minute}},
		{"503 date", 503, hdr("Thu, 01 Jan 2026 00:05:00 GMT"), nil, verdict{Outcome: OutcomeHTTPError, Retry: true, RetryAfter: 5 * time.Minute}},
		{"503 past date", 503, hdr("Wed, 31 Dec 2025 00:00:00 GMT"), nil, verdict{Outcome: OutcomeHTTPError, Retry: true}},
		{"500 junk", 500, hdr("soon"), nil, verdict{Outcome: OutcomeHTTPError, Retry: true}},
		{"deadline", 0, nil, fmt.Errorf("post: %w", context.DeadlineExceeded), verdict{Outcome: OutcomeTimeout, Retry: true}},
		{"net timeout", 0, nil, &net.OpError{Op: "read", Err: timeoutErr{}}, verdict{Outcome: OutcomeTimeout, Retry: true}},
		{"refused", 0, nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, verdict{Outcome: OutcomeConnectionError, Retry: true}},
		{"blocked", 0, nil, fmt.Errorf("dial: %w", errForbiddenTarget), verdict{Outcome: OutcomeBlocked, Retry: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.status, tc.header, tc.err, now); got != tc.want {
				t.Errorf("classify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "none", 200: "2xx", 302: "3xx", 404: "4xx", 599: "5xx", 700: "other", 101: "1xx"} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "120", "99999999999999999999", "Thu, 01 Jan 2026 00:05:00 GMT", "", "-1", "1.5", " 3 "} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if !ok && d != 0 {
			t.Fatalf("%q: unparsed but wait %v", v, d)
		}
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("%q: wait %v out of [0, %v]", v, d, maxRetryAfter)
		}
	})
}
