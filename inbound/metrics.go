package inbound

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a receive call, the values of walhook_inbound_calls_total{outcome}.
const (
	outcomeLanded      = "landed"
	outcomeDuplicate   = "duplicate"
	outcomeNotFound    = "not_found"
	outcomeTooLarge    = "too_large"
	outcomeRateLimited = "rate_limited"
	outcomeBadSig      = "unauthorized"
	outcomeBadRequest  = "bad_request"
	outcomeError       = "error"
)

var outcomes = []string{outcomeLanded, outcomeDuplicate, outcomeNotFound, outcomeTooLarge, outcomeRateLimited,
	outcomeBadSig, outcomeBadRequest, outcomeError}

type metrics struct {
	calls   *prometheus.CounterVec
	landing prometheus.Histogram
	bytes   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_inbound_calls_total",
			Help: "Inbound webhook calls received, by outcome (landed, duplicate, not_found, too_large, rate_limited, unauthorized, bad_request, error).",
		}, []string{"outcome"}),
		landing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walhook_inbound_landing_duration_seconds",
			Help:    "Time to make an inbound call durable (its landing transaction, synchronous commit).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5},
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_inbound_received_bytes_total",
			Help: "Bytes of inbound call bodies landed.",
		}),
	}
	for _, o := range outcomes {
		m.calls.WithLabelValues(o)
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.landing, m.bytes)
	}
	return m
}
