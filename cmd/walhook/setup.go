package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
)

// setupFlags declares setup's flags on fs.
func setupFlags(fs *flag.FlagSet) (printSQL, recreateLost *bool) {
	printSQL = fs.Bool("print-sql", false, "print the setup SQL (a psql script) instead of running it; needs no database")
	recreateLost = fs.Bool("recreate-lost-slot", false,
		"drop and recreate the replication slot if the server invalidated it (wal_status lost); changes since its last confirmed position are not delivered")
	return printSQL, recreateLost
}

// cmdSetup is "walhook setup": it validates the mapping against the CRM database and
// creates or updates walhook's schema, the publication, REPLICA IDENTITY FULL on the
// mapped tables and the slot. Running it again changes nothing.
func cmdSetup(ctx context.Context, args []string) error {
	return setup(ctx, args, envconfig.OsLookuper(), os.Stdout, os.Stderr)
}

// setup is cmdSetup with its environment, output and log passed in.
func setup(ctx context.Context, args []string, env envconfig.Lookuper, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup")
	printSQL, recreateLost := setupFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return fmt.Errorf("load mapping (WALHOOK_MAPPING_FILE=%q): %w", cfg.MappingFile, err)
	}
	opts := schema.Options{Slot: cfg.Slot, Publication: cfg.Publication, RecreateLostSlot: *recreateLost}
	if *printSQL {
		if cfg.StateDatabaseURL != "" {
			return fmt.Errorf("%w: --print-sql prints the setup of one database; unset WALHOOK_STATE_DATABASE_URL to print it", errConfig)
		}
		return schema.PrintSQL(stdout, m, opts)
	}
	if err := cfg.requireDatabase(); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	conn, err := connect(ctx, cfg.DatabaseURL, "walhook setup")
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := validateMapping(ctx, cfg, m, conn); err != nil {
		return err
	}
	log.Info("mapping valid", "tables", len(m.Tables()), "slot", opts.Slot, "publication", opts.Publication)
	if cfg.StateDatabaseURL == "" {
		return schema.Setup(ctx, conn, m, opts, log)
	}
	// walhook's own tables go to the state database; the CRM database gets the
	// publication, REPLICA IDENTITY FULL, the slot and the skip-key helper.
	state, err := connect(ctx, cfg.StateDatabaseURL, "walhook setup")
	if err != nil {
		return fmt.Errorf("state database (WALHOOK_STATE_DATABASE_URL): %w", err)
	}
	defer state.Close(context.WithoutCancel(ctx))
	sopts := opts
	sopts.Target = schema.TargetState
	if err := schema.Setup(ctx, state, m, sopts, log.With("database", "state")); err != nil {
		return fmt.Errorf("state database (WALHOOK_STATE_DATABASE_URL): %w", err)
	}
	opts.Target = schema.TargetCRM
	return schema.Setup(ctx, conn, m, opts, log.With("database", "crm"))
}

// connect opens a connection to the database at url, naming it in pg_stat_activity
// unless the URL (or PGAPPNAME) sets application_name itself.
func connect(ctx context.Context, url, application string) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		// loadConfig has parsed it already; say nothing more that could quote it.
		return nil, fmt.Errorf("parse WALHOOK_DATABASE_URL: %w", errConfig)
	}
	event.NameSession(cc.RuntimeParams, application)
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect to the CRM database: %w", err)
	}
	return conn, nil
}
