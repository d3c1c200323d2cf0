// Package ratelog rate-limits repeated log lines in loops: per key, the first line goes
// through, then at most one per interval, carrying the number suppressed in between. It
// holds at most the keys of roughly the last interval, so an unbounded set of keys (one
// per webhook) cannot grow it without bound.
package ratelog

import (
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Limiter is safe for concurrent use. The zero value is not usable; call New.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[string]*entry
}

type entry struct {
	last       time.Time
	suppressed int
}

// maxKeys is the size past which keys quiet for an interval are forgotten.
const maxKeys = 1024

// New returns a Limiter letting one line per key through per interval.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, seen: map[string]*entry{}}
}

// Allow reports whether a line for key may be logged at now, and how many were
// suppressed since the last one that was.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, found := l.seen[key]
	if found && now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	if !found {
		if len(l.seen) >= maxKeys {
			maps.DeleteFunc(l.seen, func(_ string, e *entry) bool { return now.Sub(e.last) >= l.every })
		}
		e = &entry{}
		l.seen[key] = e
	}
	suppressed, e.suppressed, e.last = e.suppressed, 0, now
	return true, suppressed
}

// Warn logs msg with args at warning level unless a line for key went out within the
// interval; a line that follows suppressed ones says how many ("suppressed").
func (l *Limiter) Warn(log *slog.Logger, key, msg string, args ...any) {
	ok, suppressed := l.Allow(key, time.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	log.Warn(msg, args...)
}
