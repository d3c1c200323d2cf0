// Command walhook reads a CRM PostgreSQL database's row changes through logical
// replication and delivers them as Pipeliner-style webhooks (see README.md).
//
// This package only wires: each subcommand is a function of (ctx, args) in its own file,
// configuration comes from the environment (config.go), and main turns errors into one
// line on stderr and an exit code: 0 on success, 1 on failure, 2 on a usage error, 130
// when interrupted. The first SIGINT or SIGTERM cancels the context so a subcommand can
// stop cleanly; a second one exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name    string
	args    string // synopsis of the arguments other than flags, for help
	summary string
	run     func(ctx context.Context, args []string) error
	// flags, when set, declares the command's flags, for help.
	flags func(fs *flag.FlagSet)
	// hidden commands are internal (started by another command) and left out of usage.
	hidden bool
	// env lists the WALHOOK_* variables the command reads, for help; envDefaults holds
	// the defaults that differ from Config's for this command.
	env         []string
	envDefaults map[string]string
}

// commands lists the subcommands in the order help shows them. Their names are part of
// walhook's contract (DESIGN.md §1).
func commands() []command {
	all := configVariables()
	except := func(skip ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(v string) bool { return slices.Contains(skip, v) })
	}
	return []command{
		{name: "run", summary: "run the service: replication reader, matcher, sender, webhook API, /metrics",
			run: cmdRun, env: all},
		{name: "setup", summary: "create or update walhook's schema, publication, replica identities and slot",
			run: cmdSetup, flags: func(fs *flag.FlagSet) { setupFlags(fs) },
			env: []string{"WALHOOK_DATABASE_URL", "WALHOOK_MAPPING_FILE", "WALHOOK_SLOT", "WALHOOK_PUBLICATION", "WALHOOK_LOG_LEVEL", "WALHOOK_LOG_FORMAT"}},
		// demo and bench run the service on a throwaway database of their own, with private
		// targets allowed; bench also picks its own listen address and writes text logs.
		{name: "demo", summary: "throwaway PostgreSQL + sample CRM + live webhook deliveries, until interrupted",
			run: cmdDemo, env: except("WALHOOK_DATABASE_URL", "WALHOOK_ALLOW_PRIVATE_TARGETS"),
			envDefaults: map[string]string{"WALHOOK_LOG_FORMAT": "text", "WALHOOK_API_TOKENS": "demo-token"}},
		{name: "bench", summary: "measure walhook against a bare replication read on a throwaway PostgreSQL",
			run: cmdBench, flags: func(fs *flag.FlagSet) { benchFlags(fs) },
			env:         except("WALHOOK_DATABASE_URL", "WALHOOK_ALLOW_PRIVATE_TARGETS", "WALHOOK_LISTEN_ADDR", "WALHOOK_LOG_FORMAT"),
			envDefaults: map[string]string{"WALHOOK_LOG_LEVEL": "warn", "WALHOOK_API_TOKENS": "bench-token"}},
		{name: "bench-receiver", summary: "the receiver process \"walhook bench\" starts (internal)",
			run: cmdBenchReceiver, flags: func(fs *flag.FlagSet) { benchReceiverFlags(fs) }, hidden: true},
		{name: "healthcheck", summary: "check a running walhook's /readyz (or /healthz) on WALHOOK_LISTEN_ADDR; exit 0 or 1",
			run: cmdHealthcheck, flags: func(fs *flag.FlagSet) { healthcheckFlags(fs) }, env: []string{"WALHOOK_LISTEN_ADDR"}},
		{name: "apply", summary: "make the stored named webhooks match a YAML file (-f), printing the plan; --dry-run changes nothing",
			run: cmdApply, flags: func(fs *flag.FlagSet) { applyFlags(fs) },
			env: []string{"WALHOOK_DATABASE_URL", "WALHOOK_STATE_DATABASE_URL", "WALHOOK_MAPPING_FILE", "WALHOOK_SLOT", "WALHOOK_PUBLICATION",
				"WALHOOK_SECRET_KEY", "WALHOOK_ALLOW_PRIVATE_TARGETS", "WALHOOK_MAX_WEBHOOK_TIMEOUT", "WALHOOK_LOG_LEVEL", "WALHOOK_LOG_FORMAT"}},
		{name: "mapping", args: "init|check", summary: "write a starter mapping from a live database (init), or validate one and print what each table raises (check)", run: cmdMapping, flags: func(fs *flag.FlagSet) { mappingFlags(fs) }, env: []string{"WALHOOK_DATABASE_URL", "WALHOOK_MAPPING_FILE"}},
		{name: "version", summary: "print the version (also: walhook --version)", run: cmdVersion},
		{name: "help", args: "[command]", summary: "show this help, or a command's", run: cmdHelp},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	exitOnSecondSignal()
	code := runMain(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// exitOnSecondSignal exits with status 130 on the second SIGINT or SIGTERM: the first
// one cancels main's context, and a user who signals again wants out now.
func exitOnSecondSignal() {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		<-sigs
		fmt.Fprintln(os.Stderr, "walhook: second signal, exiting now")
		os.Exit(130)
	}()
}

// runMain dispatches args to a subcommand and returns the exit code, writing errors to
// stderr as one line.
func runMain(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := lookupCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "walhook: unknown command %q; run \"walhook help\"\n", name)
		return 2
	}
	return exitCode(ctx, name, cmd.run(ctx, args[1:]), stderr)
}

// exitCode reports err of command name on stderr, as one line, and returns the exit
// status for it.
func exitCode(ctx context.Context, name string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "walhook %s: interrupted\n", name)
		return 130
	}
	fmt.Fprintf(stderr, "walhook %s: %s\n", name, oneLine(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func lookupCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// oneLine folds a multi-line error message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ; ")), " ")
}

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() + ` (see "walhook help")` }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// newFlagSet returns a flag set that reports errors instead of printing them.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("walhook "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args, printing the command's help for -h and turning bad flags and
// unexpected arguments into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		name := strings.TrimPrefix(fs.Name(), "walhook ")
		if c, ok := lookupCommand(name); ok {
			writeCommandHelp(os.Stdout, c)
		}
		return err
	}
	if err != nil {
		return &usageError{err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// cmdHelp is "walhook help [command]".
func cmdHelp(_ context.Context, args []string) error {
	switch len(args) {
	case 0:
		writeUsage(os.Stdout)
		return nil
	case 1:
		c, ok := lookupCommand(args[0])
		if !ok {
			return usagef("unknown command %q", args[0])
		}
		writeCommandHelp(os.Stdout, c)
		return nil
	}
	return usagef("help takes at most one command")
}

func writeUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: walhook <command> [arguments]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		if c.hidden {
			continue
		}
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration is read from WALHOOK_* environment variables; \"walhook help <command>\"")
	fmt.Fprintln(w, "lists a command's flags and variables, README.md explains them.")
}

// writeCommandHelp writes c's synopsis, its flags with their defaults, and the
// environment variables it reads with theirs.
func writeCommandHelp(w io.Writer, c command) {
	synopsis := "walhook " + c.name
	if c.flags != nil {
		synopsis += " [flags]"
	}
	if c.args != "" {
		synopsis += " " + c.args
	}
	fmt.Fprintf(w, "usage: %s\n\n%s\n", synopsis, c.summary)
	if c.flags != nil {
		fs := newFlagSet(c.name)
		c.flags(fs)
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if len(c.env) == 0 {
		return
	}
	fmt.Fprintln(w, "\nenvironment (see README.md, Configuration):")
	defaults := configDefaults()
	for _, v := range c.env {
		d, ok := defaults[v]
		if cd, set := c.envDefaults[v]; set {
			d, ok = cd, true
		}
		switch {
		case v == "WALHOOK_DATABASE_URL" && c.name != "demo" && c.name != "bench":
			d = "(required)"
		case v == "WALHOOK_MAPPING_FILE":
			d = "(default: the bundled sample CRM mapping)"
		case !ok || d == "":
			d = "(none)"
		default:
			d = "(default " + d + ")"
		}
		fmt.Fprintf(w, "  %-32s %s\n", v, d)
	}
}
