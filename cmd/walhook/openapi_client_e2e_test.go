package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/nodetools"
)

// openapiTools is the Node project of the OpenAPI linters and client generators; its
// node_modules is installed by scripts/test.sh (npm ci) when missing.
var openapiTools = filepath.Join(repoRoot, "tools", "openapi")

// nodeTools returns the absolute path of tools/openapi after checking that node and the
// named binaries of its node_modules are there. When they are not, the test fails under
// CI=true and is skipped, saying how to install them, otherwise.
func nodeTools(tb testing.TB, bins ...string) string {
	tb.Helper()
	return nodetools.Dir(tb, openapiTools, bins...)
}

// TestGeneratedTypeScriptClient generates a TypeScript client from the OpenAPI document
// that a live walhook serves (@hey-api/openapi-ts, and openapi-typescript's types),
// compiles it with tsc together with tools/openapi/live.ts, and runs that against the
// walhook: create, list, get, patch, pause, resume, secret, deliveries in both signing
// modes, dead letters, redeliver, delete, each response validated against the document,
// and every delivery validated against its webhooks section. CRM writes run meanwhile so
// that deliveries happen.
func TestGeneratedTypeScriptClient(t *testing.T) {
	t.Parallel() // its own database or cluster, ports and temporary directories
	tools := nodeTools(t, "openapi-ts", "openapi-typescript", "tsc")
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	p := startWalhook(t, env)
	p.waitReady(t)

	work := t.TempDir()
	for _, f := range []string{"live.ts", "tsconfig.json"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(tools, "node_modules"), filepath.Join(work, "node_modules")); err != nil {
		t.Fatal(err)
	}
	spec := p.base + "/api/openapi.json"
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(work, "node_modules", ".bin", name), args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("openapi-ts", "-i", spec, "-o", "gen/client")
	run("openapi-typescript", spec, "-o", "gen/schema.d.ts")
	run("tsc", "-p", ".")

	conn := crmConn(t, dsn)
	writeCtx, stopWrites := context.WithCancel(ctx)
	writes := make(chan error, 1)
	go func() {
		n := 0
		for writeCtx.Err() == nil {
			n++
			_, err := conn.Exec(writeCtx, `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("ts client %d", n))
			if err != nil && writeCtx.Err() == nil {
				writes <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		writes <- nil
	}()

	nctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(nctx, "node", filepath.Join(work, "build", "live.js"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "WALHOOK_BASE="+p.base, "WALHOOK_TOKEN="+e2eToken)
	out, err := cmd.CombinedOutput()
	stopWrites()
	if werr := <-writes; werr != nil {
		t.Errorf("CRM writes: %v", werr)
	}
	if err != nil {
		t.Fatalf("node live.js: %v\n%s", err, out)
	}
	t.Logf("node live.js:\n%s", out)
}
