package backfill

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	read      *prometheus.CounterVec // rows read, by op (scan, reread)
	chunks    prometheus.Counter
	running   prometheus.Gauge
	sent      prometheus.Counter // rows raised as events (after the filter)
	left      prometheus.Counter // rows left out of a chunk (changed in its window)
	rechecked prometheus.Counter // rows recorded to read again
	finished  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_backfill_rows_read_total",
			Help: "Rows read by backfills and emitted into the WAL, by op (scan: the next rows of a table; reread: rows read again because they changed while their chunk was read).",
		}, []string{"op"}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_backfill_chunks_total",
			Help: "Backfill chunks emitted into the WAL.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "walhook_backfills_running",
			Help: "Backfills this instance is running now.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_backfill_rows_sent_total",
			Help: "Backfill rows handed to their webhook as <Entity>.Backfill events (after the backfill's filter).",
		}),
		left: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_backfill_rows_left_out_total",
			Help: "Backfill rows left out of their chunk because they changed while it was read (read again later, or deleted).",
		}),
		rechecked: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "walhook_backfill_rows_to_reread_total",
			Help: "Backfill rows recorded to be read again.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "walhook_backfills_finished_total",
			Help: "Backfills ended, by state (done, cancelled, failed).",
		}, []string{"state"}),
	}
	for _, k := range []string{"scan", "reread"} {
		m.read.WithLabelValues(k)
	}
	for _, st := range []string{StateDone, StateCancelled, StateFailed} {
		m.finished.WithLabelValues(st)
	}
	if reg != nil {
		reg.MustRegister(m.read, m.chunks, m.running, m.sent, m.left, m.rechecked, m.finished)
	}
	return m
}
