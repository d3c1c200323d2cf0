package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/internal/bench"
	"github.com/walhook/walhook/internal/demo"
)

// benchOptions are "walhook bench"'s flags.
type benchOptions struct {
	liveRows, rate, drainRows, txRows, webhooks int
	cpuProfile                                  string
}

// benchFlags declares bench's flags on fs.
func benchFlags(fs *flag.FlagSet) *benchOptions {
	var o benchOptions
	fs.IntVar(&o.liveRows, "live-rows", 10000, "rows written in the live phase")
	fs.IntVar(&o.rate, "rate", 2000, "rows per second written in the live phase")
	fs.IntVar(&o.drainRows, "rows", 50000, "rows in the drain phase")
	fs.IntVar(&o.txRows, "tx-rows", 100, "rows per transaction")
	fs.IntVar(&o.webhooks, "webhooks", 1, "webhooks subscribed to Task.Create")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the drain phase to this file")
	return &o
}

// cmdBench is "walhook bench": a reproducible workload on a throwaway local PostgreSQL with
// the sample CRM. A live phase writes at a fixed rate and measures commit-to-receipt
// latency; a drain phase lets rows pile up in the slot, then measures how fast walhook
// delivers them and how fast a bare replication read drains the same changes (the
// ceiling).
func cmdBench(ctx context.Context, args []string) error {
	fs := newFlagSet("bench")
	o := benchFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.liveRows < 1 || o.drainRows < 1 || o.txRows < 1 || o.webhooks < 1 || o.rate < 1 {
		return usagef("bench flags must be positive")
	}
	cfg, err := loadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	if os.Getenv("WALHOOK_LOG_LEVEL") == "" {
		cfg.LogLevel = "warn"
	}
	cfg.LogFormat = "text"
	log := newLogger(cfg, os.Stderr)
	cluster, cfg, err := sampleCRM(ctx, cfg, log, "127.0.0.1:0", "bench-token")
	if err != nil {
		return err
	}
	defer cluster.Stop()
	return runBench(ctx, cfg, log, *o, os.Stdout)
}

// switchHandler serves with whichever receiver the current phase set.
type switchHandler struct {
	h atomic.Pointer[bench.Receiver]
}

func (s *switchHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.Load().ServeHTTP(w, r) }

func runBench(ctx context.Context, cfg Config, log *slog.Logger, o benchOptions, out io.Writer) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to the bench database: %w", err)
	}
	defer pool.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the bench receiver: %w", err)
	}
	var sw switchHandler
	live := bench.NewReceiver(demoSecret)
	sw.h.Store(live)
	srv := &http.Server{Handler: &sw, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	target := "http://" + ln.Addr().String() + "/bench"

	fmt.Fprintf(out, "walhook bench: %d core(s), %d webhook(s) on Task.Create, %d-row transactions, loopback receiver verifying every signature\n",
		runtime.NumCPU(), o.webhooks, o.txRows)
	cpu0 := bench.CPUTime()
	// Live phase: walhook runs while the CRM writes at a fixed rate.
	stop, err := startBenchService(ctx, cfg, log, func(base string) error {
		for i := range o.webhooks {
			body := fmt.Sprintf(`{"url": %q, "events": ["Task.Create"], "signature": %q, "options": {"chunk_size": 100}}`, target+fmt.Sprint(i), demoSecret)
			if err := demo.PostWebhook(ctx, base, cfg.APITokens[0], body); err != nil {
				return err
			}
		}
		time.Sleep(time.Second) // a new webhook reaches the matcher within a second
		return nil
	})
	if err != nil {
		return err
	}
	if err := (bench.Workload{Rows: o.liveRows, TxRows: o.txRows, Rate: o.rate, Tag: "live"}).Write(ctx, pool); err != nil {
		stop()
		return err
	}
	ok := live.Wait(o.liveRows*o.webhooks, time.Now().Add(5*time.Minute))
	stop()
	if !ok {
		return fmt.Errorf("bench live phase: only %d of %d deliveries arrived", live.Unique(), o.liveRows*o.webhooks)
	}
	fmt.Fprintf(out, "live:     %d rows at %d rows/s: %d events delivered; commit→receipt p50 %s, p95 %s, p99 %s\n",
		o.liveRows, o.rate, live.Unique(), ms(live.Latency(50)), ms(live.Latency(95)), ms(live.Latency(99)))
	return benchDrain(ctx, cfg, log, o, out, pool, &sw, cpu0, live.BadSignatures())
}

// benchDrain writes rows while walhook is stopped, then times walhook delivering them and
// a bare replication read draining the same changes from a second slot.
func benchDrain(ctx context.Context, cfg Config, log *slog.Logger, o benchOptions, out io.Writer,
	pool *pgxpool.Pool, sw *switchHandler, cpu0 time.Duration, badSigs int) error {
	if _, err := pool.Exec(ctx, "SELECT pg_create_logical_replication_slot('bench_bare', 'pgoutput')"); err != nil {
		return fmt.Errorf("create the bare slot: %w", err)
	}
	if err := (bench.Workload{Rows: o.drainRows, TxRows: o.txRows, Tag: "drain"}).Write(ctx, pool); err != nil {
		return err
	}
	drain := bench.NewReceiver(demoSecret)
	sw.h.Store(drain)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("create cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	stop, err := startBenchService(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	ok := drain.Wait(o.drainRows*o.webhooks, time.Now().Add(10*time.Minute))
	took := time.Since(start)
	stop()
	if !ok {
		return fmt.Errorf("bench drain phase: only %d of %d deliveries arrived", drain.Unique(), o.drainRows*o.webhooks)
	}
	cpu := bench.CPUTime() - cpu0
	bare, err := bench.BareRead(ctx, cfg.DatabaseURL, "bench_bare", cfg.Publication, o.drainRows)
	if err != nil {
		return err
	}
	rate := float64(o.drainRows*o.webhooks) / took.Seconds()
	ceiling := float64(o.drainRows) / bare.Seconds()
	fmt.Fprintf(out, "drain:    %d rows waiting in the slot: walhook delivered %d events in %.2fs = %.0f events/s (from start-up to the last receipt)\n",
		o.drainRows, drain.Unique(), took.Seconds(), rate)
	fmt.Fprintf(out, "ceiling:  a bare replication read drained the same changes in %.2fs = %.0f rows/s; walhook/ceiling = %.2f\n",
		bare.Seconds(), ceiling, float64(o.drainRows)/took.Seconds()/ceiling)
	fmt.Fprintf(out, "process:  peak RSS %.0f MiB, CPU %.1fs (walhook, writer and receiver in one process; the server not included)\n",
		float64(bench.PeakRSSBytes())/(1<<20), cpu.Seconds())
	fmt.Fprintf(out, "signatures: %d bad\n", badSigs+drain.BadSignatures())
	return nil
}

// startBenchService starts walhook in this process; ready, when set, runs once the API
// answers. stop ends the service and waits for it.
func startBenchService(ctx context.Context, cfg Config, log *slog.Logger, ready func(base string) error) (stop func(), err error) {
	sctx, cancel := context.WithCancel(ctx)
	svc, err := startService(sctx, cfg, log)
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- svc.run(sctx); svc.close() }()
	stop = func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("bench: walhook stopped with an error", "err", err)
		}
	}
	if ready != nil {
		if err := ready("http://" + svc.ln.Addr().String()); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
