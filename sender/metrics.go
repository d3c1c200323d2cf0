package sender

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the sender's Prometheus metrics. Labels are bounded: outcome, status_class,
// reason, state — never webhook ids or URLs.
type metrics struct {
	deliveries      *prometheus.CounterVec // outcome, status_class
	requestDuration prometheus.Histogram
	commitLatency   prometheus.Histogram
	retries         prometheus.Counter
	deadLetters     prometheus.Counter
	queued          *prometheus.CounterVec // reason
	queueChunks     *prometheus.GaugeVec   // state
	disabled        *prometheus.CounterVec // reason
	logDropped      prometheus.Counter
	logBodies       *prometheus.CounterVec // outcome: stored, dropped
	logBodyBytes    prometheus.Counter
	logPackedBytes  prometheus.Counter
	breakerOpens    prometheus.Counter
	splits          prometheus.Counter
	splitParts      prometheus.Counter
	readerHeld      prometheus.Counter
	// delivered[outcome][status class] caches the counters of deliveries.
	delivered [numOutcomes]map[string]prometheus.Counter
}

// Reasons a chunk is written to the durable queue (label "reason").
const (
	reasonFailed  = "failed"  // its first attempt failed
	reasonDelayed = "delayed" // due later than the delay horizon (chunk_delay)
	reasonBehind  = "behind"  // its lane already had chunks queued (order)
	reasonSpilled = "spilled" // memory limit reached, or breaker open
	reasonHeld    = "held"    // its webhook is paused or disabled
)

// Outcomes of a logged chunk's body (label "outcome" of walhook_delivery_log_bodies_total).
const (
	bodyStored  = "stored"
	bodyDropped = "dropped"
)

// Reasons a webhook is disabled (label "reason" of walhook_webhooks_disabled_total).
const (
	disabledGone    = "gone"    // the endpoint answered 410 Gone
	disabledFailing = "failing" // the endpoint failed for a whole retry window
)

func newMetrics(reg prometheus.Registerer, memBytes, openBreakers func() float64) *metrics {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_deliveries_total",
			Help: "Delivery attempts (one HTTP request each), by outcome and response status class.",
		}, []string{"outcome", "status_class"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walhook_delivery_request_duration_seconds",
			Help:    "Duration of delivery attempts, request sent to response read.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}),
		commitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "walhook_commit_to_delivery_seconds",
			Help:    "Time from an event's transaction commit to its successful delivery, per event.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 14),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_delivery_retries_total",
			Help: "Failed delivery attempts that were scheduled for a retry.",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_dead_letters_total",
			Help: "Chunks dead-lettered after their retry window.",
		}),
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_chunks_queued_total",
			Help: "Chunks written to the durable queue, by reason (failed, delayed, behind, spilled, held).",
		}, []string{"reason"}),
		queueChunks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "walhook_delivery_queue_chunks",
			Help: "Chunks in the durable queue by state (pending, dead), counted periodically.",
		}, []string{"state"}),
		disabled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_webhooks_disabled_total",
			Help: "Webhooks disabled by the sender, by reason (gone: the endpoint answered 410 Gone; failing: it failed for a whole retry window).",
		}, []string{"reason"}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_delivery_log_dropped_total",
			Help: "Delivery log entries dropped because the log writer fell behind.",
		}),
		logBodies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_delivery_log_bodies_total",
			Help: "Request bodies of logged chunks: stored (compressed, for the payload retention) or dropped (the log writer was over its memory bound, or is behind).",
		}, []string{"outcome"}),
		logBodyBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_delivery_log_body_bytes_total",
			Help: "Bytes of the request bodies stored in the delivery log, before compression.",
		}),
		logPackedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_delivery_log_body_compressed_bytes_total",
			Help: "Bytes of the request bodies stored in the delivery log, after compression (S2).",
		}),
		breakerOpens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_circuit_breaker_opens_total",
			Help: "Times a webhook's circuit breaker opened (or re-opened after a failed probe).",
		}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_chunk_splits_total",
			Help: "Chunks whose body would have passed the body bound (WALHOOK_MAX_BODY_BYTES), sent as several requests.",
		}),
		splitParts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_chunk_split_requests_total",
			Help: "Requests that split chunks were sent as.",
		}),
		readerHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_reader_backpressure_seconds_total",
			Help: "Time the replication reader waited at the memory limit for deliveries, or slow webhooks' spills to the queue, to bring memory back.",
		}),
	}
	for o := range numOutcomes {
		m.delivered[o] = map[string]prometheus.Counter{}
		for _, sc := range statusClasses {
			m.delivered[o][sc] = m.deliveries.WithLabelValues(o.String(), sc)
		}
	}
	for _, r := range []string{reasonFailed, reasonDelayed, reasonBehind, reasonSpilled, reasonHeld} {
		m.queued.WithLabelValues(r)
	}
	for _, r := range []string{disabledGone, disabledFailing} {
		m.disabled.WithLabelValues(r)
	}
	for _, r := range []string{bodyStored, bodyDropped} {
		m.logBodies.WithLabelValues(r)
	}
	for _, s := range []string{statePending, stateDead} {
		m.queueChunks.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.deliveries, m.requestDuration, m.commitLatency, m.retries, m.deadLetters,
			m.queued, m.queueChunks, m.disabled, m.logDropped, m.logBodies, m.logBodyBytes, m.logPackedBytes, m.breakerOpens,
			m.splits, m.splitParts, m.readerHeld,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "walhook_sender_memory_bytes",
				Help: "Bytes of events and bodies held in memory, not yet delivered or durably queued.",
			}, memBytes),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "walhook_circuit_breakers_open",
				Help: "Webhooks whose circuit breaker is open in this instance.",
			}, openBreakers))
	}
	return m
}

// delivery counts one attempt.
func (m *metrics) delivery(o Outcome, status int) {
	m.delivered[o][statusClass(status)].Inc()
}
