package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgcluster"
)

// quickStartHeading is the README section that TestQuickStart follows.
const quickStartHeading = "## Quick start with your own database"

// quickStep is one shell block of the quick start and how it is run: "env" (the user's
// settings, replaced by the test's), "run" (in the script's shell: its exports carry on),
// "background" (started and left running, as in its own terminal) or "eventually"
// (repeated, in a child shell, until it succeeds: it waits for something to be ready).
type quickStep struct {
	kind, body string
}

var quickMarker = regexp.MustCompile(`^<!-- quickstart:(env|run|background|eventually) -->$`)

// quickSteps returns the shell blocks of the README's quick start, each marked with how it
// is run; a shell block without a marker is an error, so nothing the section shows goes
// untested.
func quickSteps(readme string) ([]quickStep, error) {
	start := strings.Index(readme, "\n"+quickStartHeading+"\n")
	if start < 0 {
		return nil, fmt.Errorf("README.md has no %q section", quickStartHeading)
	}
	section := readme[start+1:]
	if end := strings.Index(section[len(quickStartHeading):], "\n## "); end >= 0 {
		section = section[:len(quickStartHeading)+end]
	}
	var steps []quickStep
	kind := ""
	sc := bufio.NewScanner(strings.NewReader(section))
	for sc.Scan() {
		line := sc.Text()
		if m := quickMarker.FindStringSubmatch(line); m != nil {
			kind = m[1]
			continue
		}
		if !strings.HasPrefix(line, "```") {
			continue
		}
		if line != "```sh" {
			return nil, fmt.Errorf("quick start: a %q block: only sh blocks may appear", line)
		}
		if kind == "" {
			return nil, fmt.Errorf("quick start: a shell block without a <!-- quickstart:… --> marker before it")
		}
		var body strings.Builder
		for sc.Scan() && sc.Text() != "```" {
			body.WriteString(sc.Text() + "\n")
		}
		steps = append(steps, quickStep{kind: kind, body: body.String()})
		kind = ""
	}
	envs := 0
	for _, s := range steps {
		if s.kind == "env" {
			envs++
		}
	}
	if envs != 1 || len(steps) < 2 {
		return nil, fmt.Errorf("quick start: %d shell blocks with %d env blocks, want one env block and more", len(steps), envs)
	}
	return steps, nil
}

// quickScript turns the steps into one bash script run in dir; env replaces the env step.
func quickScript(steps []quickStep, env map[string]string, dir string) (string, error) {
	var b strings.Builder
	b.WriteString("set -euo pipefail\n")
	for i, s := range steps {
		file := filepath.Join(dir, fmt.Sprintf("step-%d.sh", i+1))
		if err := os.WriteFile(file, []byte(s.body), 0o644); err != nil {
			return "", err
		}
		log := filepath.Join(dir, fmt.Sprintf("step-%d.log", i+1))
		fmt.Fprintf(&b, "echo '==> step %d (%s)'\n", i+1, s.kind)
		switch s.kind {
		case "env":
			for _, k := range []string{"PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "WALHOOK_LISTEN_ADDR", "RECEIVER_ADDR"} {
				fmt.Fprintf(&b, "export %s=%s\n", k, strconv.Quote(env[k]))
			}
		case "run":
			b.WriteString(s.body)
		case "background":
			fmt.Fprintf(&b, "bash -euo pipefail %s > %s 2>&1 &\n", file, log)
		case "eventually":
			fmt.Fprintf(&b, "for i in $(seq 100); do\n"+
				"  if bash -euo pipefail %[1]s > %[2]s 2>&1; then cat %[2]s; break; fi\n"+
				"  if [[ $i == 100 ]]; then cat %[2]s; exit 1; fi\n"+
				"  sleep 0.3\ndone\n", file, log)
		}
	}
	b.WriteString("echo '==> quick start done'\n")
	return b.String(), nil
}

// freshCopy copies the repository's files as a clone would have them (tracked, and new
// files not ignored) into dir.
func freshCopy(tb testing.TB, dir string) {
	tb.Helper()
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-co", "--exclude-standard", "-z").Output()
	if err != nil {
		tb.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			tb.Fatal(err)
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestQuickStart follows README.md's quick start literally: its shell blocks, in order, on
// a fresh copy of the repository, against a throwaway cluster holding the sample CRM (the
// user's database), and checks that the receiver printed a verified delivery.
func TestQuickStart(t *testing.T) {
	t.Parallel() // its own database or cluster, ports and temporary directories
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := quickSteps(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"bash", "curl", "jq", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH (scripts/test.sh installs curl and jq)", tool)
		}
	}
	c, _ := ownCluster(t, pgcluster.Options{})
	bin, err := pgcluster.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "walhook")
	freshCopy(t, clone)
	logs := t.TempDir()
	script, err := quickScript(steps, map[string]string{
		"PGHOST": c.Host, "PGPORT": strconv.Itoa(c.Port), "PGDATABASE": "crm", "PGUSER": "postgres",
		"WALHOOK_LISTEN_ADDR": freeAddr(t), "RECEIVER_ADDR": freeAddr(t),
	}, logs)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = clone
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the background steps join its group
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WALHOOK_") && !strings.HasPrefix(kv, "PG") && !strings.HasPrefix(kv, "RECEIVER_") {
			environ = append(environ, kv)
		}
	}
	cmd.Env = append(environ, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	pgid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	stepLog := func(i int) string {
		b, _ := os.ReadFile(filepath.Join(logs, fmt.Sprintf("step-%d.log", i+1)))
		return string(b)
	}
	if err != nil {
		for i, s := range steps {
			if s.kind == "background" {
				t.Logf("step %d (background) output:\n%s", i+1, tail(stepLog(i), 8<<10))
			}
		}
		t.Fatalf("quick start: %v\n%s", err, out)
	}
	var receiverLog string
	for i, s := range steps {
		if s.kind == "background" && strings.Contains(s.body, "walhook-receiver") {
			receiverLog = stepLog(i)
		}
	}
	if !strings.Contains(receiverLog, "signature ok") || !strings.Contains(receiverLog, "Contact.Update") {
		t.Errorf("the receiver did not print a verified Contact.Update delivery; it printed:\n%s\nquick start output:\n%s", receiverLog, out)
	}
	t.Logf("quick start output:\n%s\nreceiver:\n%s", out, receiverLog)
}
