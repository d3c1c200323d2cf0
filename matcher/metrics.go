package matcher

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// metrics are the matcher's Prometheus metrics. Per-entity counters are resolved once, from
// the mapping, so Match never allocates to count; labels are bounded by the mapping.
type metrics struct {
	matched      map[event.EntityName]prometheus.Counter // events matched by at least one webhook
	matches      map[event.EntityName]prometheus.Counter // (event, webhook) matches
	webhooks     prometheus.Gauge
	invalid      prometheus.Gauge
	reloads      *prometheus.CounterVec
	renderQuery  prometheus.Counter
	renderTiming prometheus.Histogram
	// truncated counts items cut by a render bound, by cutReasons.
	truncated [numReasons]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, m *mapping.Mapping) *metrics {
	matched := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_events_matched_total",
		Help: "Events matched by at least one webhook, by entity.",
	}, []string{"entity"})
	matches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_event_matches_total",
		Help: "Matches of an event by a webhook (one per delivery item to be), by entity.",
	}, []string{"entity"})
	met := &metrics{
		matched: map[event.EntityName]prometheus.Counter{},
		matches: map[event.EntityName]prometheus.Counter{},
		webhooks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_webhooks_active",
			Help: "Webhooks compiled into the matcher (not deleted; paused and disabled ones included, their events are held).",
		}),
		invalid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_webhooks_invalid",
			Help: "Stored webhooks left out of the matcher because they no longer fit the mapping.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_webhook_reloads_total",
			Help: "Full reloads of the webhooks into the matcher, by outcome.",
		}, []string{"outcome"}),
		renderQuery: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_render_queries_total",
			Help: "Queries made to the CRM database to render delivery items (expand, link parents, related rows).",
		}),
		renderTiming: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walhook_render_duration_seconds",
			Help:    "Time to render the items of one chunk, queries included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
	}
	truncated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "walhook_render_truncated_total",
		Help: "Rendered items that a bound cut, by bound (reason: max_expand_rows, max_body_bytes); an item cut by both counts once for each.",
	}, []string{"reason"})
	for i, r := range cutReasons {
		met.truncated[i] = truncated.WithLabelValues(r)
	}
	if m != nil {
		for _, e := range m.Entities {
			if e.Events {
				name := event.EntityName(e.Name)
				met.matched[name] = matched.WithLabelValues(e.Name)
				met.matches[name] = matches.WithLabelValues(e.Name)
			}
		}
		// Inbound webhook calls (DESIGN.md §13) are events of one more entity.
		met.matched[event.EntityInbound] = matched.WithLabelValues(string(event.EntityInbound))
		met.matches[event.EntityInbound] = matches.WithLabelValues(string(event.EntityInbound))
	}
	met.reloads.WithLabelValues("ok")
	met.reloads.WithLabelValues("error")
	if reg != nil {
		reg.MustRegister(matched, matches, met.webhooks, met.invalid, met.reloads, met.renderQuery, met.renderTiming, truncated)
	}
	return met
}

// count records the matches of one event.
func (met *metrics) count(ev *event.Event, n int) {
	if n == 0 {
		return
	}
	if c := met.matched[ev.Entity]; c != nil {
		c.Inc()
		met.matches[ev.Entity].Add(float64(n))
	}
}
