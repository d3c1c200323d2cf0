package bench

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarizeMedianMinMax(t *testing.T) {
	r := Result{Workload: "insert"}
	for _, rate := range []float64{300, 100, 200, 400} {
		f := Figures{Rows: 100, RowsPerSecond: rate, PeakRSSBytes: int64(rate)}
		f.setBare(BareTiming{Total: time.Second})
		r.Runs = append(r.Runs, f)
	}
	r.summarize()
	if got := [3]float64{r.Median["rows_per_second"], r.Min["rows_per_second"], r.Max["rows_per_second"]}; got != [3]float64{250, 100, 400} {
		t.Errorf("rows_per_second median, min, max = %v", got)
	}
	if _, ok := r.Median["latency_p99_ms"]; ok {
		t.Error("a drain workload summarized latency it did not measure")
	}
	if got := median([]float64{1, 2, 9}); got != 2 {
		t.Errorf("median of three = %v", got)
	}
}

// TestSpecs pins each workload's defaults, §16's shapes, and the events they expect.
func TestSpecs(t *testing.T) {
	o := Options{Owners: 100, Rate: 10000, Duration: 5 * time.Second}
	want := map[string][4]int{ // rows, tx rows (0: one transaction), webhooks, events
		"insert":   {1_000_000, 0, 1, 1_000_000},
		"small-tx": {100_000, 5, 1, 100_000},
		"update":   {200_000, 0, 1, 200_000},
		"fanout":   {100_000, 0, 1000, 1_000_000}, // 10 of 1,000 webhooks (1%) per row
		"live":     {50_000, 100, 1, 50_000},
	}
	for _, name := range WorkloadNames {
		s, err := resolve(name, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := [4]int{s.rows, s.txRows, s.webhooks, s.expectedEvents(o.Owners)}; got != want[name] {
			t.Errorf("%s: rows, tx rows, webhooks, events = %v, want %v", name, got, want[name])
		}
	}
	// 7 webhooks on 3 owners: owner 0 has webhooks 0, 3 and 6, owners 1 and 2 two each;
	// rows 1-6 belong to owners 1, 2, 0, 1, 2, 0.
	s, _ := resolve("fanout", Options{Rows: 6, Webhooks: 7, Owners: 3})
	if got := s.expectedEvents(3); got != 2+2+3+2+2+3 {
		t.Errorf("uneven fanout expects %d events", got)
	}
	if _, err := resolve("nope", o); err == nil {
		t.Error("resolved an unknown workload")
	}
}

// TestReportJSONSchema pins the JSON line's keys: a figure added, renamed or dropped must
// be a decision, made here and in README's Performance section.
func TestReportJSONSchema(t *testing.T) {
	f := Figures{Workload: "insert", Rows: 100, RowsPerSecond: 100, ChunksQueued: map[string]float64{"spilled": 0}}
	f.setBare(BareTiming{Total: time.Second})
	r := Result{Workload: "insert", Runs: []Figures{f}}
	r.summarize()
	var line strings.Builder
	if err := writeJSONLine(&line, Report{Bench: "walhook", Results: []Result{r}}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(line.String(), "\n") != 1 {
		t.Fatalf("not one line: %q", line.String())
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line.String()), &top); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"bench", "cores", "go", "repeat", "results", "settings"}, slices.Sorted(maps.Keys(top))); diff != "" {
		t.Errorf("report keys (-want +got):\n%s", diff)
	}
	var results []map[string]json.RawMessage
	json.Unmarshal(top["results"], &results)
	if diff := cmp.Diff([]string{"max", "median", "min", "runs", "workload"}, slices.Sorted(maps.Keys(results[0]))); diff != "" {
		t.Errorf("result keys (-want +got):\n%s", diff)
	}
	var runs []map[string]any
	json.Unmarshal(results[0]["runs"], &runs)
	wantRun := []string{
		"bad_signatures", "bare_first_row_seconds", "bare_latency_p50_ms", "bare_latency_p95_ms", "bare_latency_p99_ms", "bare_rows_per_second", "bare_seconds", "bare_server_cpu_seconds",
		"chunks_queued", "chunks_queued_total",
		"cpu_seconds", "cpu_us_per_event", "events", "events_per_second", "first_receipt_seconds",
		"latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "peak_live_heap_bytes", "peak_rss_bytes", "ratio",
		"reader_held_seconds", "receiver_cpu_seconds", "redelivered_items", "request_seconds", "requests", "rows", "rows_per_second",
		"seconds", "server_cpu_seconds", "sessions_cpu_seconds", "start_rss_bytes", "startup_seconds",
		"transactions", "tx_rows", "webhooks", "workload", "write_seconds",
	}
	if diff := cmp.Diff(wantRun, slices.Sorted(maps.Keys(runs[0]))); diff != "" {
		t.Errorf("run keys (-want +got):\n%s", diff)
	}
	if runs[0]["latency_p99_ms"] != nil || runs[0]["bare_latency_p99_ms"] != nil || runs[0]["ratio"] != 1.0 {
		t.Errorf("a drain run: latency %v (want null), ratio %v", runs[0]["latency_p99_ms"], runs[0]["ratio"])
	}
	var summary map[string]float64
	json.Unmarshal(results[0]["median"], &summary)
	for _, fig := range summarized {
		if _, ok := runs[0][fig.name]; !ok {
			t.Errorf("summarized figure %q is not a run key", fig.name)
		}
	}
	if _, ok := summary["chunks_queued_total"]; !ok {
		t.Error("median lacks chunks_queued_total")
	}
}

func TestProfilePath(t *testing.T) {
	for _, tt := range []struct {
		path, workload string
		n              int
		want           string
	}{
		{"", "insert", 3, ""},
		{"heap.pprof", "insert", 1, "heap.pprof"},
		{"/tmp/heap.pprof", "small-tx", 2, "/tmp/heap-small-tx.pprof"},
		{"heap", "fanout", 2, "heap-fanout"},
	} {
		if got := profilePath(tt.path, tt.workload, tt.n); got != tt.want {
			t.Errorf("profilePath(%q, %q, %d) = %q, want %q", tt.path, tt.workload, tt.n, got, tt.want)
		}
	}
}

// TestProfilesTakeHeapProfileAtPeak: with a path, a heap profile is written when the run
// ends, and the peak live heap is at least what was live during it.
func TestProfilesTakeHeapProfileAtPeak(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heap.pprof")
	p, err := startProfiles("", path)
	if err != nil {
		t.Fatal(err)
	}
	hold := make([][]byte, 0, 64)
	for range 64 {
		hold = append(hold, make([]byte, 256<<10)) // 16 MiB live
	}
	runtime.GC()
	time.Sleep(150 * time.Millisecond) // three samples
	peak := p.stop()
	runtime.KeepAlive(hold)
	if peak < 16<<20 {
		t.Errorf("peak live heap %d bytes, want at least 16 MiB", peak)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("heap profile: %v, %v", st, err)
	}
}
