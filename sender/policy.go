package sender

import (
	"math/rand/v2"
	"sync"
	"time"
)

// This file holds the timing policy — retry backoff, the chunk_delay schedule and the
// circuit breaker — apart from HTTP, so that it is tested under testing/synctest.

// backoff is the retry policy: exponential backoff with full jitter, capped, within a
// bounded window that starts at a chunk's first failure.
type backoff struct {
	min, max time.Duration
	window   time.Duration
	// rand returns a number in [0, n); nil means math/rand/v2.
	rand func(n int64) int64
}

// wait returns the wait before the next attempt after failed attempts (≥ 1): a draw,
// uniform over [min, ceiling], where ceiling = min·2^(failed−1) capped at max. The floor
// keeps a burst of failures from retrying at once; the jitter spreads retries of many
// chunks that failed together.
func (b backoff) wait(failed int) time.Duration {
	ceiling := b.max
	if shift := max(failed-1, 0); shift < 62 {
		if c := b.min << shift; c > 0 && c < b.max {
			ceiling = c
		}
	}
	span := int64(ceiling - b.min)
	if span <= 0 {
		return b.min
	}
	r := b.rand
	if r == nil {
		r = rand.Int64N
	}
	return b.min + time.Duration(r(span+1))
}

// next decides what follows a failed attempt at now of a chunk that first failed at
// firstFailed, after failed attempts in all, when the endpoint asked to wait retryAfter
// (0: no hint). It returns the time of the next attempt, or dead when the window is
// spent. Retry-After is honoured when it is longer than the backoff; no attempt is
// scheduled past the window's end, and the last one falls on it.
func (b backoff) next(firstFailed, now time.Time, failed int, retryAfter time.Duration) (at time.Time, dead bool) {
	end := firstFailed.Add(b.window)
	if !now.Before(end) {
		return time.Time{}, true
	}
	at = now.Add(max(b.wait(failed), retryAfter))
	if at.After(end) {
		at = end
	}
	return at, false
}

// schedule spaces a webhook's chunks by its chunk_delay. A burst is a run of chunks each
// formed before the previous chunk's due time plus chunk_delay; chunk N of a burst is
// due N × chunk_delay after chunk 0, which is due when it is formed. A chunk formed once
// the schedule has caught up starts a new burst. With chunk_delay 0 every chunk is due
// when formed.
type schedule struct {
	// next is the due time of the burst's next chunk; zero or past means idle.
	next time.Time
}

// due returns the due time of a chunk formed at formed and advances the schedule.
func (s *schedule) due(formed time.Time, delay time.Duration) time.Time {
	if delay <= 0 {
		s.next = time.Time{}
		return formed
	}
	at := formed
	if s.next.After(formed) {
		at = s.next
	}
	s.next = at.Add(delay)
	return at
}

// breaker is one webhook's circuit breaker. Closed, every attempt goes ahead. After
// threshold consecutive failures it opens for a cooldown: no chunk of the webhook is
// attempted, new chunks go to the durable queue. When the cooldown ends, exactly one
// attempt (the probe) is let through; its success closes the breaker, its failure opens
// it again with the cooldown doubled, up to max. Safe for concurrent use.
type breaker struct {
	threshold int
	base, max time.Duration

	mu        sync.Mutex
	failures  int
	cooldown  time.Duration // 0 while closed
	openUntil time.Time
	probing   bool
	succeeded time.Time // last success
}

// isOpen reports, without side effects, whether attempts are currently held back: the
// breaker is open and its cooldown runs, or a probe is in flight.
func (b *breaker) isOpen(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cooldown > 0 && (now.Before(b.openUntil) || b.probing)
}

// allow reports whether an attempt may go ahead now; when the breaker is open and its
// cooldown is over, the first caller becomes the probe and later callers are refused
// until the probe reports. retryAt is when a refused caller may ask again.
func (b *breaker) allow(now time.Time) (ok bool, retryAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.cooldown == 0:
		return true, time.Time{}
	case now.Before(b.openUntil):
		return false, b.openUntil
	case b.probing:
		return false, now.Add(b.base)
	}
	b.probing = true
	return true, time.Time{}
}

// success records a successful attempt: the breaker closes.
func (b *breaker) success() {
	b.mu.Lock()
	b.failures, b.cooldown, b.probing, b.openUntil = 0, 0, false, time.Time{}
	b.succeeded = time.Now()
	b.mu.Unlock()
}

// reset closes the breaker without recording a success (an operator redelivers).
func (b *breaker) reset() {
	b.mu.Lock()
	b.failures, b.cooldown, b.probing, b.openUntil = 0, 0, false, time.Time{}
	b.mu.Unlock()
}

// succeededSince reports whether an attempt succeeded at or after t.
func (b *breaker) succeededSince(t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.succeeded.IsZero() && !b.succeeded.Before(t)
}

// failure records a failed attempt at now and reports whether the breaker (re)opened.
func (b *breaker) failure(now time.Time) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures++
	if !b.probing && (b.cooldown > 0 || b.failures < b.threshold) {
		return false
	}
	b.probing = false
	if b.cooldown == 0 {
		b.cooldown = b.base
	} else {
		b.cooldown = min(2*b.cooldown, max(b.max, b.base))
	}
	b.openUntil = now.Add(b.cooldown)
	return true
}
