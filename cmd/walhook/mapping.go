package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/mapping"
)

// mappingFlags declares the flags of "walhook mapping init".
func mappingFlags(fs *flag.FlagSet) (schemas, out *string) {
	schemas = fs.String("schemas", "", "init: comma-separated schemas to introspect (default: every user schema)")
	out = fs.String("o", "", "init: write the starter mapping to this file instead of standard output")
	return schemas, out
}

// cmdMapping is "walhook mapping init|check": init introspects WALHOOK_DATABASE_URL and
// writes a commented starter mapping; check validates WALHOOK_MAPPING_FILE against it and
// prints, per table, what its changes raise, then any warnings.
func cmdMapping(ctx context.Context, args []string) error {
	return mappingCmd(ctx, args, envconfig.OsLookuper(), os.Stdout)
}

func mappingCmd(ctx context.Context, args []string, env envconfig.Lookuper, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "init" && args[0] != "check") {
		return errors.New("mapping: want a subcommand: walhook mapping init [-schemas a,b] [-o file] | walhook mapping check")
	}
	sub := args[0]
	fs := newFlagSet("mapping " + sub)
	schemas, out := mappingFlags(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfig(ctx, env)
	if err != nil {
		return err
	}
	if err := cfg.requireDatabase(); err != nil {
		return err
	}
	conn, err := connect(ctx, cfg.DatabaseURL, "walhook mapping "+sub)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if sub == "init" {
		var list []string
		if *schemas != "" {
			list = strings.Split(*schemas, ",")
		}
		text, err := mapping.Introspect(ctx, conn, list)
		if err != nil {
			return err
		}
		if *out != "" {
			return os.WriteFile(*out, text, 0o644)
		}
		_, err = stdout.Write(text)
		return err
	}
	m, err := mapping.Load(cfg.MappingFile)
	if err != nil {
		return fmt.Errorf("load mapping (WALHOOK_MAPPING_FILE=%q): %w", cfg.MappingFile, err)
	}
	if err := m.Validate(ctx, conn); err != nil {
		return err
	}
	for _, line := range m.Describe() {
		fmt.Fprintln(stdout, line)
	}
	warnings, err := m.Warnings(ctx, conn)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	fmt.Fprintf(stdout, "mapping OK: %d entities, %d links, %d tables\n", len(m.Entities), len(m.Links), len(m.Tables()))
	return nil
}
