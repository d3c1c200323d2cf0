package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRunMainExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, "usage: walhook <command>"},
		{[]string{"frobnicate"}, 2, `walhook: unknown command "frobnicate"`},
		{[]string{"setup", "--bogus"}, 2, "walhook setup: flag provided but not defined: -bogus"},
		{[]string{"setup", "extra"}, 2, `walhook setup: unexpected argument "extra"`},
		{[]string{"help", "nope"}, 2, `walhook help: unknown command "nope"`},
		{[]string{"run", "extra"}, 2, `walhook run: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			if code := runMain(context.Background(), tt.args, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.inStderr)
			}
		})
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr strings.Builder
	err := fmt.Errorf("connect to the CRM database: %w", context.Canceled)
	if code := exitCode(ctx, "setup", err, &stderr); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if got := stderr.String(); got != "walhook setup: interrupted\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestOneLine(t *testing.T) {
	err := errors.New("mapping: unknown table crm.x\nunknown column crm.y.z")
	if got, want := oneLine(err.Error()), "mapping: unknown table crm.x ; unknown column crm.y.z"; got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}

func TestDescribeVersion(t *testing.T) {
	info := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	tests := []struct {
		version string
		info    *debug.BuildInfo
		want    string
	}{
		{"dev", info("(devel)"), "walhook dev"},
		{"v1.2.3", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "false"), "walhook v1.2.3 (abc123)"},
		{"dev", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "true"), "walhook dev (abc123, modified)"},
		{"dev", info("v0.4.0"), "walhook v0.4.0"},
	}
	for _, tt := range tests {
		if got := describeVersion(tt.version, tt.info); got != tt.want {
			t.Errorf("describeVersion(%q, ...) = %q, want %q", tt.version, got, tt.want)
		}
	}
}

// TestCommandHelpListsFlagsAndEnvironment: each command's help lists every flag it
// declares and every variable it reads; "run" reads them all.
func TestCommandHelpListsFlagsAndEnvironment(t *testing.T) {
	all := configVariables()
	for _, c := range commands() {
		var b strings.Builder
		writeCommandHelp(&b, c)
		help := b.String()
		if c.flags != nil {
			fs := newFlagSet(c.name)
			c.flags(fs)
			fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(help, "  -"+f.Name+" ") && !strings.Contains(help, "  -"+f.Name+"\n") {
					t.Errorf("walhook %s -h does not list its flag -%s:\n%s", c.name, f.Name, help)
				}
			})
		}
		for _, v := range c.env {
			if !slices.Contains(all, v) {
				t.Errorf("walhook %s: lists %s, which walhook does not read", c.name, v)
			}
			if !strings.Contains(help, "  "+v+" ") {
				t.Errorf("walhook %s -h does not list %s:\n%s", c.name, v, help)
			}
		}
	}
	for name, want := range map[string]string{"bench": "WALHOOK_LOG_LEVEL                (default warn)", "demo": "WALHOOK_LOG_FORMAT               (default text)"} {
		c, _ := lookupCommand(name)
		var b strings.Builder
		writeCommandHelp(&b, c)
		if !strings.Contains(b.String(), want) {
			t.Errorf("walhook %s -h lacks %q:\n%s", name, want, b.String())
		}
	}
	run, _ := lookupCommand("run")
	if !slices.Equal(run.env, all) {
		t.Errorf("walhook run lists %v, want every variable: %v", run.env, all)
	}
}

// TestHelpAndVersionOfTheBinary runs the real binary: "walhook bench -h" lists bench's
// flags and exits 0, "walhook --version" prints the version.
func TestHelpAndVersionOfTheBinary(t *testing.T) {
	bin := walhookBinary(t)
	out, err := exec.Command(bin, "bench", "-h").Output()
	if err != nil {
		t.Fatalf("walhook bench -h: %v", err)
	}
	for _, f := range []string{"-workload", "-repeat", "-rate", "-rows", "-tx-rows", "-webhooks", "-memprofile", "-cpuprofile", "WALHOOK_LOG_LEVEL"} {
		if !strings.Contains(string(out), "  "+f+" ") {
			t.Errorf("walhook bench -h does not list %s:\n%s", f, out)
		}
	}
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(bin, args...).Output()
		if err != nil || !strings.HasPrefix(string(out), "walhook dev") {
			t.Errorf("walhook %s: %q, %v; want \"walhook dev…\"", args[0], out, err)
		}
	}
}

func TestDialAddr(t *testing.T) {
	for listen, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "[::1]:8080",
		"10.0.0.5:9000":  "10.0.0.5:9000",
		"walhook:8080":   "walhook:8080",
		"127.0.0.1:8080": "127.0.0.1:8080",
	} {
		if got := dialAddr(listen); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", listen, got, want)
		}
	}
}

// TestHealthcheckCommand runs "walhook healthcheck" against stand-in servers: exit 0 and
// one line on 200, exit 1 and one line naming the status and body otherwise.
func TestHealthcheckCommand(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		if status := int(status.Load()); status != http.StatusOK {
			http.Error(w, "database unreachable", status)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	env := map[string]string{"WALHOOK_LISTEN_ADDR": ":" + port}
	bin := walhookBinary(t)
	check := func(args ...string) (int, string, string) {
		cmd := exec.Command(bin, append([]string{"healthcheck"}, args...)...)
		cmd.Env = processEnv(env)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
	}

	if code, out, _ := check(); code != 0 || out != "ok: GET http://127.0.0.1:"+port+"/readyz: 200 OK\n" {
		t.Errorf("healthy: exit %d, stdout %q", code, out)
	}
	code, _, _ := check("--liveness")
	mu.Lock()
	if code != 0 || paths[len(paths)-1] != "/healthz" {
		t.Errorf("--liveness: exit %d, paths %v", code, paths)
	}
	mu.Unlock()
	status.Store(http.StatusServiceUnavailable)
	code, _, errOut := check()
	if want := "walhook healthcheck: GET http://127.0.0.1:" + port + "/readyz: 503 Service Unavailable: database unreachable\n"; code != 1 || errOut != want {
		t.Errorf("unready: exit %d, stderr %q, want 1, %q", code, errOut, want)
	}
	srv.Close()
	if code, _, errOut := check("--timeout", "500ms"); code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "connection refused") {
		t.Errorf("nothing listening: exit %d, stderr %q", code, errOut)
	}
}
