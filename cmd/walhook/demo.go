package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sethvargo/go-envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/internal/demo"
	"github.com/walhook/walhook/internal/pgcluster"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/schema/sample"
)

// cmdDemo is "walhook demo": a throwaway PostgreSQL (installed with apt-get when missing)
// with the sample CRM, walhook set up and running on it, and live CRM activity, until
// interrupted. Everything it starts is removed when it stops.
func cmdDemo(ctx context.Context, args []string) error {
	if err := parseFlags(newFlagSet("demo"), args); err != nil {
		return err
	}
	cfg, err := loadConfig(ctx, envconfig.OsLookuper())
	if err != nil {
		return err
	}
	if os.Getenv("WALHOOK_LOG_FORMAT") == "" {
		cfg.LogFormat = "text"
	}
	log := newLogger(cfg, os.Stderr)
	cluster, cfg, err := sampleCRM(ctx, cfg, log, demoListenAddr(cfg.ListenAddr), "demo-token", nil)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	return runDemo(ctx, cfg, log)
}

// sampleCRM starts a throwaway cluster holding the sample CRM with walhook set up on it,
// and returns cfg pointed at it: private targets allowed (receivers are on loopback),
// listening on addr, and token as API token unless tokens are configured. settings are
// extra server settings. The caller stops the cluster.
func sampleCRM(ctx context.Context, cfg Config, log *slog.Logger, addr, token string, settings map[string]string) (*pgcluster.Cluster, Config, error) {
	cluster, err := startDemoCluster(ctx, log, settings)
	if err != nil {
		return nil, cfg, err
	}
	cfg.DatabaseURL, cfg.AllowPrivateTargets, cfg.ListenAddr = cluster.DSN("crm"), true, addr
	if len(cfg.APITokens) == 0 {
		cfg.APITokens = []string{token}
	}
	if err := loadSampleCRM(ctx, cfg, log); err != nil {
		cluster.Stop()
		return nil, cfg, err
	}
	return cluster, cfg, nil
}

// startDemoCluster installs PostgreSQL when missing and starts a throwaway cluster with
// extra settings.
func startDemoCluster(ctx context.Context, log *slog.Logger, extra map[string]string) (*pgcluster.Cluster, error) {
	if _, err := pgcluster.BinDir(); err != nil {
		log.Info("PostgreSQL not found; installing it with apt-get")
		if err := pgcluster.EnsureInstalled(ctx, os.Stderr); err != nil {
			return nil, fmt.Errorf("install postgresql: %w", err)
		}
	}
	// synchronous_commit on: the WAL sender only sends flushed WAL, and with it off a commit
	// waits up to wal_writer_delay (200 ms) to be flushed, which would show as latency.
	settings := map[string]string{"synchronous_commit": "on"}
	maps.Copy(settings, extra)
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Settings: settings})
	if err != nil {
		return nil, fmt.Errorf("start a throwaway postgresql: %w", err)
	}
	log.Info("throwaway PostgreSQL started", "dsn", cluster.DSN("crm"), "dir", cluster.Dir())
	return cluster, nil
}

// demoListenAddr keeps the configured address when it is free, else takes any free
// loopback port, so a busy :8080 does not stop the demo.
func demoListenAddr(addr string) string {
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		return addr
	}
	return "127.0.0.1:0"
}

// loadSampleCRM creates the crm database with the sample schema and data, and runs setup.
func loadSampleCRM(ctx context.Context, cfg Config, log *slog.Logger) error {
	admin, err := pgx.Connect(ctx, swapDatabase(cfg.DatabaseURL, "postgres"))
	if err != nil {
		return fmt.Errorf("connect to the demo cluster: %w", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE crm")
	admin.Close(ctx)
	if err != nil {
		return fmt.Errorf("create the crm database: %w", err)
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to the crm database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sample.CRMSQL); err != nil {
		return fmt.Errorf("load the sample CRM: %w", err)
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return fmt.Errorf("load mapping: %w", err)
	}
	if err := m.Validate(ctx, conn); err != nil {
		return fmt.Errorf("validate mapping: %w", err)
	}
	return schema.Setup(ctx, conn, m, schema.Options{Slot: cfg.Slot, Publication: cfg.Publication}, log)
}

// swapDatabase returns the cluster DSN for another database of the same cluster.
func swapDatabase(dsn, db string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return dsn
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
}

// demoSecret is the demo webhook's signature string (the seeds' example UUID).
const demoSecret = "01234567-abcd-dcba-ffff-000000000000"

// runDemo runs walhook, a receiver that verifies and prints deliveries, and the CRM
// activity, registers a signed webhook for the receiver through the API, and runs until
// ctx ends.
func runDemo(ctx context.Context, cfg Config, log *slog.Logger) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("connect to the crm database: %w", err)
	}
	defer pool.Close()
	recvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the demo receiver: %w", err)
	}
	recv := &http.Server{Handler: &demo.Receiver{Secret: demoSecret, Out: os.Stdout}, ReadHeaderTimeout: 10 * time.Second}
	svc, err := startService(ctx, cfg, log)
	if err != nil {
		recvLn.Close()
		return err
	}
	defer svc.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.run(gctx) })
	g.Go(func() error {
		go func() { <-gctx.Done(); recv.Close() }()
		if err := recv.Serve(recvLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("demo receiver: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		base := "http://" + loopbackAddr(svc.ln.Addr())
		target := "http://" + recvLn.Addr().String() + "/hooks/crm"
		if err := demo.Register(gctx, base, cfg.APITokens[0], target, demoSecret); err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "walhook demo: API %s (token %q), webhook → %s signed with %s.\n"+
			"Console: %s/console/ (token %q, space %q).\n"+
			"CRM activity every second; each delivery and its items follow. Ctrl-C stops and removes everything.\n",
			base, cfg.APITokens[0], target, demoSecret, base, cfg.APITokens[0], demo.Space)
		// A new webhook reaches the matcher within a second (LISTEN/NOTIFY).
		select {
		case <-gctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		return demo.Activity(gctx, pool, time.Second, log)
	})
	return g.Wait()
}

// loopbackAddr turns a listener's address into one a browser on this machine can use
// (an unspecified host such as [::] becomes 127.0.0.1).
func loopbackAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || host == "" || net.ParseIP(host).IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return a.String()
}
