package main

// End-to-end tests of "walhook apply" (webhooks as config, DESIGN.md §14) on the real
// binary: plans, creates, re-applies, updates, prunes and refusals, checked in the
// database, and a running walhook that picks the applied webhooks up.

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runApply runs "walhook apply args…" with vars and returns its exit code, stdout and
// stderr.
func runApply(tb testing.TB, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, walhookBinary(tb), append([]string{"apply"}, args...)...)
	cmd.Env = processEnv(vars)
	cmd.Stdout, cmd.Stderr = &out, &errBuf
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		tb.Fatalf("walhook apply %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errBuf.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errBuf.String()
}

// storedRow is one row of walhook.webhooks as the apply tests compare it.
type storedRow struct {
	ID, Name, URL string
	Modified      time.Time
	Deleted       bool
}

// storedWebhooks returns every row of walhook.webhooks, deleted ones included, by id.
func storedWebhooks(tb testing.TB, dsn string) map[string]storedRow {
	tb.Helper()
	conn := crmConn(tb, dsn)
	rows, err := conn.Query(context.Background(), `SELECT id::text, coalesce(name, ''), url, modified, is_deleted FROM walhook.webhooks`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]storedRow{}
	for rows.Next() {
		var r storedRow
		if err := rows.Scan(&r.ID, &r.Name, &r.URL, &r.Modified, &r.Deleted); err != nil {
			tb.Fatal(err)
		}
		out[r.ID] = r
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// byName returns the live row named name.
func byName(tb testing.TB, rows map[string]storedRow, name string) storedRow {
	tb.Helper()
	for _, r := range rows {
		if r.Name == name && !r.Deleted {
			return r
		}
	}
	tb.Fatalf("no live webhook named %q in %v", name, rows)
	return storedRow{}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// Secrets of the apply tests: they reach walhook through ${VAR}s and must never be
// printed.
const (
	applySignature = "7e57ab1e-0000-4000-8000-0000000a9917"
	applyPassword  = "erp-password-do-not-print"
	applyToken     = "tenant-token-do-not-print"
)

// applyFileV1 is the webhooks file the apply tests start from; RECEIVER_URL is the task
// receiver.
const applyFileV1 = `# reviewed in git; secrets come from the environment
space: e2e
webhooks:
  - name: tasks
    url: ${RECEIVER_URL}
    events: [Task.Create, Task.Update]
    signature: ${TASKS_SIGNATURE}
    options:
      chunk_size: 10
    headers:
      X-Tenant: ${TENANT_TOKEN}
  - name: won
    url: https://erp.example.com/hooks/won
    events: ["Opportunity.Won"]
    http_auth_user: erp
    http_auth_password: ${ERP_PASSWORD}
    timeout: 5
`

// TestApplyWebhooksFile drives "walhook apply" through a webhook's life as config: the
// plan on an empty store, a dry run that changes nothing, apply (taken up by a running
// walhook, whose deliveries are signed with the key from the environment), a re-apply
// that changes nothing (not even modified), one changed field that is exactly one update,
// and --prune. Unnamed webhooks are never touched, and no secret is ever printed.
func TestApplyWebhooksFile(t *testing.T) {
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, applySignature)
	vars := maps.Clone(env)
	maps.Copy(vars, map[string]string{"RECEIVER_URL": r.URL(), "TASKS_SIGNATURE": applySignature,
		"TENANT_TOKEN": applyToken, "ERP_PASSWORD": applyPassword})
	file := filepath.Join(t.TempDir(), "webhooks.yaml")
	writeFile(t, file, applyFileV1)
	apply := func(wantStdout string, args ...string) {
		t.Helper()
		code, stdout, stderr := runApply(t, vars, append([]string{"-f", file}, args...)...)
		for _, secret := range []string{applySignature, applyPassword, applyToken} {
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("walhook apply %v printed a secret:\n%s%s", args, stdout, stderr)
			}
		}
		if code != 0 {
			t.Fatalf("walhook apply %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
		}
		if diff := cmp.Diff(wantStdout, stdout); diff != "" {
			t.Errorf("walhook apply %v printed (-want +got):\n%s", args, diff)
		}
	}

	// The plan on an empty store, as a dry run: nothing is written.
	apply(`+ create tasks (space e2e)
+ create won (space e2e)
= unchanged 0
plan: 2 to create, 0 to update, 0 to delete, 0 unchanged
dry run: nothing changed
`, "--dry-run")
	if rows := storedWebhooks(t, dsn); len(rows) != 0 {
		t.Fatalf("a dry run stored webhooks: %v", rows)
	}

	// Webhooks made through the API: an unnamed one apply never touches, and a named one
	// the file does not list, kept until --prune.
	p := startWalhook(t, env)
	p.waitReady(t)
	unnamed := registerWebhook(t, p.base, map[string]any{"url": "https://other.example.com/x", "events": []string{"Account.Delete"}})
	registerWebhook(t, p.base, map[string]any{"name": "by-hand", "url": "https://other.example.com/y", "events": []string{"Account.*"}})

	apply(`+ create tasks (space e2e)
+ create won (space e2e)
! keep by-hand (space e2e): not in ` + file + `; --prune deletes it
= unchanged 0
plan: 2 to create, 0 to update, 0 to delete, 0 unchanged, 1 not in the file kept
applied
`)
	created := storedWebhooks(t, dsn)
	if len(created) != 4 || byName(t, created, "tasks").URL != r.URL() {
		t.Fatalf("after apply: %v, want the two API webhooks and tasks, won", created)
	}
	// The running walhook took the new webhook up (NOTIFY), and signs with the key that
	// came from ${TASKS_SIGNATURE}: the receiver checks every signature with it.
	waitSubscribed(t, crmConn(t, dsn), r, p)
	r.checkNoProblems(t)

	// Re-apply: nothing changes, not even a modified time.
	apply(`! keep by-hand (space e2e): not in ` + file + `; --prune deletes it
= unchanged 2
plan: 0 to create, 0 to update, 0 to delete, 2 unchanged, 1 not in the file kept
applied
`)
	if diff := cmp.Diff(created, storedWebhooks(t, dsn)); diff != "" {
		t.Errorf("a re-apply changed the store (-before +after):\n%s", diff)
	}

	// One field changed: exactly one update, of that webhook only, keeping its id.
	writeFile(t, file, strings.Replace(applyFileV1, "erp.example.com/hooks/won", "erp.example.com/hooks/won-v2", 1))
	apply(`~ update won (space e2e): url
! keep by-hand (space e2e): not in ` + file + `; --prune deletes it
= unchanged 1
plan: 0 to create, 1 to update, 0 to delete, 1 unchanged, 1 not in the file kept
applied
`)
	updated := storedWebhooks(t, dsn)
	for id, before := range created {
		after := updated[id]
		switch {
		case before.Name == "won":
			if after.URL != "https://erp.example.com/hooks/won-v2" || !after.Modified.After(before.Modified) {
				t.Errorf("won after the update: %+v (before %+v)", after, before)
			}
		case after != before:
			t.Errorf("%s (%q) changed by an update of won: %+v, was %+v", id, before.Name, after, before)
		}
	}

	// --prune: the named webhook the file does not list goes; the unnamed one stays.
	apply(`- delete by-hand (space e2e)
= unchanged 2
plan: 0 to create, 0 to update, 1 to delete, 2 unchanged
dry run: nothing changed
`, "--prune", "--dry-run")
	if diff := cmp.Diff(updated, storedWebhooks(t, dsn)); diff != "" {
		t.Errorf("a dry run with --prune changed the store (-before +after):\n%s", diff)
	}
	apply(`- delete by-hand (space e2e)
= unchanged 2
plan: 0 to create, 0 to update, 1 to delete, 2 unchanged
applied
`, "--prune")
	pruned := storedWebhooks(t, dsn)
	for id, after := range pruned {
		if after.Deleted != (after.Name == "by-hand") {
			t.Errorf("after --prune: %+v, want only by-hand deleted", after)
		}
		if id == unnamed && after != updated[id] {
			t.Errorf("the unnamed webhook was touched: %+v, was %+v", after, updated[id])
		}
	}
}

// TestApplyRefusesBadFiles: an invalid entry (unknown event, unknown option, missing
// name), an unset ${VAR}, or a bad flag make apply fail with one line naming the entry,
// the field (or the variable), and change nothing: the valid entries beside them are not
// created either.
func TestApplyRefusesBadFiles(t *testing.T) {
	dsn, env := setupE2E(t, nil)
	dir := t.TempDir()
	good := `
  - name: good
    url: https://erp.example.com/ok
    events: [Account.Create]
`
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"unknown event", "space: s1\nwebhooks:" + good + `
  - name: bad-events
    url: https://erp.example.com/a
    events: [Account.Create, Opportunity.Nope]
`, []string{`webhook "bad-events"`, `events[1]`, `"Nope"`}},
		{"unknown option and field, every entry reported", "space: s1\nwebhooks:" + good + `
  - name: bad-option
    url: https://erp.example.com/b
    events: [Contact.Update]
    options: {entity: {Contact: {filter: {no_such_column: x}}}}
  - name: bad-field
    url: https://erp.example.com/c
    events: [Contact.Update]
    retries: 3
`, []string{`webhook "bad-option"`, `options.entity.Contact.filter`, `no_such_column`, `webhook "bad-field"`, `retries: unknown field`}},
		{"no name", "space: s1\nwebhooks:" + good + `
  - url: https://erp.example.com/d
    events: [Account.Create]
`, []string{`webhook #2`, `name: required`}},
		{"unset variable", "space: s1\nwebhooks:" + good + `
  - name: needs-secret
    url: https://erp.example.com/e
    events: [Account.Create]
    signature: ${APPLY_TEST_UNSET_SIGNATURE}
`, []string{`webhook "needs-secret"`, `signature`, `environment variable APPLY_TEST_UNSET_SIGNATURE is not set`}},
		{"no space", "webhooks:" + good, []string{`webhook "good"`, `space: required`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			writeFile(t, file, c.file)
			code, stdout, stderr := runApply(t, env, "-f", file)
			if code != 1 {
				t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			line := checkOneLine(t, stderr)
			for _, want := range c.want {
				if !strings.Contains(line, want) {
					t.Errorf("stderr %q lacks %q", line, want)
				}
			}
			if stdout != "" {
				t.Errorf("a refused file printed a plan:\n%s", stdout)
			}
			if rows := storedWebhooks(t, dsn); len(rows) != 0 {
				t.Errorf("a refused file changed the store: %v", rows)
			}
		})
	}
	// The example file of the repository is valid against the sample CRM.
	example := maps.Clone(env)
	maps.Copy(example, map[string]string{"ERP_WEBHOOK_SIGNATURE": applySignature, "MARKETING_PASSWORD": applyPassword, "MARKETING_API_KEY": applyToken})
	code, stdout, stderr := runApply(t, example, "-f", filepath.Join(repoRoot, "examples", "webhooks.yaml"), "--dry-run")
	if code != 0 || !strings.Contains(stdout, "plan: 3 to create, 0 to update, 0 to delete, 0 unchanged\n") {
		t.Errorf("apply --dry-run of examples/webhooks.yaml: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code, _, stderr := runApply(t, env); code != 2 || !strings.Contains(stderr, "-f") {
		t.Errorf("apply without -f: exit %d, stderr %q; want 2 naming -f", code, stderr)
	}
}
