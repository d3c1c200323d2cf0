package cdc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Reader states, exported as walhook_reader_state{state}.
const (
	StateConnecting = "connecting"
	StateStreaming  = "streaming"
	StateStandby    = "standby" // another instance holds the slot
	StateStopped    = "stopped"
)

var readerStates = []string{StateConnecting, StateStreaming, StateStandby, StateStopped}

// metrics are the reader's Prometheus metrics.
type metrics struct {
	changes     *prometheus.CounterVec
	changeOps   [3]prometheus.Counter
	events      *prometheus.CounterVec
	truncates   prometheus.Counter
	unmatched   prometheus.Counter
	toastLost   prometheus.Counter
	reconnects  prometheus.Counter
	statusSent  prometheus.Counter
	lagBytes    prometheus.Gauge
	lagSeconds  prometheus.Gauge
	state       *prometheus.GaugeVec
	transaction prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_changes_decoded_total", Help: "Row changes decoded from the replication stream, by operation.",
		}, []string{"op"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_events_raised_total", Help: "Entity events raised from row changes, by entity.",
		}, []string{"entity"}),
		truncates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_truncates_total", Help: "TRUNCATEs of mapped tables seen; they raise no events.",
		}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_changes_unmatched_total", Help: "Row changes of mapped tables that matched no entity (discriminator value unknown).",
		}),
		toastLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_toast_values_missing_total", Help: "Unchanged TOAST values left out of a row because the old tuple lacked them (table not REPLICA IDENTITY FULL).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_replication_reconnects_total", Help: "Replication sessions ended by an error and retried.",
		}),
		statusSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_standby_status_updates_total", Help: "Standby status updates sent to the server.",
		}),
		lagBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_replication_lag_bytes", Help: "Server WAL end minus the LSN walhook has confirmed.",
		}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_replication_lag_seconds", Help: "Age of the oldest transaction received but not yet acknowledged; 0 when none is pending.",
		}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "walhook_reader_state", Help: "1 for the replication reader's current state, 0 for the others.",
		}, []string{"state"}),
		transaction: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_transactions_decoded_total", Help: "Committed transactions decoded from the replication stream.",
		}),
	}
	for i, op := range []string{"insert", "update", "delete"} {
		m.changeOps[i] = m.changes.WithLabelValues(op)
	}
	for _, s := range readerStates {
		m.state.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.changes, m.events, m.truncates, m.unmatched, m.toastLost, m.reconnects,
			m.statusSent, m.lagBytes, m.lagSeconds, m.state, m.transaction)
	}
	return m
}

func (m *metrics) setState(s string) {
	for _, st := range readerStates {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(st).Set(v)
	}
}
