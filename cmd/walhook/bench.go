package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/internal/bench"
)

// benchOptions are "walhook bench"'s flags.
type benchOptions struct {
	bench.Options
	workloads       string
	decodingWorkMem string
}

// benchFlags declares bench's flags on fs. Every flag has a usage string: help lists them
// all, and a test fails for one without.
func benchFlags(fs *flag.FlagSet) *benchOptions {
	o := &benchOptions{}
	fs.StringVar(&o.workloads, "workload", "all", "comma-separated workloads, or all:\n  "+bench.WorkloadHelp)
	fs.IntVar(&o.Rows, "rows", 0, "rows each drain workload changes (0: the workload's default)")
	fs.IntVar(&o.TxRows, "tx-rows", 0, "rows per transaction (0: the workload's default; insert, update and fanout write one transaction)")
	fs.IntVar(&o.Webhooks, "webhooks", 0, "webhooks per workload (0: the workload's default, 1000 for fanout, else 1)")
	fs.IntVar(&o.Owners, "owners", 100, "owners the rows are spread over; fanout's webhook i filters on owner i mod owners")
	fs.IntVar(&o.ChunkSize, "chunk-size", 100, "every webhook's chunk_size (1-100)")
	fs.IntVar(&o.Rate, "rate", 10000, "rows per second the live workload writes")
	fs.DurationVar(&o.Duration, "duration", 5*time.Second, "how long the live workload writes")
	fs.IntVar(&o.Repeat, "repeat", 1, "runs of each workload; with more than one, medians and min–max are printed")
	fs.IntVar(&o.BareReads, "bare-reads", 1, "bare replication reads of each backlog; the fastest is the ceiling")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "longest wait for a run's deliveries")
	fs.StringVar(&o.decodingWorkMem, "decoding-work-mem", "1GB", "logical_decoding_work_mem of the bench's PostgreSQL (large, so the server does not spill transactions to disk)")
	fs.StringVar(&o.MemProfile, "memprofile", "", "write a heap profile taken at walhook's peak live heap to this file (-<workload> added when several run)")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of walhook's phase to this file (-<workload> added when several run)")
	return o
}

// validate checks the flags and resolves -workload.
func (o *benchOptions) validate() error {
	if o.workloads == "all" {
		o.Workloads = bench.WorkloadNames
	} else {
		o.Workloads = strings.Split(o.workloads, ",")
	}
	for _, w := range o.Workloads {
		if !contains(bench.WorkloadNames, w) {
			return usagef("-workload: unknown workload %q (want all or some of %s)", w, strings.Join(bench.WorkloadNames, ","))
		}
	}
	switch {
	case o.Rows < 0 || o.TxRows < 0 || o.Webhooks < 0:
		return usagef("-rows, -tx-rows and -webhooks must not be negative")
	case o.Owners < 1 || o.Rate < 1 || o.Repeat < 1 || o.BareReads < 1:
		return usagef("-owners, -rate, -repeat and -bare-reads must be positive")
	case o.ChunkSize < 1 || o.ChunkSize > 100:
		return usagef("-chunk-size must be 1-100, not %d", o.ChunkSize)
	case o.Duration <= 0 || o.Timeout <= 0:
		return usagef("-duration and -timeout must be positive")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cmdBench is "walhook bench": reproducible workloads on a throwaway local PostgreSQL with
// the sample CRM, walhook running in this process and a receiver in another
// ("walhook bench-receiver"), so that the peak RSS and CPU it reports are walhook's.
func cmdBench(ctx context.Context, args []string) error {
	fs := newFlagSet("bench")
	o := benchFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	// walhook's sessions are counted by their name (sessions_cpu_seconds), which PGAPPNAME
	// would replace.
	os.Unsetenv("PGAPPNAME")
	cfg, err := loadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	if os.Getenv("WALHOOK_LOG_LEVEL") == "" {
		cfg.LogLevel = "warn"
	}
	cfg.LogFormat = "text"
	log := newLogger(cfg, os.Stderr)
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find walhook's executable for the receiver process: %w", err)
	}
	cluster, cfg, err := sampleCRM(ctx, cfg, log, "127.0.0.1:0", "bench-token",
		map[string]string{"logical_decoding_work_mem": o.decodingWorkMem})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	_, err = bench.Run(ctx, benchConfig(cfg, log, []string{exe, "bench-receiver", "-secret", demoSecret}, os.Stdout), o.benchSettings(cfg))
	return err
}

// benchSettings returns the runner's options, with the settings that shape the figures
// recorded in the report.
func (o *benchOptions) benchSettings(cfg Config) bench.Options {
	opts := o.Options
	opts.Settings = map[string]any{
		"chunk_size": o.ChunkSize, "owners": o.Owners, "rate": o.Rate, "duration_seconds": o.Duration.Seconds(),
		"bare_reads": o.BareReads, "logical_decoding_work_mem": o.decodingWorkMem,
		"memory_limit_bytes": cfg.MemoryLimitBytes, "spill_wait_seconds": cfg.SpillWait.Seconds(),
	}
	return opts
}

// benchConfig is the runner's view of walhook configured by cfg: it starts the service in
// this process, each time with a fresh metrics registry.
func benchConfig(cfg Config, log *slog.Logger, receiver []string, out io.Writer) bench.Config {
	return bench.Config{
		DSN: cfg.DatabaseURL, Slot: cfg.Slot, Publication: cfg.Publication,
		Token: cfg.APITokens[0], Secret: demoSecret, ReceiverArgv: receiver, Out: out,
		Start: func(ctx context.Context) (bench.Service, error) { return startBenchService(ctx, cfg, log) },
	}
}

// benchService is walhook running in the bench's process.
type benchService struct {
	svc    *service
	cancel context.CancelFunc
	done   chan error
}

// startBenchService starts walhook in this process.
func startBenchService(ctx context.Context, cfg Config, log *slog.Logger) (*benchService, error) {
	sctx, cancel := context.WithCancel(ctx)
	svc, err := startService(sctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	b := &benchService{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := svc.run(sctx)
		svc.close() // its pools' sessions end before Stop returns
		b.done <- err
	}()
	return b, nil
}

func (b *benchService) APIBase() string { return "http://" + b.svc.ln.Addr().String() }

// Counters reads walhook_chunks_queued_total by reason, the sum of
// walhook_delivery_request_duration_seconds and walhook_reader_backpressure_seconds_total
// from the service's registry.
func (b *benchService) Counters() bench.Counters {
	c := bench.Counters{Queued: map[string]float64{}}
	mfs, _ := b.svc.reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "walhook_chunks_queued_total":
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "reason" {
						c.Queued[l.GetValue()] = m.GetCounter().GetValue()
					}
				}
			}
		case "walhook_delivery_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				c.RequestTime += time.Duration(m.GetHistogram().GetSampleSum() * float64(time.Second))
			}
		case "walhook_reader_backpressure_seconds_total":
			for _, m := range mf.GetMetric() {
				c.ReaderHeld += time.Duration(m.GetCounter().GetValue() * float64(time.Second))
			}
		}
	}
	return c
}

// Stop stops the service and waits for it.
func (b *benchService) Stop() error {
	b.cancel()
	if err := <-b.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("walhook stopped with an error: %w", err)
	}
	return nil
}

// benchReceiverFlags declares "walhook bench-receiver"'s flags.
func benchReceiverFlags(fs *flag.FlagSet) *string {
	return fs.String("secret", "", "signature string every delivery must be signed with")
}

// cmdBenchReceiver is "walhook bench-receiver", the receiver process that "walhook bench"
// starts: it verifies every signature, counts deliveries and latencies, and answers the
// bench over loopback until its stdin closes.
func cmdBenchReceiver(ctx context.Context, args []string) error {
	fs := newFlagSet("bench-receiver")
	secret := benchReceiverFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return bench.ServeReceiver(ctx, *secret, os.Stdin, os.Stdout)
}
