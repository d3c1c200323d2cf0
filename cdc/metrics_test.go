package cdc

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMetricsLint: the reader's metrics follow Prometheus naming and help conventions.
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg, nil)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestDecodeCountsMetrics pins the counters the decoder feeds.
func TestDecodeCountsMetrics(t *testing.T) {
	d, rec := newTestDecoder(t)
	run(t, d, rec, insertMsg(1, deal("1", "opportunity", owner1, "Open", "10", "f")...),
		insertMsg(1, deal("2", "other", owner1, "Open", "10", "f")...))
	if got := testutil.ToFloat64(d.met.changeOps[0]); got != 2 {
		t.Errorf("inserts = %v, want 2", got)
	}
	if got := testutil.ToFloat64(d.met.unmatched); got != 1 {
		t.Errorf("unmatched = %v, want 1", got)
	}
	if got := testutil.ToFloat64(d.met.events.WithLabelValues("Opportunity")); got != 1 {
		t.Errorf("events{Opportunity} = %v, want 1", got)
	}
}
