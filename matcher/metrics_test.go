package matcher

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(Config{Mapping: mapping.Default(), Registerer: reg})
	if err := m.Set([]*Webhook{webhook("a", []string{"*"}, `{}`), webhook("b", []string{"Account.*"}, `{}`)}); err != nil {
		t.Fatal(err)
	}
	m.Match(&event.Event{Name: "Account.Create", Entity: "Account", Action: event.ActionCreate}, nil)
	m.Match(&event.Event{Name: "Task.Create", Entity: "Task", Action: event.ActionCreate}, nil)
	if got := counterValue(m.met.matched["Account"]); got != 1 {
		t.Errorf("matched Account = %v", got)
	}
	if got := counterValue(m.met.matches["Account"]); got != 2 {
		t.Errorf("matches Account = %v", got)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range families {
		seen[f.GetName()] = true
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() != "entity" && l.GetName() != "outcome" && l.GetName() != "reason" {
					t.Errorf("%s: unexpected label %s", f.GetName(), l.GetName())
				}
			}
		}
	}
	for _, name := range []string{"walhook_events_matched_total", "walhook_event_matches_total", "walhook_webhooks_active",
		"walhook_webhook_reloads_total", "walhook_render_queries_total", "walhook_render_duration_seconds",
		"walhook_render_truncated_total"} {
		if !seen[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}
