package bench

import (
	"bytes"
	"hash/fnv"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/walhook/walhook/internal/demo"
)

// Receiver is the benchmark's endpoint: it verifies every signature, counts unique event
// ids per webhook, and records each item's commit-to-receipt latency. It runs in its own
// process (ServeReceiver), so its CPU and memory are not counted as walhook's.
type Receiver struct {
	Secret string

	mu        sync.Mutex
	seen      map[uint64]struct{} // FNV-64a of webhook id + event id: 8 bytes per item
	latencies []time.Duration
	stats     ReceiverStats
	cpu0      time.Duration // CPUTime at the last reset
	notify    chan struct{}
}

// NewReceiver returns a receiver checking signatures made with secret.
func NewReceiver(secret string) *Receiver {
	return &Receiver{Secret: secret, seen: make(map[uint64]struct{}), cpu0: CPUTime(), notify: make(chan struct{}, 1)}
}

// ReceiverStats is what a receiver counted since it was last reset.
type ReceiverStats struct {
	// Requests counts deliveries whose signature verified.
	Requests int `json:"requests"`
	// Items counts the items of those deliveries, Unique the distinct (webhook, event id)
	// pairs among them; Items - Unique are redeliveries.
	Items  int `json:"items"`
	Unique int `json:"unique"`
	// BadSignatures counts deliveries refused with 401; NotDeliveries bodies that were not
	// walhook deliveries (400).
	BadSignatures int `json:"bad_signatures"`
	NotDeliveries int `json:"not_deliveries"`
	// First and Last are when the first and the last delivery arrived (zero before any).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// LatencyP50/P95/P99 are commit-to-receipt latencies of first receipts.
	LatencyP50 time.Duration `json:"latency_p50_ns"`
	LatencyP95 time.Duration `json:"latency_p95_ns"`
	LatencyP99 time.Duration `json:"latency_p99_ns"`
	// CPU is the receiver process's CPU time since the reset: a receiver near a full core
	// would be the bottleneck, not walhook.
	CPU time.Duration `json:"cpu_ns"`
}

// benchItem is what the receiver reads of an item: slices of the body.
type benchItem struct {
	id          []byte
	committedAt []byte
}

// scanDelivery reads the webhook id and each item's id and committed_at from a delivery
// body without decoding all of it: the receiver shares the machine with walhook and the
// server, and full JSON decoding cost it a third of the process's CPU. It relies on the
// key order walhook writes ({"webhook_id", …, "items": [{"id", "event", …, "committed_at"…}]})
// and reports false for any body not of that shape.
func scanDelivery(body []byte) (webhookID []byte, items []benchItem, ok bool) {
	webhookID, rest, ok := stringAfter(body, `{"webhook_id":"`)
	if !ok {
		return nil, nil, false
	}
	items = make([]benchItem, 0, 100)
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
			return nil, nil, false
		}
		items = append(items, it)
	}
}

// stringAfter finds key in b and returns the JSON string value that follows (up to the
// next quote; walhook's ids and timestamps hold no escapes), a slice of b, and the rest
// after it.
func stringAfter(b []byte, key string) ([]byte, []byte, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil, nil, false
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return nil, nil, false
	}
	return b[:j:j], b[j+1:], true
}

// bodies holds the receiver's request buffers: deliveries are read into a reused buffer
// sized from Content-Length, not grown from 512 bytes by io.ReadAll.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// ServeHTTP verifies and records one delivery. The receiver runs on the machine it
// measures, and every delivery to a webhook waits for the previous one's answer: its cost
// per request is on walhook's critical path, so it is kept small (one buffer per request,
// no allocation per item, one time.Parse per commit time).
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := bodies.Get().(*bytes.Buffer)
	defer bodies.Put(buf)
	buf.Reset()
	if req.ContentLength > 0 && req.ContentLength < 64<<20 {
		buf.Grow(int(req.ContentLength))
	}
	if _, err := buf.ReadFrom(req.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	now := time.Now()
	if !demo.Verify(r.Secret, body, req.Header.Get("WebHook-Signature")) {
		r.mu.Lock()
		r.stats.BadSignatures++
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	webhookID, items, ok := scanDelivery(body)
	if !ok {
		r.mu.Lock()
		r.stats.NotDeliveries++
		r.mu.Unlock()
		http.Error(w, "not a walhook delivery", http.StatusBadRequest)
		return
	}
	h := fnv.New64a()
	var lastAt []byte // the last committed_at parsed, and its latency
	var lastLatency time.Duration
	lastOK := false
	r.mu.Lock()
	if r.stats.First.IsZero() {
		r.stats.First = now
	}
	r.stats.Last = now
	r.stats.Requests++
	r.stats.Items += len(items)
	for _, it := range items {
		h.Reset()
		h.Write(webhookID)
		h.Write([]byte{'/'})
		h.Write(it.id)
		key := h.Sum64()
		if _, dup := r.seen[key]; dup {
			continue
		}
		r.seen[key] = struct{}{}
		if lastAt == nil || !bytes.Equal(lastAt, it.committedAt) {
			at, err := time.Parse(time.RFC3339Nano, string(it.committedAt))
			lastAt, lastLatency, lastOK = it.committedAt, now.Sub(at), err == nil
		}
		if lastOK {
			r.latencies = append(r.latencies, lastLatency)
		}
	}
	r.stats.Unique = len(r.seen)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// Reset forgets everything received, for the next phase.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = make(map[uint64]struct{})
	r.latencies = nil
	r.stats = ReceiverStats{}
	r.cpu0 = CPUTime()
}

// Stats returns the counts and latency percentiles so far.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.CPU = CPUTime() - r.cpu0
	if len(r.latencies) > 0 {
		l := slices.Clone(r.latencies)
		slices.Sort(l)
		s.LatencyP50, s.LatencyP95, s.LatencyP99 = percentile(l, 50), percentile(l, 95), percentile(l, 99)
	}
	return s
}

// percentile returns the p-th percentile (0–100) of sorted, by nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(p/100*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

// Wait blocks until at least n distinct items arrived or the deadline passes; it reports
// whether they did.
func (r *Receiver) Wait(n int, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		r.mu.Lock()
		got := len(r.seen)
		r.mu.Unlock()
		if got >= n {
			return true
		}
		select {
		case <-r.notify:
		case <-t.C:
			return false
		}
	}
}
