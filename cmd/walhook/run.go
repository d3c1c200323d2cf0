package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/backfill"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/console"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/inbound"
	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/sender"
)

// cmdRun is "walhook run": the service, until SIGINT or SIGTERM.
func cmdRun(ctx context.Context, args []string) error {
	if err := parseFlags(newFlagSet("run"), args); err != nil {
		return err
	}
	cfg, err := loadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	if err := cfg.requireDatabase(); err != nil {
		return err
	}
	log := newLogger(cfg, os.Stderr)
	return runService(ctx, cfg, log)
}

// memoryHeadroomBytes is what the Go runtime's soft limit allows beyond the in-flight
// budget: the reader's buffers, pools, the API and the runtime itself.
const memoryHeadroomBytes = 48 << 20

// setMemoryLimit sets the runtime's soft memory limit from WALHOOK_MEMORY_LIMIT_BYTES,
// unless GOMEMLIMIT sets it: without one, the GC lets the heap grow to about twice the
// live data, twice the budget under a full backlog.
func setMemoryLimit(cfg Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := cfg.MemoryLimitBytes + memoryHeadroomBytes
	debug.SetMemoryLimit(limit)
	log.Debug("runtime memory limit set", "bytes", limit)
}

// service is one running walhook: the assembled pipeline (package pipeline) and the HTTP
// listener serving the API, /metrics, /healthz and /readyz.
type service struct {
	cfg  Config
	log  *slog.Logger
	reg  *prometheus.Registry
	m    *mapping.Mapping
	pool *pgxpool.Pool // the CRM database
	// state is walhook's own database: pool, or the one WALHOOK_STATE_DATABASE_URL names.
	state *pgxpool.Pool
	pipe  *pipeline.Service
	mux   *http.ServeMux
	ln    net.Listener
}

// runService starts the service, checks that setup is current, and runs until ctx ends.
func runService(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := startService(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	return s.run(ctx)
}

func startService(ctx context.Context, cfg Config, log *slog.Logger) (*service, error) {
	s := &service{cfg: cfg, log: log, reg: newRegistry(), mux: http.NewServeMux()}
	setMemoryLimit(cfg, log)
	if len(cfg.APITokens) == 0 {
		log.Warn("no API token configured: the webhook API refuses every call; set WALHOOK_API_TOKENS")
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return nil, fmt.Errorf("load mapping (WALHOOK_MAPPING_FILE=%q): %w", cfg.MappingFile, err)
	}
	s.m = m
	if s.pool, s.state, err = openPools(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.checkSetup(ctx); err != nil {
		s.close()
		return nil, err
	}
	pipeCfg, err := pipelineConfig(cfg, m, s.state, log, s.reg)
	pipeCfg.CRM = s.pool
	if err != nil {
		s.close()
		return nil, err
	}
	if s.pipe, err = pipeline.New(pipeCfg); err != nil {
		s.close()
		return nil, err
	}
	if err := s.pipe.Load(ctx); err != nil {
		s.close()
		return nil, err
	}
	if s.ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
		s.close()
		return nil, fmt.Errorf("listen on WALHOOK_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	s.routes()
	return s, nil
}

// openPools opens the CRM database's pool and walhook's state database's: the same pool
// unless WALHOOK_STATE_DATABASE_URL names another database.
func openPools(ctx context.Context, cfg Config) (crm, state *pgxpool.Pool, err error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("parse WALHOOK_DATABASE_URL: %s", redactConnString(err.Error()))
	}
	matcher.ConfigureCRMPool(pcfg)
	event.NameSession(pcfg.ConnConfig.RuntimeParams, event.ApplicationName)
	if crm, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, nil, fmt.Errorf("connect to the database: %s", redactConnString(err.Error()))
	}
	if cfg.StateDatabaseURL == "" {
		return crm, crm, nil
	}
	scfg, err := pgxpool.ParseConfig(cfg.StateDatabaseURL)
	if err == nil {
		event.NameSession(scfg.ConnConfig.RuntimeParams, event.ApplicationName)
		state, err = pgxpool.NewWithConfig(ctx, scfg)
	}
	if err != nil {
		crm.Close()
		return nil, nil, fmt.Errorf("connect to WALHOOK_STATE_DATABASE_URL: %s", redactConnString(err.Error()))
	}
	return crm, state, nil
}

// newRegistry returns the registry /metrics serves: walhook's metrics are added by each
// component; the Go and process collectors and walhook_build_info are added here.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(currentBuild()))
	return reg
}

// pipelineConfig turns the configuration into the pipeline's: each component's settings
// from its WALHOOK_ variables.
func pipelineConfig(c Config, m *mapping.Mapping, pool *pgxpool.Pool, log *slog.Logger, reg prometheus.Registerer) (pipeline.Config, error) {
	var secrets *seal.Sealer
	if c.SecretKey != "" {
		var err error
		if secrets, err = seal.New(c.SecretKey); err != nil {
			return pipeline.Config{}, configErrorf("WALHOOK_SECRET_KEY", "%v", err)
		}
	}
	return pipeline.Config{
		DB: pool, Mapping: m, Logger: log, Registerer: reg, Secrets: secrets,
		Reader: cdc.Config{
			ConnString: c.DatabaseURL, Slot: c.Slot, Publication: c.Publication,
			StandbyInterval: c.StandbyInterval, ConfirmDelay: c.ConfirmDelay, ReconnectBackoff: c.ReconnectBackoff,
		},
		Matcher: matcher.Config{MaxBodyBytes: c.MaxBodyBytes, MaxExpandRows: c.MaxExpandRows},
		Sender: sender.Config{
			Version: version, AllowPrivateTargets: c.AllowPrivateTargets,
			Linger: c.DeliveryLinger, RequestTimeout: c.RequestTimeout, MaxRequestTimeout: c.MaxWebhookTimeout,
			RotationGrace:   c.SignatureRotationGrace,
			RetryMinBackoff: c.RetryMinBackoff, RetryMaxBackoff: c.RetryMaxBackoff, RetryWindow: c.RetryWindow,
			Concurrency: c.WebhookConcurrency, DelayHorizon: c.DelayHorizon,
			MemoryLimitBytes: c.MemoryLimitBytes, SpillWait: c.SpillWait, SlowAfter: c.SlowAfter,
			QueueWorkers: c.QueueWorkers, QueuePollInterval: c.QueuePollInterval,
			BreakerThreshold: c.BreakerThreshold, BreakerCooldown: c.BreakerCooldown,
			DeliveryLogRetention: c.DeliveryLogRetention, DeadLetterRetention: c.DeadLetterRetention,
			PayloadRetention: payloadRetention(c.PayloadRetention),
			MaxBodyBytes:     c.MaxBodyBytes,
		},
		API: api.Config{Tokens: c.APITokens, AllowPrivateTargets: c.AllowPrivateTargets, MaxTimeout: c.MaxWebhookTimeout},
		Inbound: inbound.Config{MaxBytes: c.InboundMaxBytes, Rate: c.InboundRate, Burst: c.InboundBurst,
			Retention: c.InboundRetention, PublicURL: c.PublicURL},
		Backfill: backfill.Config{ChunkRows: c.BackfillChunkRows},
	}, nil
}

// validateMapping validates m against the database; when m is the bundled sample mapping
// (WALHOOK_MAPPING_FILE unset), a mismatch says first how to give a mapping.
func validateMapping(ctx context.Context, cfg Config, m *mapping.Mapping, q mapping.Querier) error {
	err := m.Validate(ctx, q)
	switch {
	case err == nil:
		return nil
	case cfg.MappingFile == "":
		return fmt.Errorf("WALHOOK_MAPPING_FILE is not set and the bundled sample CRM mapping does not fit this database: "+
			"write a mapping for your schema and set WALHOOK_MAPPING_FILE (%w)", err)
	}
	return fmt.Errorf("validate mapping against the database: %w", err)
}

// checkSetup validates the mapping against the live schema and refuses to start when
// "walhook setup" is missing or out of date, naming the fix.
func (s *service) checkSetup(ctx context.Context) error {
	if err := validateMapping(ctx, s.cfg, s.m, s.pool); err != nil {
		return err
	}
	opts := schema.Options{Slot: s.cfg.Slot, Publication: s.cfg.Publication}
	if s.state != s.pool {
		opts.Target = schema.TargetCRM
		if err := checkSchema(ctx, s.state, s.m, schema.Options{Slot: opts.Slot, Publication: opts.Publication, Target: schema.TargetState}); err != nil {
			return fmt.Errorf("state database (WALHOOK_STATE_DATABASE_URL): %w", err)
		}
	}
	return checkSchema(ctx, s.pool, s.m, opts)
}

func checkSchema(ctx context.Context, pool *pgxpool.Pool, m *mapping.Mapping, opts schema.Options) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to the database: %s", redactConnString(err.Error()))
	}
	defer conn.Release()
	return schema.Check(ctx, conn.Conn(), m, opts)
}

// close closes the service's pools.
func (s *service) close() {
	if s.state != s.pool {
		s.state.Close()
	}
	s.pool.Close()
}

func (s *service) routes() {
	s.mux.Handle("/api/", s.pipe.API())
	s.mux.Handle("/api/v3/", s.pipe.Inbound())
	s.mux.Handle("/v1/", s.pipe.API())            // Pipedrive's webhooks API (DESIGN.md §12)
	s.mux.Handle(console.Path, console.Handler()) // ServeMux redirects /console to /console/
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.pool.Ping(r.Context()); err != nil {
			http.Error(w, "database unreachable", http.StatusServiceUnavailable)
			return
		}
		if s.state != s.pool {
			if err := s.state.Ping(r.Context()); err != nil {
				http.Error(w, "state database (WALHOOK_STATE_DATABASE_URL) unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		if err := s.pipe.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// run serves until ctx ends, then shuts down: the HTTP server is given 10 seconds to finish
// its requests, the reader confirms what was acknowledged before it exits, and the sender
// is flushed.
func (s *service) run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	// Timeouts reap slow or idle clients: the API takes at most 1 MiB bodies, and
	// unauthenticated keep-alive connections must not accumulate.
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http on %s: %w", s.ln.Addr(), err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	g.Go(func() error { return s.pipe.Run(gctx) })
	b := currentBuild()
	s.log.Info("walhook running", "version", b.version, "revision", b.revisionLabel(), "listen_addr", s.ln.Addr().String(), "slot", s.cfg.Slot, "config", s.cfg)
	err := g.Wait()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if cerr := s.pipe.Close(cctx); cerr != nil && err == nil {
		err = cerr
	}
	s.log.Info("walhook stopped")
	return err
}

// payloadRetention maps WALHOOK_PAYLOAD_RETENTION to the sender's PayloadRetention, whose
// zero means its default: 0 (keep no bodies) is negative there.
func payloadRetention(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
