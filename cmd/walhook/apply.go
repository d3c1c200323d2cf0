package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/webhookfile"
)

// applyFlags declares apply's flags on fs.
func applyFlags(fs *flag.FlagSet) (file *string, dryRun, prune *bool) {
	file = fs.String("f", "", "the webhooks file (YAML; required; see README.md, Webhooks as config)")
	dryRun = fs.Bool("dry-run", false, "print the plan and change nothing")
	prune = fs.Bool("prune", false, "delete the named webhooks the file does not list (default: keep them, and say so)")
	return file, dryRun, prune
}

// cmdApply is "walhook apply -f webhooks.yaml [--dry-run] [--prune]": it makes the stored
// named webhooks match the file, printing the plan. It needs the databases, not a running
// walhook: running instances pick the changes up through the webhooks' NOTIFY.
func cmdApply(ctx context.Context, args []string) error {
	return applyFile(ctx, args, envconfig.OsLookuper(), os.LookupEnv, os.Stdout, os.Stderr)
}

// errDryRun rolls back the transaction of a dry run.
var errDryRun = errors.New("dry run")

// applyFile is cmdApply with its environments (configuration, and the file's ${VAR}s)
// and output passed in.
func applyFile(ctx context.Context, args []string, env envconfig.Lookuper, fileEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := newFlagSet("apply")
	file, dryRun, prune := applyFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usagef("-f <webhooks file> is required")
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	if err := cfg.requireDatabase(); err != nil {
		return err
	}
	var sealer *seal.Sealer
	if cfg.SecretKey != "" {
		if sealer, err = seal.New(cfg.SecretKey); err != nil {
			return configErrorf("WALHOOK_SECRET_KEY", "%v", err)
		}
	}
	data, err := readLimited(*file, webhookfile.MaxFileBytes)
	if err != nil {
		return err
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return fmt.Errorf("load mapping (WALHOOK_MAPPING_FILE=%q): %w", cfg.MappingFile, err)
	}
	s := &service{cfg: cfg, m: m}
	if s.pool, s.state, err = openPools(ctx, cfg); err != nil {
		return err
	}
	defer s.close()
	// The mapping validated against the CRM's schema is what the API validates webhooks
	// with; an out-of-date setup (no name column) is refused here, naming the fix.
	if err := s.checkSetup(ctx); err != nil {
		return err
	}
	checker := api.New(api.Config{Mapping: m, AllowPrivateTargets: cfg.AllowPrivateTargets,
		MaxTimeout: cfg.MaxWebhookTimeout, Logger: newLogger(cfg, stderr)})
	entries, err := webhookfile.Parse(ctx, *file, data, fileEnv, checker.CheckCreate)
	if err != nil {
		return err
	}
	store := matcher.NewStore(s.state).SealSecrets(sealer)
	// One transaction: the plan is made from what it reads, under a lock that keeps
	// concurrent applies apart, and its changes are committed (and announced to running
	// instances) all together or not at all.
	err = store.InTx(ctx, func(tx *matcher.Store) error {
		if err := tx.LockNames(ctx); err != nil {
			return err
		}
		live, err := tx.Live(ctx)
		if err != nil {
			return err
		}
		plan := webhookfile.NewPlan(entries, live, *prune)
		if err := plan.Write(stdout, *file); err != nil {
			return fmt.Errorf("print the plan: %w", err)
		}
		if *dryRun {
			return errDryRun
		}
		return plan.Apply(ctx, tx)
	})
	switch {
	case errors.Is(err, errDryRun):
		_, err = fmt.Fprintln(stdout, "dry run: nothing changed")
		return err
	case err != nil:
		return fmt.Errorf("apply %s (nothing changed): %w", *file, err)
	}
	_, err = fmt.Fprintln(stdout, "applied")
	return err
}

// readLimited reads the file at path, refusing one larger than limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read webhooks file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read webhooks file %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("read webhooks file %s: larger than %d bytes", path, limit)
	}
	return data, nil
}
