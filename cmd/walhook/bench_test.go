package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os/exec"
	"strings"
	"testing"

	"github.com/walhook/walhook/internal/bench"
)

// TestBenchFlagsHaveHelp: every bench flag has a usage string and -h lists it, with the
// variables bench reads; a flag added without help fails here.
func TestBenchFlagsHaveHelp(t *testing.T) {
	c, _ := lookupCommand("bench")
	var b strings.Builder
	writeCommandHelp(&b, c)
	help := b.String()
	fs := newFlagSet("bench")
	benchFlags(fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if strings.TrimSpace(f.Usage) == "" {
			t.Errorf("flag -%s has no usage string", f.Name)
		}
		if !strings.Contains(help, "  -"+f.Name+" ") && !strings.Contains(help, "  -"+f.Name+"\n") {
			t.Errorf("walhook bench -h does not list -%s", f.Name)
		}
	})
	if n < 14 {
		t.Errorf("bench declares %d flags; expected at least the 14 of README's Performance section", n)
	}
	for _, w := range bench.WorkloadNames {
		if !strings.Contains(help, "  "+w+" ") {
			t.Errorf("walhook bench -h does not describe workload %s:\n%s", w, help)
		}
	}
	for _, v := range []string{"WALHOOK_MEMORY_LIMIT_BYTES", "WALHOOK_SPILL_WAIT", "WALHOOK_LOG_LEVEL"} {
		if !strings.Contains(help, "  "+v+" ") {
			t.Errorf("walhook bench -h does not list %s", v)
		}
	}
	var usage strings.Builder
	writeUsage(&usage)
	if strings.Contains(usage.String(), "bench-receiver") {
		t.Error("usage lists the internal bench-receiver command")
	}
}

func TestBenchFlagValidation(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{}, ""},
		{[]string{"-workload", "insert,fanout", "-repeat", "3"}, ""},
		{[]string{"-workload", "insert,bogus"}, `unknown workload "bogus"`},
		{[]string{"-chunk-size", "101"}, "-chunk-size must be 1-100"},
		{[]string{"-repeat", "0"}, "must be positive"},
		{[]string{"-rows", "-5"}, "must not be negative"},
		{[]string{"-duration", "0s"}, "must be positive"},
	} {
		fs := newFlagSet("bench")
		o := benchFlags(fs)
		err := parseFlags(fs, tt.args)
		if err == nil {
			err = o.validate()
		}
		var ue *usageError
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue)):
			t.Errorf("%v: error %v, want a usage error containing %q", tt.args, err, tt.wantErr)
		}
	}
	fs := newFlagSet("bench")
	o := benchFlags(fs)
	parseFlags(fs, nil)
	o.validate()
	if strings.Join(o.Workloads, ",") != "insert,small-tx,update,fanout,live" || o.Repeat != 1 || o.ChunkSize != 100 || o.Rate != 10000 {
		t.Errorf("defaults: %+v", o.Options)
	}
}

// TestBenchTinyRun runs the real binary, "walhook bench", on every workload with a few
// hundred rows: its own PostgreSQL, walhook in its process, the receiver in another. It
// asserts counts, never durations: every expected event arrived once, signed, nothing went
// to the durable queue (every webhook is healthy), and the JSON line carries each
// workload's figures.
func TestBenchTinyRun(t *testing.T) {
	bin := walhookBinary(t)
	cmd := exec.Command(bin, "bench", "-rows", "300", "-webhooks", "20", "-owners", "10",
		"-rate", "400", "-duration", "1s", "-timeout", "60s")
	cmd.Env = processEnv(map[string]string{"WALHOOK_LOG_LEVEL": "warn"})
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("walhook bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	var last string
	for s := bufio.NewScanner(strings.NewReader(out)); s.Scan(); {
		last = s.Text()
	}
	var rep bench.Report
	dec := json.NewDecoder(strings.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("last line is not the report: %v\n%s", err, last)
	}
	// rows, tx, events: 20 unfiltered webhooks get every row; fanout's 20 webhooks filter
	// on 10 owners, so 2 of them want each row.
	want := map[string][3]int{
		"insert": {300, 1, 6000}, "small-tx": {300, 60, 6000}, "update": {300, 1, 6000},
		"fanout": {300, 1, 600}, "live": {400, 4, 8000},
	}
	if len(rep.Results) != len(want) || rep.Repeat != 1 || rep.Cores < 1 {
		t.Fatalf("report: %d results, repeat %d, cores %d", len(rep.Results), rep.Repeat, rep.Cores)
	}
	for _, r := range rep.Results {
		if len(r.Runs) != 1 {
			t.Fatalf("%s: %d runs", r.Workload, len(r.Runs))
		}
		f := r.Runs[0]
		if got := [3]int{f.Rows, f.Transactions, f.Events}; got != want[r.Workload] {
			t.Errorf("%s: rows, transactions, events = %v, want %v", r.Workload, got, want[r.Workload])
		}
		if f.BadSignatures != 0 || f.ChunksQueuedTotal != 0 || f.ChunksQueued["spilled"] != 0 {
			t.Errorf("%s: %d bad signatures, chunks queued %v", r.Workload, f.BadSignatures, f.ChunksQueued)
		}
		if f.PeakRSSBytes <= 0 || f.CPUSeconds <= 0 || f.EventsPerSecond <= 0 || f.Requests < 1 || f.RequestSeconds <= 0 || f.SessionsCPUSeconds == nil {
			t.Errorf("%s: peak RSS %d, CPU %v, events/s %v, requests %d in flight %vs, other sessions' CPU %v (nil: unread)",
				r.Workload, f.PeakRSSBytes, f.CPUSeconds, f.EventsPerSecond, f.Requests, f.RequestSeconds, f.SessionsCPUSeconds)
		}
		live := r.Workload == "live"
		if (f.Ratio == nil) != live || (f.LatencyP99Ms == nil) != !live {
			t.Errorf("%s: ratio %v, latency p99 %v (a ratio for drains, latencies live)", r.Workload, f.Ratio, f.LatencyP99Ms)
		}
		if (f.BareLatencyP99Ms == nil) != !live || live && !(*f.BareLatencyP50Ms > 0 && *f.BareLatencyP50Ms <= *f.BareLatencyP99Ms) {
			t.Errorf("%s: bare read's latency p50 %v, p99 %v (live only, 0 < p50 <= p99)", r.Workload, f.BareLatencyP50Ms, f.BareLatencyP99Ms)
		}
		if _, ok := r.Median["rows_per_second"]; !ok {
			t.Errorf("%s: no median rows/s", r.Workload)
		}
	}
	if !strings.Contains(out, "fanout/insert: ") {
		t.Errorf("no fanout/insert comparison in:\n%s", out)
	}
}
