package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Figures are one run's measurements. Peak RSS and CPU are the bench process's during
// walhook's phase (from walhook's start to the last receipt): walhook, plus the runner's
// waiting and, in the live workload, its writer; never the receiver's or the server's.
type Figures struct {
	Workload string `json:"workload"`
	// Rows is how many rows the workload changed, in Transactions of TxRows.
	Rows         int `json:"rows"`
	TxRows       int `json:"tx_rows"`
	Transactions int `json:"transactions"`
	Webhooks     int `json:"webhooks"`
	// Events counts deliveries of an event to a webhook (each counted once; redeliveries
	// in RedeliveredItems), in Requests HTTP requests whose signature verified.
	Events           int `json:"events"`
	Requests         int `json:"requests"`
	RedeliveredItems int `json:"redelivered_items"`
	BadSignatures    int `json:"bad_signatures"`
	// WriteSeconds is how long the backlog took to write (drain workloads).
	WriteSeconds float64 `json:"write_seconds"`
	// StartupSeconds is walhook's start-up, included in Seconds: from start to last receipt.
	StartupSeconds float64 `json:"startup_seconds"`
	// FirstReceiptSeconds is when the first delivery arrived, from walhook's start.
	FirstReceiptSeconds float64 `json:"first_receipt_seconds"`
	Seconds             float64 `json:"seconds"`
	EventsPerSecond     float64 `json:"events_per_second"`
	RowsPerSecond       float64 `json:"rows_per_second"`
	// Bare… is the fastest bare read of the same backlog, timed like walhook from its
	// connection to the last row (BareFirstSeconds: to the first row); Ratio is
	// RowsPerSecond over BareRowsPerSecond. Null in the live workload.
	BareSeconds       *float64 `json:"bare_seconds"`
	BareFirstSeconds  *float64 `json:"bare_first_row_seconds"`
	BareRowsPerSecond *float64 `json:"bare_rows_per_second"`
	Ratio             *float64 `json:"ratio"`
	// Latency… is commit-to-receipt latency in milliseconds; null except in the live
	// workload (in a drain it measures the backlog, not walhook).
	LatencyP50Ms *float64 `json:"latency_p50_ms"`
	LatencyP95Ms *float64 `json:"latency_p95_ms"`
	LatencyP99Ms *float64 `json:"latency_p99_ms"`
	// BareLatency… is, in the live workload, the same writes read by a bare reader
	// (BareLive): commit to the arrival of the commit message, in milliseconds. It is the
	// floor under walhook's latency on this machine: the server's decoding and sending.
	BareLatencyP50Ms *float64 `json:"bare_latency_p50_ms"`
	BareLatencyP95Ms *float64 `json:"bare_latency_p95_ms"`
	BareLatencyP99Ms *float64 `json:"bare_latency_p99_ms"`
	// PeakRSSBytes is VmHWM after being reset at StartRSSBytes (the bench's own resident
	// memory, heap returned to the OS, before walhook starts).
	PeakRSSBytes      int64   `json:"peak_rss_bytes"`
	StartRSSBytes     int64   `json:"start_rss_bytes"`
	PeakLiveHeapBytes int64   `json:"peak_live_heap_bytes"`
	CPUSeconds        float64 `json:"cpu_seconds"`
	CPUMicrosPerEvent float64 `json:"cpu_us_per_event"`
	// ServerCPUSeconds is the CPU time of the WAL sender serving walhook (from walhook's
	// start; BareServerCPUSeconds the bare read's), ReceiverCPUSeconds the receiver
	// process's: either near Seconds means that process, not walhook, set the pace.
	ServerCPUSeconds     float64  `json:"server_cpu_seconds"`
	BareServerCPUSeconds *float64 `json:"bare_server_cpu_seconds"`
	ReceiverCPUSeconds   float64  `json:"receiver_cpu_seconds"`
	// SessionsCPUSeconds is the CPU time of walhook's other sessions on the server: the
	// delivery log's and the queue's writes, render queries (null when it could not be read).
	SessionsCPUSeconds *float64 `json:"sessions_cpu_seconds"`
	// ChunksQueued is walhook_chunks_queued_total by reason: chunks written to the durable
	// queue instead of delivered from memory.
	ChunksQueued      map[string]float64 `json:"chunks_queued"`
	ChunksQueuedTotal float64            `json:"chunks_queued_total"`
	// ReaderHeldSeconds is how long walhook's reader waited for deliveries to bring
	// in-flight memory back (walhook_reader_backpressure_seconds_total): near Seconds, the
	// deliveries set the pace; near zero, the replication stream did.
	ReaderHeldSeconds float64 `json:"reader_held_seconds"`
	// RequestSeconds is how long walhook's requests were in flight, summed
	// (walhook_delivery_request_duration_seconds): with one request at a time, near
	// Seconds means the round trips set the pace.
	RequestSeconds float64 `json:"request_seconds"`
}

func newFigures(s spec, events int, write time.Duration, m measurement) Figures {
	tx := s.txRows
	if tx <= 0 || tx > s.rows {
		tx = s.rows
	}
	f := Figures{
		Workload: s.name, Rows: s.rows, TxRows: tx, Transactions: (s.rows + tx - 1) / tx, Webhooks: s.webhooks,
		Events: m.stats.Unique, Requests: m.stats.Requests, RedeliveredItems: m.stats.Items - m.stats.Unique,
		BadSignatures: m.stats.BadSignatures,
		WriteSeconds:  write.Seconds(), StartupSeconds: m.startup.Seconds(), FirstReceiptSeconds: m.firstReceipt.Seconds(), Seconds: m.took.Seconds(),
		EventsPerSecond: float64(m.stats.Unique) / m.took.Seconds(), RowsPerSecond: float64(s.rows) / m.took.Seconds(),
		PeakRSSBytes: m.peakRSS, StartRSSBytes: m.startRSS, PeakLiveHeapBytes: m.peakHeap,
		CPUSeconds: m.cpu.Seconds(), ServerCPUSeconds: m.serverCPU.Seconds(), ReceiverCPUSeconds: m.stats.CPU.Seconds(),
		ChunksQueued: m.counters.Queued, ReaderHeldSeconds: m.counters.ReaderHeld.Seconds(), RequestSeconds: m.counters.RequestTime.Seconds(),
	}
	if m.sessionsCPU != nil {
		f.SessionsCPUSeconds = val(m.sessionsCPU.Seconds())
	}
	if events > 0 {
		f.CPUMicrosPerEvent = float64(m.cpu.Microseconds()) / float64(events)
	}
	for _, v := range m.counters.Queued {
		f.ChunksQueuedTotal += v
	}
	return f
}

func (f *Figures) setBare(t BareTiming) {
	secs, first, rate := t.Total.Seconds(), t.FirstMessage.Seconds(), float64(f.Rows)/t.Total.Seconds()
	var ratio float64
	if rate > 0 {
		ratio = f.RowsPerSecond / rate
	}
	serverCPU := t.ServerCPU.Seconds()
	f.BareSeconds, f.BareFirstSeconds, f.BareRowsPerSecond, f.Ratio, f.BareServerCPUSeconds = &secs, &first, &rate, &ratio, &serverCPU
}

func (f *Figures) setLatency(s ReceiverStats) {
	f.LatencyP50Ms, f.LatencyP95Ms, f.LatencyP99Ms = msOf(s.LatencyP50), msOf(s.LatencyP95), msOf(s.LatencyP99)
}

// setBareLatency sets BareLatency… from the bare reader's latencies (none: left null).
func (f *Figures) setBareLatency(latencies []time.Duration) {
	if len(latencies) == 0 {
		return
	}
	l := slices.Clone(latencies)
	slices.Sort(l)
	f.BareLatencyP50Ms, f.BareLatencyP95Ms, f.BareLatencyP99Ms = msOf(percentile(l, 50)), msOf(percentile(l, 95)), msOf(percentile(l, 99))
}

func msOf(d time.Duration) *float64 { v := float64(d.Microseconds()) / 1000; return &v }

// line is the run's figures on one line.
func (f Figures) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows in %d tx → %d events to %d webhook(s) in %.2fs (start-up %.2fs, first receipt at %.2fs) = %s events/s, %s rows/s",
		f.Rows, f.Transactions, f.Events, f.Webhooks, f.Seconds, f.StartupSeconds, f.FirstReceiptSeconds, si(f.EventsPerSecond), si(f.RowsPerSecond))
	if f.Ratio != nil {
		fmt.Fprintf(&b, "; bare read %.2fs (first row at %.2fs) = %s rows/s; ratio %.2f", *f.BareSeconds, *f.BareFirstSeconds, si(*f.BareRowsPerSecond), *f.Ratio)
	}
	if f.LatencyP50Ms != nil {
		fmt.Fprintf(&b, "; commit→receipt p50 %.1fms p95 %.1fms p99 %.1fms", *f.LatencyP50Ms, *f.LatencyP95Ms, *f.LatencyP99Ms)
	}
	if f.BareLatencyP50Ms != nil {
		fmt.Fprintf(&b, " (bare read, commit→commit message: p50 %.1fms p95 %.1fms p99 %.1fms)", *f.BareLatencyP50Ms, *f.BareLatencyP95Ms, *f.BareLatencyP99Ms)
	}
	fmt.Fprintf(&b, "; peak RSS %s (from %s), peak live heap %s; CPU %.2fs (%.1f µs/event; WAL sender %.2fs, walhook's other sessions %s, receiver %.2fs); requests in flight %.2fs, reader held by deliveries %.2fs; chunks queued %s",
		mib(f.PeakRSSBytes), mib(f.StartRSSBytes), mib(f.PeakLiveHeapBytes), f.CPUSeconds, f.CPUMicrosPerEvent,
		f.ServerCPUSeconds, secondsText(f.SessionsCPUSeconds), f.ReceiverCPUSeconds, f.RequestSeconds, f.ReaderHeldSeconds, queuedText(f.ChunksQueued))
	if f.RedeliveredItems > 0 || f.BadSignatures > 0 {
		fmt.Fprintf(&b, "; %d items redelivered, %d bad signatures", f.RedeliveredItems, f.BadSignatures)
	}
	return b.String()
}

// secondsText is a figure that may be unknown, in seconds.
func secondsText(v *float64) string {
	if v == nil {
		return "unknown"
	}
	return fmt.Sprintf("%.2fs", *v)
}

func queuedText(q map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if q[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", k, q[k]))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// figure is one number of Figures that repeated runs summarize.
type figure struct {
	name string
	get  func(Figures) *float64
}

func val(v float64) *float64 { return &v }

// summarized lists the figures Result summarizes, by their JSON names.
var summarized = []figure{
	{"events_per_second", func(f Figures) *float64 { return val(f.EventsPerSecond) }},
	{"rows_per_second", func(f Figures) *float64 { return val(f.RowsPerSecond) }},
	{"seconds", func(f Figures) *float64 { return val(f.Seconds) }},
	{"bare_rows_per_second", func(f Figures) *float64 { return f.BareRowsPerSecond }},
	{"ratio", func(f Figures) *float64 { return f.Ratio }},
	{"latency_p50_ms", func(f Figures) *float64 { return f.LatencyP50Ms }},
	{"latency_p95_ms", func(f Figures) *float64 { return f.LatencyP95Ms }},
	{"latency_p99_ms", func(f Figures) *float64 { return f.LatencyP99Ms }},
	{"bare_latency_p50_ms", func(f Figures) *float64 { return f.BareLatencyP50Ms }},
	{"bare_latency_p95_ms", func(f Figures) *float64 { return f.BareLatencyP95Ms }},
	{"bare_latency_p99_ms", func(f Figures) *float64 { return f.BareLatencyP99Ms }},
	{"peak_rss_bytes", func(f Figures) *float64 { return val(float64(f.PeakRSSBytes)) }},
	{"peak_live_heap_bytes", func(f Figures) *float64 { return val(float64(f.PeakLiveHeapBytes)) }},
	{"cpu_seconds", func(f Figures) *float64 { return val(f.CPUSeconds) }},
	{"cpu_us_per_event", func(f Figures) *float64 { return val(f.CPUMicrosPerEvent) }},
	{"server_cpu_seconds", func(f Figures) *float64 { return val(f.ServerCPUSeconds) }},
	{"sessions_cpu_seconds", func(f Figures) *float64 { return f.SessionsCPUSeconds }},
	{"receiver_cpu_seconds", func(f Figures) *float64 { return val(f.ReceiverCPUSeconds) }},
	{"request_seconds", func(f Figures) *float64 { return val(f.RequestSeconds) }},
	{"reader_held_seconds", func(f Figures) *float64 { return val(f.ReaderHeldSeconds) }},
	{"chunks_queued_total", func(f Figures) *float64 { return val(f.ChunksQueuedTotal) }},
}

// Result is one workload's runs and, per figure, their median, minimum and maximum.
type Result struct {
	Workload string             `json:"workload"`
	Runs     []Figures          `json:"runs"`
	Median   map[string]float64 `json:"median"`
	Min      map[string]float64 `json:"min"`
	Max      map[string]float64 `json:"max"`
}

func (r *Result) summarize() {
	r.Median, r.Min, r.Max = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, fig := range summarized {
		var vs []float64
		for _, f := range r.Runs {
			if v := fig.get(f); v != nil {
				vs = append(vs, *v)
			}
		}
		if len(vs) == 0 {
			continue
		}
		slices.Sort(vs)
		r.Median[fig.name], r.Min[fig.name], r.Max[fig.name] = median(vs), vs[0], vs[len(vs)-1]
	}
}

// median of sorted values: the middle one, or the mean of the middle two.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// writeSummary writes a workload's medians with min–max and, over several runs, their
// spread: (max − min) / median, the figure "10 runs within 10% of each other" reads.
func writeSummary(w io.Writer, r Result) {
	fmt.Fprintf(w, "%s: median of %d run(s) (min–max):\n", r.Workload, len(r.Runs))
	for _, fig := range summarized {
		med, ok := r.Median[fig.name]
		if !ok {
			continue
		}
		format := func(v float64) string {
			switch {
			case strings.HasSuffix(fig.name, "_bytes"):
				return mib(int64(v))
			case strings.HasSuffix(fig.name, "per_second"):
				return si(v)
			}
			return fmt.Sprintf("%.3g", v)
		}
		spread := ""
		if len(r.Runs) > 1 && med != 0 {
			spread = fmt.Sprintf("  spread %.0f%%", 100*(r.Max[fig.name]-r.Min[fig.name])/med)
		}
		fmt.Fprintf(w, "  %-22s %10s  (%s – %s)%s\n", fig.name, format(med), format(r.Min[fig.name]), format(r.Max[fig.name]), spread)
	}
}

// writeComparisons writes fanout's rate against the one-webhook insert rate when both ran.
func writeComparisons(w io.Writer, rep Report) {
	var insert, fanout *Result
	for i := range rep.Results {
		switch rep.Results[i].Workload {
		case "insert":
			insert = &rep.Results[i]
		case "fanout":
			fanout = &rep.Results[i]
		}
	}
	if insert != nil && fanout != nil {
		fmt.Fprintf(w, "fanout/insert: %.2f (rows/s with %d webhooks over rows/s with one, medians)\n",
			fanout.Median["rows_per_second"]/insert.Median["rows_per_second"], fanout.Runs[0].Webhooks)
	}
}

// Report is everything a bench invocation measured: the final JSON line.
type Report struct {
	Bench    string         `json:"bench"`
	Go       string         `json:"go"`
	Cores    int            `json:"cores"`
	Repeat   int            `json:"repeat"`
	Settings map[string]any `json:"settings"`
	Results  []Result       `json:"results"`
}

func writeJSONLine(w io.Writer, rep Report) error {
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
