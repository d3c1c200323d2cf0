package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// issue8Path is the cyclic expand of issue 8: 8 segments, Contact → Account → Contact …
const issue8Path = "primary_account.contacts.primary_account.contacts.primary_account.contacts.primary_account.contacts"

// TestRunBoundsIssue8 replays issue 8 against the real binary: the API refuses the cyclic
// expand path, and a webhook holding it (stored before the rule) with 14 contacts on the
// account gets every event in requests within WALHOOK_MAX_BODY_BYTES, each item saying
// what was cut, counted and logged. Before the bounds, each item here was ~14 MB.
func TestRunBoundsIssue8(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-0000000c7c1e")
	p := startWalhook(t, env)
	p.waitReady(t)

	options := `{"entity": {"Contact": {"expand": ["` + issue8Path + `"]}}}`
	body := `{"url": "` + r.URL() + `", "events": ["Contact.Update", "Task.Update"], "signature": "` + r.secret + `", "options": ` + options + `}`
	status, answer := postJSON(t, p.base+webhooksPath, body)
	if status != http.StatusUnprocessableEntity || !strings.Contains(answer, `"field":"options.entity.Contact.expand[0]"`) ||
		!strings.Contains(answer, "is cyclic") {
		t.Errorf("POST a cyclic expand: %d %s; want 422 naming options.entity.Contact.expand[0] and the cycle", status, answer)
	}

	conn := crmConn(t, dsn)
	var whID, acct string
	if err := conn.QueryRow(ctx, `INSERT INTO walhook.webhooks (id, url, events, signature, options, signing)
		VALUES (gen_random_uuid(), $1, $2, $3, $4::json, 'pipeliner') RETURNING id::text`,
		r.URL(), []string{"Contact.Update", "Task.Update"}, r.secret, options).Scan(&whID); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `WITH a AS (INSERT INTO crm.accounts (name) VALUES ('Fourteen') RETURNING id),
		c AS (INSERT INTO crm.contacts (last_name, primary_account_id) SELECT 'Staff ' || i, a.id FROM a, generate_series(1, 14) AS i)
		SELECT id::text FROM a`).Scan(&acct); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, conn, r, p)
	if _, err := conn.Exec(ctx, `UPDATE crm.contacts SET phone = 'x' WHERE primary_account_id = $1 AND last_name IN ('Staff 1', 'Staff 2', 'Staff 3')`, acct); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, r, p, 3)

	const maxBody = 1 << 20 // the default WALHOOK_MAX_BODY_BYTES
	items := 0
	for _, d := range r.deliveryList() {
		if len(d.body) > maxBody {
			t.Errorf("delivery %s: %d bytes, over WALHOOK_MAX_BODY_BYTES (%d)", d.deliveryID, len(d.body), maxBody)
		}
		for _, raw := range d.items {
			var it struct {
				Event     string
				Data      map[string]any
				Truncated map[string]string
			}
			if err := json.Unmarshal(raw, &it); err != nil {
				t.Fatal(err)
			}
			if it.Event != "Contact.Update" {
				continue
			}
			items++
			if it.Data["primary_account"] != nil || it.Data["phone"] != "x" {
				t.Errorf("item data %v: want the contact without its expansion", it.Data)
			}
			if diff := cmp.Diff(map[string]string{"data.primary_account": "max_body_bytes"}, it.Truncated); diff != "" {
				t.Errorf("truncated (-want +got):\n%s", diff)
			}
		}
	}
	if items != 3 {
		t.Errorf("%d Contact.Update items delivered, want 3", items)
	}
	if v, err := p.metric(`walhook_render_truncated_total{reason="max_body_bytes"}`); err != nil || v < 3 {
		t.Errorf("walhook_render_truncated_total{reason=max_body_bytes} = %v (%v), want at least 3", v, err)
	}
	if !strings.Contains(p.stderr.String(), `"msg":"rendered items cut to the bounds; the items say so in truncated"`) ||
		!strings.Contains(p.stderr.String(), `"webhook_id":"`+whID+`"`) {
		t.Errorf("no WARN naming webhook %s; stderr:\n%s", whID, tail(p.stderr.String(), 8<<10))
	}
	r.checkNoProblems(t)
	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Errorf("walhook run after SIGTERM: exit code %d", code)
	}
}

// postJSON POSTs body with the test token and returns the status and answer.
func postJSON(tb testing.TB, url, body string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(msg)
}
