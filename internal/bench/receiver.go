package bench

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/walhook/walhook/internal/demo"
)

// Receiver is the benchmark's endpoint: it verifies every signature, counts unique event
// ids per webhook, and records each item's commit-to-receipt latency.
type Receiver struct {
	Secret string

	mu        sync.Mutex
	seen      map[string]struct{} // webhook id + event id
	latencies []time.Duration
	badSig    int
	first     time.Time
	last      time.Time
	notify    chan struct{}
}

// NewReceiver returns a receiver checking signatures made with secret.
func NewReceiver(secret string) *Receiver {
	return &Receiver{Secret: secret, seen: make(map[string]struct{}), notify: make(chan struct{}, 1)}
}

// benchItem is what the receiver reads of an item.
type benchItem struct {
	id          string
	committedAt string
}

// scanDelivery reads the webhook id and each item's id and committed_at from a delivery
// body without decoding all of it: the receiver shares the machine with walhook and the
// server, and full JSON decoding cost it a third of the process's CPU. It relies on the
// key order walhook writes ({"webhook_id", …, "items": [{"id", "event", …, "committed_at"…}]})
// and reports false for any body not of that shape.
func scanDelivery(body []byte) (webhookID string, items []benchItem, ok bool) {
	webhookID, rest, ok := stringAfter(body, `{"webhook_id":"`)
	if !ok {
		return "", nil, false
	}
	for {
		var it benchItem
		var found bool
		if it.id, rest, found = stringAfter(rest, `{"id":"`); !found {
			return webhookID, items, len(items) > 0
		}
		if !bytes.HasPrefix(rest, []byte(`,"event":"`)) {
			continue // an "id" inside a row, not an item's
		}
		if it.committedAt, rest, found = stringAfter(rest, `"committed_at":"`); !found {
			return "", nil, false
		}
		items = append(items, it)
	}
}

// stringAfter finds key in b and returns the JSON string value that follows (up to the
// next quote; walhook's ids and timestamps hold no escapes) and the rest after it.
func stringAfter(b []byte, key string) (string, []byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "", nil, false
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return "", nil, false
	}
	return string(b[:j]), b[j+1:], true
}

// ServeHTTP verifies and records one delivery.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	if !demo.Verify(r.Secret, body, req.Header.Get("WebHook-Signature")) {
		r.mu.Lock()
		r.badSig++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	webhookID, items, ok := scanDelivery(body)
	if !ok {
		http.Error(w, "not a walhook delivery", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if r.first.IsZero() {
		r.first = now
	}
	r.last = now
	for _, it := range items {
		key := webhookID + "/" + it.id
		if _, dup := r.seen[key]; dup {
			continue
		}
		r.seen[key] = struct{}{}
		if at, err := time.Parse(time.RFC3339Nano, it.committedAt); err == nil {
			r.latencies = append(r.latencies, now.Sub(at))
		}
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// Unique returns the number of distinct (webhook, event) pairs received.
func (r *Receiver) Unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// Wait blocks until at least n distinct items arrived or the deadline passes; it reports
// whether they did.
func (r *Receiver) Wait(n int, deadline time.Time) bool {
	for r.Unique() < n {
		select {
		case <-r.notify:
		case <-time.After(time.Until(deadline)):
			return r.Unique() >= n
		}
	}
	return true
}

// Latency returns the p-th percentile (0–100) of commit-to-receipt latency.
func (r *Receiver) Latency(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	i := int(p / 100 * float64(len(l)-1))
	return l[i]
}

// Span returns the time between the first and the last delivery received.
func (r *Receiver) Span() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.Sub(r.first)
}

// BadSignatures counts deliveries whose signature did not verify.
func (r *Receiver) BadSignatures() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.badSig
}

// PeakRSSBytes is the process's peak resident set size (VmHWM), 0 if unknown.
func PeakRSSBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// CPUTime is the process's user plus system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
