package promqlnames

import (
	"slices"
	"testing"
)

// TestNames: each expression gives its metric names in order, or an error for what would
// otherwise hide a name or pass a typo.
func TestNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.99, sum by (le) (rate(walhook_delivery_duration_seconds_bucket[5m])))`,
			[]string{"walhook_delivery_duration_seconds_bucket"}},
		{`sum(rate(walhook_changes_decoded_total{op="insert", job=~"$job"}[$__rate_interval])) by (op)`,
			[]string{"walhook_changes_decoded_total"}},
		{`max by (instance) (walhook_replication_lag_bytes{instance=~"${instance:regex}"}) offset 5m`,
			[]string{"walhook_replication_lag_bytes"}},
		{`sum by(instance)(walhook_reader_state{state="streaming"}) * 3 + on(instance) group_left(job) sum without (state) (walhook_reader_state{state='standby'}) * 2`,
			[]string{"walhook_reader_state", "walhook_reader_state"}},
		{`label_replace(rate(process_cpu_seconds_total[1m:10s]), "x", "$1 by (y) rate(", "instance", "(.*)")`,
			[]string{"process_cpu_seconds_total"}},
		{`SUM BY (le, route) (increase(walhook_api_request_duration_seconds_bucket[1h] @ end()))`,
			[]string{"walhook_api_request_duration_seconds_bucket"}},
		{`sum(walhook_deliveries_total{outcome="delivered"}) / clamp_min(sum(walhook_deliveries_total), 1) > bool 0.5 unless vector(0)`,
			[]string{"walhook_deliveries_total", "walhook_deliveries_total"}},
		{`topk(5, go_goroutines) or absent(up)`, []string{"go_goroutines", "up"}},
		{`-walhook_x:rate5m+1e-3*.5`, []string{"walhook_x:rate5m"}},
		{"timestamp(walhook_reader_state) - time() > 0x1F or time", []string{"walhook_reader_state", "time"}},
		{`max_over_time(walhook_replication_lag_seconds[1h:5m]) > 1h30m`, []string{"walhook_replication_lag_seconds"}},
		// Brackets and quotes inside label values are not the expression's.
		{`walhook_a{x="}", y=~"[(]\"{"} + walhook_b{z='a\'b'}[5m:]`, []string{"walhook_a", "walhook_b"}},
		{"sum without(state)(walhook_reader_state)\n  / ignoring (state) group_left\n  count(walhook_reader_state)",
			[]string{"walhook_reader_state", "walhook_reader_state"}},
	} {
		got, err := Names(tc.expr)
		if err != nil {
			t.Errorf("Names(%q): %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Names(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{
		`sum(rate(walhook_x_total[5m]`,             // unbalanced
		`rate(walhook_x_total{op="a}[5m])`,         // unterminated string
		`{__name__="walhook_x_total"}`,             // name hidden in a matcher
		`histogram_quantil(0.9, walhook_x_bucket)`, // typo: unknown function
	} {
		if names, err := Names(bad); err == nil {
			t.Errorf("Names(%q) = %q, want an error", bad, names)
		}
	}
}
