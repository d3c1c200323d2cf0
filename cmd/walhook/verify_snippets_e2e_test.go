package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/examples/verify"
	"github.com/walhook/walhook/internal/testwait"
)

// snippetDir holds the signature verification snippets that README.md shows.
var snippetDir = filepath.Join(repoRoot, "examples", "verify")

// captured is one delivery request as received.
type captured struct {
	header http.Header
	body   []byte
}

// snippetChecks run one snippet on a delivery; each returns whether it accepts it.
var snippetChecks = map[string]func(t *testing.T, mode, secret string, c captured) bool{
	"go": func(t *testing.T, mode, secret string, c captured) bool {
		if mode == "pipeliner" {
			return verify.Pipeliner(secret, c.body, c.header.Get("WebHook-Signature"))
		}
		return verify.StandardWebhooks(secret, c.body, c.header.Get("webhook-id"), c.header.Get("webhook-timestamp"),
			c.header.Get("webhook-signature"), time.Now())
	},
	"node": func(t *testing.T, mode, secret string, c captured) bool {
		const script = `const v = require(process.argv[1]);
const [, , mode, secret, file, id, ts, sig] = process.argv;
const body = require("node:fs").readFileSync(file);
console.log(mode === "pipeliner" ? v.verifyPipeliner(secret, body, sig) : v.verifyStandardWebhooks(secret, body, id, ts, sig));`
		return runSnippet(t, "node", "-e", script, filepath.Join(absSnippetDir(t), "verify.js"), mode, secret, c)
	},
	"python": func(t *testing.T, mode, secret string, c captured) bool {
		const script = `import sys
sys.path.insert(0, sys.argv[1])
import verify
mode, secret, file, msg_id, ts, sig = sys.argv[2:]
body = open(file, "rb").read()
print(verify.verify_pipeliner(secret, body, sig) if mode == "pipeliner" else verify.verify_standard_webhooks(secret, body, msg_id, ts, sig))`
		return runSnippet(t, "python3", "-c", script, absSnippetDir(t), mode, secret, c)
	},
}

func absSnippetDir(t *testing.T) string {
	dir, err := filepath.Abs(snippetDir)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// runSnippet runs a snippet through an interpreter with the delivery's body in a file and
// its headers as arguments, and returns what it printed: true or false.
func runSnippet(t *testing.T, interp, flag, script, module, mode, secret string, c captured) bool {
	t.Helper()
	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, c.body, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(interp, flag, script, module, mode, secret, file, c.header.Get("webhook-id"),
		c.header.Get("webhook-timestamp"), c.header.Get("webhook-signature")).CombinedOutput()
	if err != nil {
		t.Fatalf("%s snippet: %v\n%s", interp, err, out)
	}
	switch got := strings.TrimSpace(string(out)); strings.ToLower(got) {
	case "true":
		return true
	case "false":
		return false
	default:
		t.Fatalf("%s snippet printed %q", interp, got)
		return false
	}
}

// TestVerifySnippets checks the Go, Node and Python verification snippets of
// examples/verify, which README.md shows verbatim, against real deliveries of a running
// walhook in both signing modes: each accepts them, and refuses a changed body and a wrong
// secret.
func TestVerifySnippets(t *testing.T) {
	t.Parallel() // its own database or cluster, ports and temporary directories
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"verify.go", "verify.js", "verify.py"} {
		b, err := os.ReadFile(filepath.Join(snippetDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, b) {
			t.Errorf("README.md does not show examples/verify/%s verbatim", f)
		}
	}
	for _, tool := range []string{"node", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH (scripts/test.sh installs node; python3 comes with Debian)", tool)
		}
	}

	dsn, env := setupE2E(t, nil)
	var mu sync.Mutex
	got := map[string]captured{} // by signing mode
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		mode := strings.TrimPrefix(r.URL.Path, "/")
		if _, ok := got[mode]; !ok {
			got[mode] = captured{header: r.Header.Clone(), body: body}
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	p := startWalhook(t, env)
	p.waitReady(t)
	const secret = "5b0e7c1a-9d2f-4e3b-8a6c-1f2e3d4c5b6a"
	modes := []string{"pipeliner", "standard-webhooks"}
	for _, mode := range modes {
		registerWebhook(t, p.base, map[string]any{"url": srv.URL + "/" + mode, "events": []string{"Task.Update"},
			"signature": secret, "signing": mode})
	}
	conn := crmConn(t, dsn)
	n := 0
	testwait.Until(t, time.Minute, "a delivery in each signing mode", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		mu.Lock()
		have := len(got)
		mu.Unlock()
		if have == len(modes) {
			return true, "", nil
		}
		n++
		_, err := conn.Exec(context.Background(), `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("snippet %d", n))
		return false, fmt.Sprintf("%d of %d modes delivered", have, len(modes)), err
	})

	for _, mode := range modes {
		c := got[mode]
		tampered := captured{header: c.header, body: bytes.Replace(c.body, []byte(`"items"`), []byte(`"items" `), 1)}
		for lang, check := range snippetChecks {
			t.Run(lang+"/"+mode, func(t *testing.T) {
				if !check(t, mode, secret, c) {
					t.Errorf("refuses a genuine delivery: %s\n%s", c.header, c.body)
				}
				if check(t, mode, secret, tampered) {
					t.Error("accepts a changed body")
				}
				if check(t, mode, "00000000-0000-4000-8000-000000000000", c) {
					t.Error("accepts a delivery signed with another secret")
				}
			})
		}
	}
}
