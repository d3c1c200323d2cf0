package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/demo"
)

// Service is walhook running in this process, as the runner needs it. Because it runs in
// this process and the receiver in another, this process's peak RSS and CPU time are
// walhook's (plus the runner's small share, which Figures documents).
type Service interface {
	// APIBase is the base URL of its HTTP API (http://host:port).
	APIBase() string
	// Counters returns the counters the figures report.
	Counters() Counters
	// Stop stops it and waits for it to finish.
	Stop() error
}

// Counters are walhook's counters that the figures report, read from its registry.
type Counters struct {
	// Queued is walhook_chunks_queued_total by reason.
	Queued map[string]float64
	// ReaderHeld is walhook_reader_backpressure_seconds_total: how long the reader waited
	// for deliveries to bring in-flight memory back.
	ReaderHeld time.Duration
	// RequestTime is the sum of walhook_delivery_request_duration_seconds: how long
	// requests were in flight, request sent to response read.
	RequestTime time.Duration
}

// Config is what the runner needs from its caller.
type Config struct {
	// DSN is the CRM database (the sample CRM, walhook set up); Slot and Publication are
	// walhook's.
	DSN, Slot, Publication string
	// Token is an API token; Secret the signature string of the bench's webhooks.
	Token, Secret string
	// Start starts walhook in this process with a fresh metrics registry.
	Start func(ctx context.Context) (Service, error)
	// ReceiverArgv runs the receiver process (a command that calls ServeReceiver).
	ReceiverArgv []string
	// Out receives progress and results, ending with the JSON line.
	Out io.Writer
}

// Options are the runner's settings; "walhook bench" flags set them.
type Options struct {
	// Workloads to run, in order (WorkloadNames).
	Workloads []string
	// Rows, TxRows and Webhooks override each workload's defaults when positive.
	Rows, TxRows, Webhooks int
	// Owners is how many owners rows are spread over; fanout's webhook i filters on owner
	// i mod Owners, so each row matches Webhooks/Owners webhooks.
	Owners int
	// ChunkSize is every webhook's chunk_size.
	ChunkSize int
	// Rate (rows/s) and Duration shape the live workload.
	Rate     int
	Duration time.Duration
	// Repeat runs each workload this many times; BareReads reads each backlog this many
	// times bare and keeps the fastest.
	Repeat, BareReads int
	// Timeout bounds each wait for deliveries.
	Timeout time.Duration
	// MemProfile and CPUProfile, when set, receive a heap profile taken at the peak live
	// heap and a CPU profile of walhook's phase (of each workload's last run).
	MemProfile, CPUProfile string
	// Settings are recorded in the report as they are (the caller's settings that shape
	// the figures).
	Settings map[string]any
}

// spec is one workload with its sizes resolved.
type spec struct {
	name     string
	event    string // the event the webhooks subscribe to
	rows     int
	txRows   int // 0: all rows in one transaction
	webhooks int
	filtered bool // webhook i filters on owner i mod owners
	live     bool
	update   bool
}

// WorkloadNames lists the workloads, in the order "all" runs them.
var WorkloadNames = []string{"insert", "small-tx", "update", "fanout", "live"}

// WorkloadHelp describes each workload and its defaults, for --help.
const WorkloadHelp = `insert   (1,000,000 rows in one transaction, 1 webhook on Task.Create)
  small-tx (20,000 transactions of 5 rows, 1 webhook on Task.Create)
  update   (UPDATE of 200,000 existing rows in one transaction; REPLICA IDENTITY FULL; 1 webhook on Task.Update)
  fanout   (100,000 rows in one transaction; 1,000 webhooks on Task.Create, webhook i filtered on owner i mod -owners: ~1% match each row)
  live     (-rate rows/s for -duration in 100-row transactions, walhook running: commit→receipt latency)`

func resolve(name string, o Options) (spec, error) {
	s := spec{name: name, event: "Task.Create", webhooks: 1}
	switch name {
	case "insert":
		s.rows = 1_000_000
	case "small-tx":
		s.rows, s.txRows = 100_000, 5
	case "update":
		s.rows, s.event, s.update = 200_000, "Task.Update", true
	case "fanout":
		s.rows, s.webhooks, s.filtered = 100_000, 1000, true
	case "live":
		s.rows, s.txRows, s.live = max(1, int(float64(o.Rate)*o.Duration.Seconds())), 100, true
	default:
		return s, fmt.Errorf("unknown workload %q (want one of %s)", name, strings.Join(WorkloadNames, ", "))
	}
	if o.Rows > 0 && !s.live {
		s.rows = o.Rows
	}
	if o.TxRows > 0 {
		s.txRows = o.TxRows
	}
	if o.Webhooks > 0 {
		s.webhooks = o.Webhooks
	}
	return s, nil
}

// expectedEvents is how many (webhook, event) deliveries rows 1 … rows make.
func (s spec) expectedEvents(owners int) int {
	if !s.filtered {
		return s.rows * s.webhooks
	}
	n := 0
	for g := 1; g <= s.rows; g++ {
		for i := g % owners; i < s.webhooks; i += owners {
			n++
		}
	}
	return n
}

// Run runs every workload of o, writes each run's figures and each workload's medians to
// cfg.Out, ends with the JSON line, and returns the report.
func Run(ctx context.Context, cfg Config, o Options) (Report, error) {
	rep := Report{Bench: "walhook", Cores: runtime.NumCPU(), Go: runtime.Version(), Repeat: o.Repeat, Settings: o.Settings}
	var specs []spec
	for _, name := range o.Workloads {
		s, err := resolve(name, o)
		if err != nil {
			return rep, err
		}
		specs = append(specs, s)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return rep, fmt.Errorf("parse the bench database's DSN: %w", err)
	}
	// The runner's own sessions (the writers of the workloads) are named apart from
	// walhook's, whose CPU sessionsCPU counts.
	pcfg.ConnConfig.RuntimeParams["application_name"] = "walhook bench"
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return rep, fmt.Errorf("connect to the bench database: %w", err)
	}
	defer pool.Close()
	if err := AddOwners(ctx, pool, o.Owners); err != nil {
		return rep, err
	}
	recv, err := StartReceiver(ctx, cfg.ReceiverArgv)
	if err != nil {
		return rep, err
	}
	defer recv.Close()
	fmt.Fprintf(cfg.Out, "walhook bench: %d core(s), %s; walhook in this process (pid %d), receiver in pid %d verifying every signature\n",
		rep.Cores, rep.Go, os.Getpid(), recv.PID())
	r := &runner{cfg: cfg, o: o, pool: pool, recv: recv}
	for _, s := range specs {
		res, err := r.workload(ctx, s)
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, res)
		writeSummary(cfg.Out, res)
	}
	writeComparisons(cfg.Out, rep)
	return rep, writeJSONLine(cfg.Out, rep)
}

type runner struct {
	cfg  Config
	o    Options
	pool *pgxpool.Pool
	recv *RemoteReceiver
}

// workload prepares s (webhooks, rows to update) and runs it o.Repeat times.
func (r *runner) workload(ctx context.Context, s spec) (Result, error) {
	res := Result{Workload: s.name}
	if err := r.prepare(ctx, s); err != nil {
		return res, fmt.Errorf("prepare %s: %w", s.name, err)
	}
	for i := range r.o.Repeat {
		var f Figures
		var err error
		if s.live {
			f, err = r.live(ctx, s, i)
		} else {
			f, err = r.drain(ctx, s, i)
		}
		if err != nil {
			return res, fmt.Errorf("%s run %d: %w", s.name, i+1, err)
		}
		res.Runs = append(res.Runs, f)
		fmt.Fprintf(r.cfg.Out, "%s run %d/%d: %s\n", s.name, i+1, r.o.Repeat, f.line())
	}
	res.summarize()
	return res, nil
}

// prepare replaces the bench's webhooks with s's, and for update inserts the rows to
// update and waits until walhook has read past them, so the measured backlog holds only
// the updates.
func (r *runner) prepare(ctx context.Context, s spec) error {
	if _, err := r.pool.Exec(ctx, "DELETE FROM walhook.webhooks"); err != nil {
		return fmt.Errorf("delete the previous webhooks: %w", err)
	}
	svc, err := r.cfg.Start(ctx)
	if err != nil {
		return err
	}
	err = r.register(ctx, svc.APIBase(), s)
	if err == nil && s.update {
		err = Insert(ctx, r.pool, "upd", s.rows, 0, r.o.Owners)
	}
	if err == nil {
		err = r.waitCaughtUp(ctx)
	}
	return firstErr(err, svc.Stop())
}

// register creates s's webhooks through the API, eight at a time.
func (r *runner) register(ctx context.Context, base string, s spec) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range s.webhooks {
		opts := fmt.Sprintf(`{"chunk_size": %d}`, r.o.ChunkSize)
		if s.filtered {
			opts = fmt.Sprintf(`{"chunk_size": %d, "entity": {"Task": {"filter": {"owner_id": %q}}}}`, r.o.ChunkSize, OwnerID(i%r.o.Owners))
		}
		body := fmt.Sprintf(`{"url": %q, "events": [%q], "signature": %q, "options": %s}`,
			r.recv.URL(fmt.Sprintf("%s/%d", s.name, i)), s.event, r.cfg.Secret, opts)
		g.Go(func() error { return demo.PostWebhook(gctx, base, r.cfg.Token, body) })
	}
	return g.Wait()
}

// caughtUp reports whether walhook's slot has confirmed everything written so far (within
// a page: the server writes WAL of its own after the last commit).
func (r *runner) caughtUp(ctx context.Context) (bool, error) {
	var done bool
	err := r.pool.QueryRow(ctx, `SELECT confirmed_flush_lsn >= pg_current_wal_insert_lsn() - 8192 FROM pg_replication_slots WHERE slot_name = $1`, r.cfg.Slot).Scan(&done)
	if err != nil {
		return false, fmt.Errorf("read slot %q: %w", r.cfg.Slot, err)
	}
	return done, nil
}

// waitCaughtUp waits, with walhook running, until its slot has confirmed everything
// written so far.
func (r *runner) waitCaughtUp(ctx context.Context) error {
	deadline := time.Now().Add(r.o.Timeout)
	for {
		done, err := r.caughtUp(ctx)
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("walhook's slot %q did not catch up within %s", r.cfg.Slot, r.o.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureCaughtUp makes sure a run starts with nothing left in walhook's slot: events
// replayed from a previous run would be counted as this run's. When the slot lags (walhook
// stopped before confirming its last position), walhook runs until it has caught up.
// Then the slot's restart point is moved up to now (restartHere).
func (r *runner) ensureCaughtUp(ctx context.Context) error {
	done, err := r.caughtUp(ctx)
	if err != nil {
		return err
	}
	if !done {
		if err := r.catchUp(ctx); err != nil {
			return err
		}
	}
	return r.restartHere(ctx)
}

// restartHere moves the restart point of walhook's caught-up, inactive slot up to the
// present. The server decodes a slot from its restart point, which only moves past a
// running-transactions record that the client confirmed; after a big backlog it can lag
// by the whole backlog (the previous run's 1,000,000 rows, or the bare live read's rows),
// and walhook's WAL sender then decodes all of it again at start before it reaches the
// new changes. The bare read's slots are created just before the writes and start from
// there: walhook must too, or the drain ratio is unfair to walhook and live latencies
// include a first 0.1–1 s of re-decoding (issue 16's p99 of 476 ms, and of 55–100 ms in
// one live run of five, whose first receipt came 0.13–0.25 s after the start). A
// checkpoint logs a running-transactions record, and advancing the slot past it makes it
// a candidate restart point; but the server holds one candidate at a time, ignores newer
// ones until it is applied (unless already confirmed), and applies it at the next
// advance. The candidate pending is often one that walhook's WAL sender met past what
// walhook confirmed, from before the writes since. So this checkpoints and advances
// again until the restart point is within a MiB of the present.
func (r *runner) restartHere(ctx context.Context) error {
	if err := r.waitSlot(ctx, r.cfg.Slot, false); err != nil {
		return err
	}
	const passes, near = 5, 1 << 20
	var lag int64
	for range passes {
		if _, err := r.pool.Exec(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("checkpoint before a run: %w", err)
		}
		if _, err := r.pool.Exec(ctx, "SELECT pg_replication_slot_advance($1, pg_current_wal_flush_lsn())", r.cfg.Slot); err != nil {
			return fmt.Errorf("advance slot %q to the present: %w", r.cfg.Slot, err)
		}
		err := r.pool.QueryRow(ctx, `SELECT (pg_current_wal_insert_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, r.cfg.Slot).Scan(&lag)
		if err != nil {
			return fmt.Errorf("read slot %q: %w", r.cfg.Slot, err)
		}
		if lag <= near {
			return nil
		}
	}
	fmt.Fprintf(r.cfg.Out, "  (walhook's slot restarts %d bytes of WAL back after %d passes: its WAL sender decodes them again first)\n", lag, passes)
	return nil
}

// catchUp runs walhook until its slot has confirmed everything written so far.
func (r *runner) catchUp(ctx context.Context) error {
	if err := r.recv.Reset(ctx); err != nil {
		return err
	}
	svc, err := r.cfg.Start(ctx)
	if err != nil {
		return err
	}
	err = firstErr(r.waitCaughtUp(ctx), svc.Stop())
	st, serr := r.recv.Stats(ctx)
	fmt.Fprintf(r.cfg.Out, "  (walhook's slot had not confirmed the end of the previous run when walhook stopped: caught up first, redelivering %d events)\n", st.Unique)
	return firstErr(err, serr)
}

// waitStreaming waits until walhook's reader is attached to its slot, so that live rows
// are not timed from before walhook could read them.
func (r *runner) waitStreaming(ctx context.Context) error {
	return r.waitSlot(ctx, r.cfg.Slot, true)
}

// waitSlot waits until slot's active flag equals active: a stopped reader's WAL sender exits
// a moment after the reader has gone, and until it has the slot can be neither advanced
// nor dropped.
func (r *runner) waitSlot(ctx context.Context, slot string, active bool) error {
	deadline := time.Now().Add(r.o.Timeout)
	for {
		var isActive bool
		err := r.pool.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&isActive)
		if err != nil {
			return fmt.Errorf("read slot %q: %w", slot, err)
		}
		if isActive == active {
			return nil
		}
		if time.Now().After(deadline) {
			if active {
				return fmt.Errorf("walhook did not attach to slot %q within %s", slot, r.o.Timeout)
			}
			return fmt.Errorf("slot %q still in use %s after its reader stopped", slot, r.o.Timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// walSenderCPU is the CPU time of the WAL sender serving walhook's slot (0 if unknown).
func (r *runner) walSenderCPU(ctx context.Context) time.Duration {
	var pid *int32
	if err := r.pool.QueryRow(ctx, `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, r.cfg.Slot).Scan(&pid); err != nil || pid == nil {
		return 0
	}
	d, _ := ProcessCPU(int(*pid))
	return d
}

// sessionsCPU returns the CPU time of walhook's sessions on the server other than its WAL
// sender (the delivery log's and the queue's writes, render queries): those named
// event.ApplicationName in this database that started since (walhook's pools are new at
// each start), and false when it could not read them. A session that ended before is not
// counted.
func (r *runner) sessionsCPU(ctx context.Context, since time.Time) (time.Duration, bool) {
	rows, err := r.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND backend_type = 'client backend' AND datname = current_database() AND backend_start >= $2`,
		event.ApplicationName, since)
	if err != nil {
		return 0, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return 0, false
	}
	var total time.Duration
	for _, pid := range pids {
		d, err := ProcessCPU(int(pid))
		if err != nil {
			return 0, false
		}
		total += d
	}
	return total, true
}

// createSlot creates a bare read's slot, which starts at the present.
func (r *runner) createSlot(ctx context.Context, slot string) error {
	if _, err := r.pool.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", slot); err != nil {
		return fmt.Errorf("create the bare slot %q: %w", slot, err)
	}
	return nil
}

// dropSlot drops a bare read's slot once its WAL sender has let go of it.
func (r *runner) dropSlot(ctx context.Context, slot string) {
	err := r.waitSlot(ctx, slot, false)
	if err == nil {
		_, err = r.pool.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot)
	}
	if err != nil {
		fmt.Fprintf(r.cfg.Out, "  (could not drop the bare slot %q, %v; it pins WAL until the bench cluster stops)\n", slot, err)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// measurement is what measure records of walhook's phase.
type measurement struct {
	startRSS, peakRSS, peakHeap      int64
	cpu, startup, firstReceipt, took time.Duration
	serverCPU                        time.Duration  // walhook's WAL sender
	sessionsCPU                      *time.Duration // walhook's other sessions on the server; nil: unknown
	stats                            ReceiverStats
	counters                         Counters
}

// measure runs walhook from its start until the receiver has every expected event (during,
// when set, runs once walhook started), and returns walhook's figures for that phase.
// Before it starts, the heap is returned to the OS and the peak RSS reset, so the figures
// are this phase's.
func (r *runner) measure(ctx context.Context, s spec, expected int, during func(ctx context.Context) error) (m measurement, err error) {
	if err := r.recv.Reset(ctx); err != nil {
		return m, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	if err := ResetPeakRSS(); err != nil {
		return m, err
	}
	m.startRSS = RSSBytes()
	prof, err := startProfiles(profilePath(r.o.CPUProfile, s.name, len(r.o.Workloads)), profilePath(r.o.MemProfile, s.name, len(r.o.Workloads)))
	if err != nil {
		return m, err
	}
	cpu0, t0 := CPUTime(), time.Now()
	svc, err := r.cfg.Start(ctx)
	if err != nil {
		prof.stop()
		return m, err
	}
	m.startup = time.Since(t0)
	if during != nil {
		err = during(ctx)
	}
	if err == nil {
		m.stats, err = r.recv.Wait(ctx, expected, r.o.Timeout)
	}
	m.took, m.cpu, m.peakRSS = time.Since(t0), CPUTime()-cpu0, PeakRSSBytes()
	if !m.stats.First.IsZero() {
		// The receiver's wall clock is this machine's. Timed to the last delivery, not to
		// Wait's answer, which also counts distinct items and sorts latencies.
		m.firstReceipt, m.took = m.stats.First.Sub(t0), m.stats.Last.Sub(t0)
	}
	m.counters = svc.Counters()
	m.serverCPU = r.walSenderCPU(ctx)
	if d, ok := r.sessionsCPU(ctx, t0); ok {
		m.sessionsCPU = &d
	}
	m.peakHeap = prof.stop()
	err = firstErr(err, svc.Stop())
	if err == nil && m.stats.Unique < expected {
		err = fmt.Errorf("only %d of %d deliveries arrived within %s (%d requests, %d bad signatures)",
			m.stats.Unique, expected, r.o.Timeout, m.stats.Requests, m.stats.BadSignatures)
	}
	return m, err
}

// drain writes s's backlog while walhook is stopped, then times walhook delivering it and a
// bare read draining the same changes from slots created just before the writes.
func (r *runner) drain(ctx context.Context, s spec, run int) (Figures, error) {
	if err := r.ensureCaughtUp(ctx); err != nil {
		return Figures{}, err
	}
	slots := make([]string, r.o.BareReads)
	defer func() {
		for _, slot := range slots {
			if slot != "" {
				r.dropSlot(context.WithoutCancel(ctx), slot)
			}
		}
	}()
	for i := range slots {
		slot := fmt.Sprintf("bench_bare_%d_%d", run, i)
		if err := r.createSlot(ctx, slot); err != nil {
			return Figures{}, err
		}
		slots[i] = slot
	}
	w0 := time.Now()
	var err error
	if s.update {
		_, err = Update(ctx, r.pool, "upd", s.txRows)
	} else {
		err = Insert(ctx, r.pool, fmt.Sprintf("%s_%d", strings.ReplaceAll(s.name, "-", "_"), run), s.rows, s.txRows, r.o.Owners)
	}
	if err != nil {
		return Figures{}, err
	}
	write := time.Since(w0)
	expected := s.expectedEvents(r.o.Owners)
	m, err := r.measure(ctx, s, expected, nil)
	if err != nil {
		return Figures{}, err
	}
	var bare BareTiming
	for _, slot := range slots {
		t, err := BareRead(ctx, r.cfg.DSN, slot, r.cfg.Publication, s.rows)
		if err != nil {
			return Figures{}, fmt.Errorf("bare read: %w", err)
		}
		if bare.Total == 0 || t.Total < bare.Total {
			bare = t
		}
	}
	f := newFigures(s, expected, write, m)
	f.setBare(bare)
	return f, nil
}

// live runs walhook while rows are written at o.Rate and measures commit-to-receipt
// latency. The writer runs in this process: its CPU (one statement per transaction) is
// counted with walhook's.
func (r *runner) live(ctx context.Context, s spec, run int) (Figures, error) {
	if err := r.ensureCaughtUp(ctx); err != nil {
		return Figures{}, err
	}
	bare, err := r.bareLive(ctx, s, run)
	if err != nil {
		return Figures{}, err
	}
	expected := s.expectedEvents(r.o.Owners)
	tag := fmt.Sprintf("live_%d", run)
	m, err := r.measure(ctx, s, expected, func(ctx context.Context) error {
		if err := r.waitStreaming(ctx); err != nil {
			return err
		}
		return InsertAtRate(ctx, r.pool, tag, s.rows, s.txRows, r.o.Rate, r.o.Owners)
	})
	if err != nil {
		return Figures{}, err
	}
	f := newFigures(s, expected, 0, m)
	f.setLatency(m.stats)
	f.setBareLatency(bare)
	return f, nil
}

// bareLive writes the live workload's rows, at its rate, to a bare reader (BareLive) on a
// slot of its own while walhook is stopped, and returns the latencies it saw: the floor
// that walhook's commit-to-receipt latency is compared with. Walhook's slot is then moved
// past those rows (restartHere), so walhook never delivers them.
func (r *runner) bareLive(ctx context.Context, s spec, run int) ([]time.Duration, error) {
	slot := fmt.Sprintf("bench_bare_live_%d", run)
	if err := r.createSlot(ctx, slot); err != nil {
		return nil, err
	}
	defer r.dropSlot(context.WithoutCancel(ctx), slot)
	ready := make(chan struct{})
	var latencies []time.Duration
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		latencies, err = BareLive(gctx, r.cfg.DSN, slot, r.cfg.Publication, s.rows, ready)
		return err
	})
	g.Go(func() error {
		select {
		case <-ready:
		case <-gctx.Done():
			return gctx.Err()
		}
		return InsertAtRate(gctx, r.pool, fmt.Sprintf("live_bare_%d", run), s.rows, s.txRows, r.o.Rate, r.o.Owners)
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("bare live read: %w", err)
	}
	return latencies, r.restartHere(ctx)
}
