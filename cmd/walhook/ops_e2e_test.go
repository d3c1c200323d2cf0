package main

// End-to-end tests of walhook's operational surface, on the real binary: the start-up
// line, the warning for a missing API token, walhook_build_info and "walhook healthcheck".

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/schema/sample"
)

// logLines decodes the JSON log lines of a process's output, skipping anything else.
func logLines(out string) []map[string]any {
	var lines []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

// TestRunStartupOperations starts walhook without API tokens and checks what an operator
// sees: a WARN naming WALHOOK_API_TOKENS, a start-up line with the version and durations
// as strings, and walhook_build_info on /metrics.
func TestRunStartupOperations(t *testing.T) {
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	env := e2eEnv(dsn)
	delete(env, "WALHOOK_API_TOKENS")
	t.Cleanup(func() { dropSlot(t, dsn, env["WALHOOK_SLOT"]) })
	setupWalhook(t, env)
	p := startWalhook(t, env)
	p.waitReady(t)

	var warned bool
	var running map[string]any
	testwait.Until(t, 10*time.Second, "the start-up line", func() (bool, string, error) {
		for _, l := range logLines(p.stderr.String()) {
			msg, _ := l["msg"].(string)
			if l["level"] == "WARN" && strings.Contains(msg, "WALHOOK_API_TOKENS") {
				warned = true
			}
			if msg == "walhook running" {
				running = l
			}
		}
		return running != nil, "no \"walhook running\" line yet", nil
	})
	if !warned {
		t.Errorf("no WARN naming WALHOOK_API_TOKENS when no token is configured; log:\n%s", p.stderr.String())
	}
	if running["version"] != "dev" {
		t.Errorf("start-up line: version %v, want dev", running["version"])
	}
	cfg, _ := running["config"].(map[string]any)
	if cfg["standby_interval"] != "200ms" || cfg["reconnect_backoff"] != "100ms" {
		t.Errorf("start-up line logs durations as %v and %v, want \"200ms\" and \"100ms\"",
			cfg["standby_interval"], cfg["reconnect_backoff"])
	}

	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var info string
	for line := range strings.Lines(string(body)) {
		if strings.HasPrefix(line, "walhook_build_info{") {
			info = strings.TrimSpace(line)
		}
	}
	for _, want := range []string{`version="dev"`, `goversion="` + runtime.Version() + `"`, `revision="`, "} 1"} {
		if !strings.Contains(info, want) {
			t.Errorf("walhook_build_info series %q lacks %s", info, want)
		}
	}

	// "walhook healthcheck" with the service's listen address, host left out as in a
	// container: ready and live while it runs, failing once it stopped.
	_, port, _ := strings.Cut(strings.TrimPrefix(p.base, "http://"), ":")
	hc := map[string]string{"WALHOOK_LISTEN_ADDR": ":" + port}
	for _, args := range [][]string{{"healthcheck"}, {"healthcheck", "--liveness"}} {
		if code, stderr := runWalhook(t, hc, args...); code != 0 {
			t.Errorf("walhook %s while running: exit %d, stderr %q", strings.Join(args, " "), code, stderr)
		}
	}
	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Errorf("walhook run exited %d after SIGTERM", code)
	}
	if code, stderr := runWalhook(t, hc, "healthcheck"); code != 1 || !strings.HasPrefix(stderr, "walhook healthcheck: GET http://127.0.0.1:"+port+"/readyz: ") {
		t.Errorf("walhook healthcheck after stop: exit %d, stderr %q; want 1 and one line", code, stderr)
	}
}
