package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/console"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/schema"
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
	return runService(ctx, cfg, log, nil)
}

// service is one running walhook: the replication reader and everything behind it, and the
// HTTP listener serving the API, /metrics, /healthz and /readyz.
type service struct {
	cfg Config
	log *slog.Logger
	reg *prometheus.Registry
	// registerer is where components register their metrics: reg, or a wrapper in tests.
	registerer prometheus.Registerer
	m          *mapping.Mapping
	pool       *pgxpool.Pool
	reader     *cdc.Reader
	mux        *http.ServeMux
	ln         net.Listener
	// runners run beside the reader until ctx ends; closers flush after they stopped.
	runners []func(context.Context) error
	closers []func(context.Context) error
}

// newHandler builds what consumes the reader's events; the reader's Ack is passed so
// the handler can acknowledge transactions. nil means walhook's pipeline.
type newHandler func(ctx context.Context, s *service, ack func(cdc.LSN)) (cdc.Handler, error)

// runService starts the service, checks that setup is current, and runs until ctx ends.
func runService(ctx context.Context, cfg Config, log *slog.Logger, handler newHandler) error {
	s, err := startService(ctx, cfg, log, handler)
	if err != nil {
		return err
	}
	defer s.pool.Close()
	return s.run(ctx)
}

func startService(ctx context.Context, cfg Config, log *slog.Logger, handler newHandler) (*service, error) {
	s := &service{cfg: cfg, log: log, reg: newRegistry(), mux: http.NewServeMux()}
	s.registerer = s.reg
	if len(cfg.APITokens) == 0 {
		log.Warn("no API token configured: the webhook API refuses every call; set WALHOOK_API_TOKENS")
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return nil, fmt.Errorf("load mapping (WALHOOK_MAPPING_FILE=%q): %w", cfg.MappingFile, err)
	}
	s.m = m
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse WALHOOK_DATABASE_URL: %s", redactConnString(err.Error()))
	}
	matcher.ConfigureCRMPool(pcfg)
	if s.pool, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("connect to the database: %s", redactConnString(err.Error()))
	}
	if err := s.checkSetup(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	var ack func(cdc.LSN)
	h, err := s.buildHandler(ctx, handler, func(lsn cdc.LSN) { ack(lsn) })
	if err != nil {
		s.pool.Close()
		return nil, err
	}
	if s.reader, err = s.newReader(h); err != nil {
		s.pool.Close()
		return nil, err
	}
	ack = s.reader.Ack
	if s.ln, err = net.Listen("tcp", cfg.ListenAddr); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("listen on WALHOOK_LISTEN_ADDR=%s: %w", cfg.ListenAddr, err)
	}
	s.routes()
	return s, nil
}

// newRegistry returns the registry /metrics serves: walhook's metrics are added by each
// component; the Go and process collectors and walhook_build_info are added here.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfoGauge(currentBuild()))
	return reg
}

// newReader builds the replication reader (no I/O).
func (s *service) newReader(h cdc.Handler) (*cdc.Reader, error) {
	c := s.cfg
	return cdc.New(cdc.Config{
		ConnString: c.DatabaseURL, Slot: c.Slot, Publication: c.Publication, Mapping: s.m,
		StandbyInterval: c.StandbyInterval, ConfirmDelay: c.ConfirmDelay, ReconnectBackoff: c.ReconnectBackoff,
		Logger: s.log, Registerer: s.registerer,
	}, h)
}

// checkSetup validates the mapping against the live schema and refuses to start when
// "walhook setup" is missing or out of date, naming the fix.
func (s *service) checkSetup(ctx context.Context) error {
	if err := s.m.Validate(ctx, s.pool); err != nil {
		return fmt.Errorf("validate mapping against the database: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to the database: %s", redactConnString(err.Error()))
	}
	defer conn.Release()
	return schema.Check(ctx, conn.Conn(), s.m, schema.Options{Slot: s.cfg.Slot, Publication: s.cfg.Publication})
}

func (s *service) buildHandler(ctx context.Context, handler newHandler, ack func(cdc.LSN)) (cdc.Handler, error) {
	if handler == nil {
		handler = pipelineHandler
	}
	return handler(ctx, s, ack)
}

func (s *service) routes() {
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
		if err := s.reader.Health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}

// run serves until ctx ends, then shuts down: the HTTP server is given 10 seconds to finish
// its requests, and the reader confirms what was acknowledged before it exits.
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
	g.Go(func() error { return s.reader.Run(gctx) })
	for _, run := range s.runners {
		g.Go(func() error { return run(gctx) })
	}
	b := currentBuild()
	s.log.Info("walhook running", "version", b.version, "revision", b.revisionLabel(), "listen_addr", s.ln.Addr().String(), "slot", s.cfg.Slot, "config", s.cfg)
	err := g.Wait()
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, closeFn := range s.closers {
		if cerr := closeFn(cctx); cerr != nil && err == nil {
			err = cerr
		}
	}
	s.log.Info("walhook stopped")
	return err
}
