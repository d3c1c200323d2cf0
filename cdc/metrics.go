package cdc

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/mapping"
)

// Reader states, exported as walhook_reader_state{state}.
const (
	StateConnecting = "connecting"
	StateStreaming  = "streaming"
	StateStandby    = "standby" // another instance holds the slot
	StateStopped    = "stopped"
	// StateSlotLost: the server invalidated the slot; nothing is read until it is
	// recreated (Reader.Health says how).
	StateSlotLost = "slot_lost"
)

var readerStates = []string{StateConnecting, StateStreaming, StateStandby, StateStopped, StateSlotLost}

// metrics are the reader's Prometheus metrics.
type metrics struct {
	changes   *prometheus.CounterVec
	changeOps [3]prometheus.Counter
	events    *prometheus.CounterVec
	truncates prometheus.Counter
	unmatched prometheus.Counter
	// parentsMissing counts link rows whose polymorphic parent row was not found.
	parentsMissing prometheus.Counter
	toastLost      prometheus.Counter
	reconnects     prometheus.Counter
	// positionResets counts sessions whose remembered position was not valid on the server.
	positionResets prometheus.Counter
	statusSent     prometheus.Counter
	lagBytes       prometheus.Gauge
	lagSeconds     prometheus.Gauge
	state          *prometheus.GaugeVec
	transaction    prometheus.Counter
}

// newMetrics builds the reader's metrics, with a series for every event-raising entity of
// m (nil: none), and registers them with reg (nil: not registered).
func newMetrics(reg prometheus.Registerer, m *mapping.Mapping) *metrics {
	met := &metrics{
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_changes_decoded_total", Help: "event.Row changes decoded from the replication stream, by operation.",
		}, []string{"op"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_events_raised_total", Help: "Entity events raised from row changes, by entity.",
		}, []string{"entity"}),
		truncates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_truncates_total", Help: "TRUNCATEs of mapped tables seen; they raise no events.",
		}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_changes_unmatched_total", Help: "event.Row changes of mapped tables that matched no entity (discriminator value unknown).",
		}),
		parentsMissing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_link_parents_missing_total",
			Help: "Link rows whose parent, named by a type shared by several entities, was not found (or soft-deleted) in the CRM; they raise nothing.",
		}),
		toastLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_toast_values_missing_total", Help: "Unchanged TOAST values left out of a row because the old tuple lacked them (table not REPLICA IDENTITY FULL).",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_replication_reconnects_total", Help: "Replication sessions ended by an error and retried.",
		}),
		positionResets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_replication_position_resets_total",
			Help: "Sessions that found the position this instance remembered not valid on the server (restored or replaced database, failover, recreated slot) and resumed from the slot's confirmed position.",
		}),
		statusSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_standby_status_updates_total", Help: "Standby status updates sent to the server.",
		}),
		lagBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_replication_lag_bytes", Help: "Server WAL end minus the event.LSN walhook has confirmed.",
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
		met.changeOps[i] = met.changes.WithLabelValues(op)
	}
	for _, s := range readerStates {
		met.state.WithLabelValues(s)
	}
	if m != nil {
		for _, e := range m.Entities {
			if e.Events {
				met.events.WithLabelValues(e.Name)
			}
		}
	}
	if reg != nil {
		reg.MustRegister(met.changes, met.events, met.truncates, met.unmatched, met.parentsMissing, met.toastLost, met.reconnects, met.positionResets,
			met.statusSent, met.lagBytes, met.lagSeconds, met.state, met.transaction)
	}
	return met
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
