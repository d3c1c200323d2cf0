package bench

import (
	"bytes"
	"cmp"
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

	mu sync.Mutex
	// arrivals are the items received, in order: distinct ones are counted when asked
	// (unique), not looked up in a map on every item — a map of a million keys cost the
	// receiver a seventh of its CPU in cache misses, on walhook's critical path.
	arrivals []arrival
	// uniq is how many distinct keys arrivals[:uniqOf] hold.
	uniq, uniqOf int
	stats        ReceiverStats
	cpu0         time.Duration // CPUTime at the last reset
	notify       chan struct{}
}

// NewReceiver returns a receiver checking signatures made with secret.
func NewReceiver(secret string) *Receiver {
	return &Receiver{Secret: secret, cpu0: CPUTime(), notify: make(chan struct{}, 1)}
}

// arrival is one item received: the FNV-64a of its webhook id and event id, and its
// commit-to-receipt latency (negative when its committed_at did not parse).
type arrival struct {
	key     uint64
	latency time.Duration
}

// unique returns how many distinct items arrived, counting again only when more arrived
// since it last counted. Call it holding r.mu.
func (r *Receiver) unique() int {
	if r.uniqOf != len(r.arrivals) {
		keys := make([]uint64, len(r.arrivals))
		for i, a := range r.arrivals {
			keys[i] = a.key
		}
		slices.Sort(keys)
		r.uniq, r.uniqOf = len(slices.Compact(keys)), len(keys)
	}
	return r.uniq
}

// firstLatencies returns the latencies of first receipts: every arrival's when none was
// a redelivery, else the earliest arrival's of each item. Call it holding r.mu.
func (r *Receiver) firstLatencies() []time.Duration {
	firsts := r.arrivals
	if r.unique() < len(r.arrivals) {
		idx := make([]int, len(r.arrivals))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(r.arrivals[a].key, r.arrivals[b].key) })
		firsts = make([]arrival, 0, r.uniq)
		for k, i := range idx {
			if k == 0 || r.arrivals[i].key != r.arrivals[idx[k-1]].key {
				firsts = append(firsts, r.arrivals[i])
			}
		}
	}
	l := make([]time.Duration, 0, len(firsts))
	for _, a := range firsts {
		if a.latency >= 0 {
			l = append(l, a.latency)
		}
	}
	return l
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
		if lastAt == nil || !bytes.Equal(lastAt, it.committedAt) {
			at, err := time.Parse(time.RFC3339Nano, string(it.committedAt))
			lastAt, lastLatency = it.committedAt, now.Sub(at)
			if err != nil {
				lastLatency = -1
			}
		}
		r.arrivals = append(r.arrivals, arrival{key: h.Sum64(), latency: lastLatency})
	}
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
	r.arrivals, r.uniq, r.uniqOf = nil, 0, 0
	r.stats = ReceiverStats{}
	r.cpu0 = CPUTime()
}

// Stats returns the counts and latency percentiles so far.
func (r *Receiver) Stats() ReceiverStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.CPU = CPUTime() - r.cpu0
	s.Unique = r.unique()
	if l := r.firstLatencies(); len(l) > 0 {
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
		// Count distinct items only when there could be enough: at most every arrival
		// since the last count is new. With redeliveries, recounting (a sort, under the
		// lock the deliveries wait for) on every delivery would slow the run it measures.
		got := r.uniq + len(r.arrivals) - r.uniqOf
		if got >= n {
			got = r.unique()
		}
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
