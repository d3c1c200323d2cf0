package main

// End-to-end tests of the Pipedrive dialect (DESIGN.md §12): its API driven by the official
// Pipedrive Node client and by plain HTTP, and its v1 and v2 payloads delivered from real
// CRM writes on real PostgreSQL.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/internal/testwait"
)

// pipedriveTools is the Node project that pins the official Pipedrive client.
var pipedriveTools = filepath.Join(repoRoot, "tools", "pipedrive")

// pipedriveClient returns tools/pipedrive with its node_modules installed: npm ci runs
// when they are missing or older than the lock file. Node is required (scripts/test.sh
// installs it); without it the test fails, saying so.
func pipedriveClient(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs(pipedriveTools)
	if err != nil {
		tb.Fatal(err)
	}
	for _, bin := range []string{"node", "npm"} {
		if _, err := exec.LookPath(bin); err != nil {
			tb.Fatalf("%s is not installed: run scripts/test.sh, or install Node.js 20 or newer", bin)
		}
	}
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		tb.Fatal(err)
	}
	installed, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil || installed.ModTime().Before(lock.ModTime()) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return dir
}

// pdRequest is one request a Pipedrive receiver got.
type pdRequest struct {
	header http.Header
	body   map[string]any
	raw    []byte
}

// pdReceiver is a Pipedrive webhook endpoint: it records every request in order, and
// answers 401 to one without the Basic auth it expects (when user is set).
type pdReceiver struct {
	srv        *httptest.Server
	user, pass string

	mu       sync.Mutex
	failNext int         // answer 503 to this many more requests
	failed   []pdRequest // the requests answered 503
	reqs     []pdRequest
	bad      []string
}

func newPDReceiver(tb testing.TB, user, pass string) *pdReceiver {
	tb.Helper()
	r := &pdReceiver{user: user, pass: pass}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		raw, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.user != "" {
			if u, p, ok := req.BasicAuth(); !ok || u != r.user || p != r.pass {
				r.bad = append(r.bad, "request without the expected Basic auth")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			r.bad = append(r.bad, fmt.Sprintf("body is not a JSON object: %v: %s", err, raw))
		}
		if r.failNext > 0 {
			r.failNext--
			r.failed = append(r.failed, pdRequest{header: req.Header.Clone(), body: body, raw: raw})
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if req.Header.Get("Webhook-Id") == "" || req.Header.Get("Webhook-Timestamp") == "" {
			r.bad = append(r.bad, "request without Webhook-Id or Webhook-Timestamp")
		}
		r.reqs = append(r.reqs, pdRequest{header: req.Header.Clone(), body: body, raw: raw})
	}))
	tb.Cleanup(r.srv.Close)
	return r
}

// requests returns what r got so far, and the problems it saw.
func (r *pdReceiver) requests() ([]pdRequest, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pdRequest(nil), r.reqs...), append([]string(nil), r.bad...)
}

// pdCall makes one call to walhook's Pipedrive API and returns its status and decoded body.
func pdCall(tb testing.TB, method, target string, header http.Header, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.Fatalf("%s %s: %s: body is not JSON: %s", method, target, resp.Status, raw)
	}
	return resp.StatusCode, out
}

// addPipedrive creates a Pipedrive webhook with a form body and api_token and returns its
// Pipedrive id.
func addPipedrive(tb testing.TB, base string, form url.Values) int64 {
	tb.Helper()
	status, out := pdCall(tb, "POST", base+"/v1/webhooks?api_token="+e2eToken,
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, form.Encode())
	if status != http.StatusCreated || out["success"] != true {
		tb.Fatalf("POST /v1/webhooks %s: %d %v", form.Encode(), status, out)
	}
	return int64(out["data"].(map[string]any)["id"].(float64))
}

// TestPipedriveOfficialClient runs the official Pipedrive Node client's WebhooksApi,
// pointed at walhook, through create (v2 and v1), list, refused creates, an unauthorized
// call and delete, and checks every answer.
func TestPipedriveOfficialClient(t *testing.T) {
	t.Parallel()
	dir := pipedriveClient(t)
	_, env := setupE2E(t, nil)
	p := startWalhook(t, env)
	p.waitReady(t)
	rc := newPDReceiver(t, "", "")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "webhooks.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WALHOOK_BASE="+p.base, "WALHOOK_TOKEN="+e2eToken, "RECEIVER_URL="+rc.srv.URL+"/pd")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node webhooks.js: %v\nstderr:\n%s", err, stderr.String())
	}
	var out map[string]struct {
		OK    bool           `json:"ok"`
		Value map[string]any `json:"value"`
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("node webhooks.js printed %s: %v", stdout, err)
	}
	t.Logf("client results: %s", stdout)

	add := out["addV2"]
	if !add.OK || add.Value["success"] != true || add.Value["status"] != "ok" {
		t.Fatalf("addWebhook v2: %+v", add)
	}
	hook := add.Value["data"].(map[string]any)
	for k, want := range map[string]any{"event_action": "change", "event_object": "deal", "subscription_url": rc.srv.URL + "/pd",
		"version": "2.0", "name": "deals changed", "user_id": 7.0, "owner_id": 7.0, "is_active": 1.0, "type": "general",
		"http_auth_user": "hook", "http_auth_password": "********", "remove_time": nil, "last_delivery_time": nil, "last_http_status": nil} {
		if !cmp.Equal(hook[k], want) {
			t.Errorf("addWebhook v2: %s = %v, want %v", k, hook[k], want)
		}
	}
	for _, k := range []string{"id", "company_id", "add_time", "additional_data", "remove_reason", "admin_id", "walhook_id"} {
		if _, ok := hook[k]; !ok {
			t.Errorf("addWebhook v2: no %s in %v", k, hook)
		}
	}
	if id, ok := hook["id"].(float64); !ok || id < 1 || id != float64(int64(id)) {
		t.Errorf("addWebhook v2: id %v is not a positive integer", hook["id"])
	}
	if v1 := out["addV1"]; !v1.OK || v1.Value["data"].(map[string]any)["version"] != "1.0" {
		t.Errorf("addWebhook v1: %+v", v1)
	}
	if l := out["listAfterAdd"]; !l.OK || len(l.Value["data"].([]any)) != 2 {
		t.Errorf("getWebhooks after two adds: %+v", l)
	}
	if s := out["addStage"]; s.OK || s.Value["success"] != false || s.Value["errors"].(map[string]any)["event_object"] == nil {
		t.Errorf("addWebhook on stage (not in the mapping): %+v, want errors naming event_object", s)
	}
	if s := out["addNoURL"]; s.OK || s.Value["errors"].(map[string]any)["subscription_url"] == nil {
		t.Errorf("addWebhook without subscription_url: %+v, want errors naming subscription_url", s)
	}
	if u := out["unauthorized"]; u.OK || u.Value["success"] != false || u.Value["error"] == nil {
		t.Errorf("getWebhooks with a wrong token: %+v, want a rejection", u)
	}
	if d := out["delete"]; !d.OK || !cmp.Equal(d.Value, map[string]any{"success": true, "status": "ok"}) {
		t.Errorf("deleteWebhook: %+v", d)
	}
	if d := out["deleteAgain"]; d.OK || d.Value["success"] != false {
		t.Errorf("deleteWebhook twice: %+v, want a 404 rejection", d)
	}
	if l := out["listAfterDelete"]; !l.OK || len(l.Value["data"].([]any)) != 1 {
		t.Errorf("getWebhooks after delete: %+v", l)
	}
}

// TestPipedriveAPI checks what the Node client does not send: form bodies, the other
// places of the token, GET by id, and the 400s naming each bad field.
func TestPipedriveAPI(t *testing.T) {
	t.Parallel()
	_, env := setupE2E(t, nil)
	env["WALHOOK_API_TOKENS"] = e2eToken + ",limited@tenant1"
	p := startWalhook(t, env)
	p.waitReady(t)
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	ok := url.Values{"subscription_url": {"http://127.0.0.1:9/hook"}, "event_action": {"added"}, "event_object": {"person"}}

	for _, c := range []struct {
		name   string
		query  string
		header http.Header
		want   int
	}{
		{"api_token", "?api_token=" + e2eToken, nil, http.StatusCreated},
		{"x-api-token", "", http.Header{"X-Api-Token": {e2eToken}}, http.StatusCreated},
		{"bearer", "", http.Header{"Authorization": {"Bearer " + e2eToken}}, http.StatusCreated},
		{"none", "", nil, http.StatusUnauthorized},
		{"wrong", "?api_token=nope", nil, http.StatusUnauthorized},
		{"limited to a space", "?api_token=limited", nil, http.StatusForbidden},
	} {
		h := form.Clone()
		for k, v := range c.header {
			h[k] = v
		}
		status, out := pdCall(t, "POST", p.base+"/v1/webhooks"+c.query, h, ok.Encode())
		if status != c.want {
			t.Errorf("create with token in %s: %d %v, want %d", c.name, status, out, c.want)
		}
		if c.want >= 400 && (out["success"] != false || out["error"] == nil) {
			t.Errorf("create with token in %s: %v, want {success:false, error}", c.name, out)
		}
	}

	auth := http.Header{"X-Api-Token": {e2eToken}, "Content-Type": {"application/json"}}
	for _, c := range []struct{ body, field string }{
		{`{"event_action":"added","event_object":"deal"}`, "subscription_url"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_object":"deal"}`, "event_action"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added"}`, "event_object"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"moved","event_object":"deal"}`, "event_action"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added","event_object":"deals"}`, "event_object"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added","event_object":"pipeline"}`, "event_object"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"*","event_object":"user"}`, "event_object"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"updated","event_object":"note"}`, "event_object"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"merged","event_object":"deal"}`, "event_action"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added","event_object":"deal","version":"3.0"}`, "version"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added","event_object":"deal","user_id":"me"}`, "user_id"},
		{`{"subscription_url":"ftp://127.0.0.1:9/","event_action":"added","event_object":"deal"}`, "subscription_url"},
		{`{"subscription_url":"http://127.0.0.1:9/","event_action":"added","event_object":"deal","http_auth_password":"x"}`, "http_auth_password"},
	} {
		status, out := pdCall(t, "POST", p.base+"/v1/webhooks", auth, c.body)
		errs, _ := out["errors"].(map[string]any)
		if status != http.StatusBadRequest || out["success"] != false || out["status"] != "error" || errs[c.field] == nil {
			t.Errorf("create %s: %d %v, want 400 with errors.%s", c.body, status, out, c.field)
		}
	}

	status, out := pdCall(t, "POST", p.base+"/v1/webhooks", auth,
		`{"subscription_url":"http://127.0.0.1:9/x","event_action":"*","event_object":"*","version":"1.0","user_id":5,"name":"all"}`)
	if status != http.StatusCreated {
		t.Fatalf("create */*: %d %v", status, out)
	}
	created := out["data"].(map[string]any)
	id := int64(created["id"].(float64))
	status, got := pdCall(t, "GET", fmt.Sprintf("%s/v1/webhooks/%d?api_token=%s", p.base, id, e2eToken), nil, "")
	if status != http.StatusOK || !cmp.Equal(got["data"], created) {
		t.Errorf("GET /v1/webhooks/%d: %d %v, want %v", id, status, got, created)
	}
	events := created["additional_data"].(map[string]any)["events"]
	t.Logf("*/* subscribes to %v", events)
	// The same webhook is a walhook webhook: the Pipeliner API reads it by its walhook id.
	status, pl := pdCall(t, "GET", p.base+webhooksPath+"/"+created["walhook_id"].(string), http.Header{"Authorization": {"Bearer " + e2eToken}}, "")
	if status != http.StatusOK || !cmp.Equal(pl["data"].(map[string]any)["events"], events) {
		t.Errorf("Pipeliner GET of the Pipedrive webhook: %d %v", status, pl)
	}
	for _, path := range []string{"/v1/webhooks/999999", "/v1/webhooks/abc"} {
		if status, out := pdCall(t, "GET", p.base+path+"?api_token="+e2eToken, nil, ""); status != http.StatusNotFound || out["success"] != false {
			t.Errorf("GET %s: %d %v, want 404", path, status, out)
		}
	}
}

// pdDeal is the opportunity TestPipedriveDelivers creates, changes and deletes.
const pdDeal = "0f000000-0000-4000-8000-0000000000d1"

// TestPipedriveDelivers makes an Opportunity's life in the CRM (insert, one field updated,
// owner changed, won, deleted) and checks what Pipedrive webhooks on deal receive: v2 with
// action * (Basic auth), v2 change on object *, and v1 added.deal, updated.deal and
// deleted.deal, each one request per row change, in commit order.
func TestPipedriveDelivers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	p := startWalhook(t, env)
	p.waitReady(t)
	conn := crmConn(t, dsn)

	v2all := newPDReceiver(t, "hook", "s3cret")
	v2changes := newPDReceiver(t, "", "")
	v1 := map[string]*pdReceiver{"added": newPDReceiver(t, "", ""), "updated": newPDReceiver(t, "", ""), "deleted": newPDReceiver(t, "", "")}
	probe := newPDReceiver(t, "", "")
	v2allID := addPipedrive(t, p.base, url.Values{"subscription_url": {v2all.srv.URL}, "event_action": {"*"}, "event_object": {"deal"},
		"http_auth_user": {"hook"}, "http_auth_password": {"s3cret"}, "user_id": {"7"}})
	addPipedrive(t, p.base, url.Values{"subscription_url": {v2changes.srv.URL}, "event_action": {"change"}, "event_object": {"*"}})
	for _, action := range []string{"added", "updated", "deleted"} {
		addPipedrive(t, p.base, url.Values{"subscription_url": {v1[action].srv.URL}, "event_action": {action}, "event_object": {"deal"}, "version": {"1.0"}})
	}
	addPipedrive(t, p.base, url.Values{"subscription_url": {probe.srv.URL}, "event_action": {"updated"}, "event_object": {"activity"}})
	n := 0
	testwait.Until(t, 30*time.Second, "the Pipedrive webhooks to take effect", func() (bool, string, error) {
		if reqs, _ := probe.requests(); len(reqs) > 0 {
			return true, "", nil
		}
		n++
		_, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("probe %d", n))
		return false, fmt.Sprintf("%d probe updates", n), err
	})

	const owner1, owner2 = "9900cce6-bcd6-412a-bcd1-1904556c949a", "c1000000-0000-4000-8000-000000000002"
	for _, sql := range []string{
		`INSERT INTO crm.lead_oppty (id, record_type, name, owner_id, value) VALUES ('` + pdDeal + `', 'opportunity', 'Pipedrive deal', '` + owner1 + `', 100)`,
		`UPDATE crm.lead_oppty SET value = 250 WHERE id = '` + pdDeal + `'`,
		`UPDATE crm.lead_oppty SET owner_id = '` + owner2 + `' WHERE id = '` + pdDeal + `'`,
		`UPDATE crm.lead_oppty SET status = 'Won' WHERE id = '` + pdDeal + `'`,
		`DELETE FROM crm.lead_oppty WHERE id = '` + pdDeal + `'`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	wait := func(r *pdReceiver, n int, what string) []pdRequest {
		t.Helper()
		var got []pdRequest
		testwait.Until(t, time.Minute, what, func() (bool, string, error) {
			got, _ = r.requests()
			return len(got) >= n, fmt.Sprintf("%d requests", len(got)), p.checkRunning()
		})
		return got
	}
	deal := func(reqs []pdRequest, v2 bool) []pdRequest {
		var out []pdRequest
		for _, r := range reqs {
			m, _ := r.body["meta"].(map[string]any)
			if (v2 && m["entity"] == "deal") || (!v2 && m["object"] == "deal") {
				out = append(out, r)
			}
		}
		return out
	}

	// v2, action *: create, change (previous = the one field), change, change, delete.
	got := wait(v2all, 5, "five v2 deal requests")
	for _, r := range got {
		t.Logf("v2 body: %s", r.raw)
	}
	wantPrev := []map[string]any{nil, {"value": 100.0}, {"owner_id": owner1}, {"status": "Open"}}
	wantActions := []string{"create", "change", "change", "change", "delete"}
	seenIDs := map[string]bool{}
	for i, r := range got {
		if i >= len(wantActions) {
			t.Errorf("v2 */deal: request %d beyond the five: %s", i, r.raw)
			continue
		}
		meta := r.body["meta"].(map[string]any)
		if meta["action"] != wantActions[i] || meta["entity"] != "deal" || meta["entity_id"] != pdDeal || meta["version"] != "2.0" ||
			meta["webhook_id"] != fmt.Sprint(v2allID) || meta["webhook_owner_id"] != "7" || meta["type"] != "general" {
			t.Errorf("v2 request %d meta %v, want action %s on deal %s of webhook %d", i, meta, wantActions[i], pdDeal, v2allID)
		}
		if id := r.header.Get("Webhook-Id"); meta["id"] != id || seenIDs[id] {
			t.Errorf("v2 request %d: meta.id %v, Webhook-Id %s: want equal, and new", i, meta["id"], id)
		} else {
			seenIDs[id] = true
		}
		for _, k := range []string{"timestamp", "company_id", "user_id", "correlation_id", "is_bulk_edit", "attempt", "host", "change_source", "permitted_user_ids"} {
			if _, ok := meta[k]; !ok {
				t.Errorf("v2 request %d: meta has no %s", i, k)
			}
		}
		data, _ := r.body["data"].(map[string]any)
		switch {
		case i == 4:
			prev, _ := r.body["previous"].(map[string]any)
			if r.body["data"] != nil || prev["status"] != "Won" || prev["owner_id"] != owner2 || prev["id"] != pdDeal {
				t.Errorf("v2 delete: data %v, previous %v; want null data and the last state", r.body["data"], r.body["previous"])
			}
		case i == 0:
			if r.body["previous"] != nil || data["id"] != pdDeal || data["name"] != "Pipedrive deal" {
				t.Errorf("v2 create: data %v previous %v", data, r.body["previous"])
			}
		default:
			if diff := cmp.Diff(wantPrev[i], r.body["previous"]); diff != "" {
				t.Errorf("v2 change %d: previous (-want +got):\n%s", i, diff)
			}
			if data["id"] != pdDeal {
				t.Errorf("v2 change %d: data %v", i, data)
			}
		}
	}
	if got := deal(wait(v2changes, 3, "three v2 deal changes"), true); len(got) < 3 || !cmp.Equal(
		[]any{got[0].body["previous"], got[1].body["previous"], got[2].body["previous"]},
		[]any{wantPrev[1], wantPrev[2], wantPrev[3]}) {
		t.Errorf("v2 change/*: %d deal requests: %v", len(got), got)
	}

	// v1: added.deal once, updated.deal three times (whole rows), deleted.deal once.
	wantV1 := map[string]int{"added": 1, "updated": 3, "deleted": 1}
	for action, r := range v1 {
		reqs := wait(r, wantV1[action], fmt.Sprintf("%d v1 %s.deal requests", wantV1[action], action))
		for _, r := range reqs {
			t.Logf("v1 body: %s", r.raw)
		}
		for i, req := range reqs {
			b := req.body
			meta := b["meta"].(map[string]any)
			cur, _ := b["current"].(map[string]any)
			prev, _ := b["previous"].(map[string]any)
			if b["event"] != action+".deal" || meta["action"] != action || meta["object"] != "deal" || meta["id"] != pdDeal || b["v"] != 1.0 {
				t.Errorf("v1 %s request %d: %s", action, i, req.raw)
			}
			switch action {
			case "added":
				if cur["id"] != pdDeal || b["previous"] != nil {
					t.Errorf("v1 added: current %v previous %v", cur, b["previous"])
				}
			case "updated":
				if i+1 >= len(wantPrev) {
					t.Errorf("v1 updated: request %d beyond the three: %s", i, req.raw)
					continue
				}
				for k, v := range wantPrev[i+1] {
					if fmt.Sprint(prev[k]) != fmt.Sprint(v) || len(prev) != len(cur) {
						t.Errorf("v1 updated %d: previous %v, want the whole row with %s = %v (current %v)", i, prev, k, v, cur)
					}
				}
			case "deleted":
				if b["current"] != nil || prev["status"] != "Won" {
					t.Errorf("v1 deleted: current %v previous %v", b["current"], prev)
				}
			}
		}
	}

	// Exactly: nothing more arrives for the deal once a later change is delivered.
	before, _ := probe.requests()
	if _, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = 'late probe' WHERE id = `+probeTask); err != nil {
		t.Fatal(err)
	}
	wait(probe, len(before)+1, "a later probe")
	for name, r := range map[string]*pdReceiver{"v2 */deal": v2all, "v1 added": v1["added"], "v1 updated": v1["updated"], "v1 deleted": v1["deleted"]} {
		reqs, bad := r.requests()
		if want := map[string]int{"v2 */deal": 5, "v1 added": 1, "v1 updated": 3, "v1 deleted": 1}[name]; len(reqs) != want {
			t.Errorf("%s: %d requests, want exactly %d", name, len(reqs), want)
		}
		if len(bad) > 0 {
			t.Errorf("%s: %v", name, bad)
		}
	}
	if reqs, _ := v2changes.requests(); len(deal(reqs, true)) != 3 {
		t.Errorf("v2 change/*: %d deal requests, want exactly 3", len(deal(reqs, true)))
	}

	// The delivery log (written in batches, shortly after each attempt) feeds Pipedrive's
	// last_delivery_time and last_http_status.
	testwait.Until(t, 30*time.Second, "the delivery log in Pipedrive's view", func() (bool, string, error) {
		status, out := pdCall(t, "GET", fmt.Sprintf("%s/v1/webhooks/%d?api_token=%s", p.base, v2allID, e2eToken), nil, "")
		data, _ := out["data"].(map[string]any)
		return status == http.StatusOK && data["last_http_status"] == 200.0 && data["last_delivery_time"] != nil,
			fmt.Sprintf("%d %v", status, out), nil
	})
}

// TestPipedriveRetriesAndPause: a Pipedrive webhook's failed request is retried from the
// durable queue with the same bytes and Webhook-Id; it is paused and resumed through the
// Pipeliner routes (by walhook_id), with is_active following in Pipedrive's view, and a
// change made around the pause is delivered after the resume (holding itself is
// TestPauseHoldsEventsAndSlotAdvances's to show).
func TestPipedriveRetriesAndPause(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	p := startWalhook(t, env)
	p.waitReady(t)
	conn := crmConn(t, dsn)
	rc := newPDReceiver(t, "", "")
	rc.failNext = 1

	status, out := pdCall(t, "POST", p.base+"/v1/webhooks?api_token="+e2eToken, http.Header{"Content-Type": {"application/json"}},
		`{"subscription_url":"`+rc.srv.URL+`","event_action":"*","event_object":"activity"}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, out)
	}
	id := int64(out["data"].(map[string]any)["id"].(float64))
	walhookID := out["data"].(map[string]any)["walhook_id"].(string)
	n := 0
	got := []pdRequest{}
	testwait.Until(t, time.Minute, "a delivery after a failed attempt", func() (bool, string, error) {
		if got, _ = rc.requests(); len(got) > 0 {
			return true, "", nil
		}
		rc.mu.Lock()
		failedYet := len(rc.failed) > 0
		rc.mu.Unlock()
		if failedYet {
			return false, "the first attempt failed; waiting for its retry", p.checkRunning()
		}
		n++
		_, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("probe %d", n))
		return false, fmt.Sprintf("%d probes", n), err
	})
	rc.mu.Lock()
	failed := rc.failed[0]
	rc.mu.Unlock()
	if string(got[0].raw) != string(failed.raw) || got[0].header.Get("Webhook-Id") != failed.header.Get("Webhook-Id") {
		t.Errorf("retry differs from the failed attempt:\n%s %s\n%s %s", failed.header.Get("Webhook-Id"), failed.raw,
			got[0].header.Get("Webhook-Id"), got[0].raw)
	}

	view := func() map[string]any {
		t.Helper()
		status, out := pdCall(t, "GET", fmt.Sprintf("%s/v1/webhooks/%d?api_token=%s", p.base, id, e2eToken), nil, "")
		if status != http.StatusOK {
			t.Fatalf("GET /v1/webhooks/%d: %d %v", id, status, out)
		}
		return out["data"].(map[string]any)
	}
	if st := webhookOp(t, p.base, walhookID, "pause"); st != "paused" {
		t.Fatalf("pause answered %q", st)
	}
	if v := view(); v["is_active"] != 0.0 || v["additional_data"].(map[string]any)["status"] != "paused" {
		t.Errorf("paused webhook in Pipedrive's view: %v", v)
	}
	if _, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = 'while paused' WHERE id = `+probeTask); err != nil {
		t.Fatal(err)
	}
	if st := webhookOp(t, p.base, walhookID, "resume"); st != "active" {
		t.Fatalf("resume answered %q", st)
	}
	testwait.Until(t, time.Minute, "the change made while paused", func() (bool, string, error) {
		reqs, _ := rc.requests()
		for _, r := range reqs {
			if d, _ := r.body["data"].(map[string]any); d["description"] == "while paused" {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d requests", len(reqs)), p.checkRunning()
	})
	if v := view(); v["is_active"] != 1.0 {
		t.Errorf("resumed webhook in Pipedrive's view: %v", v)
	}
	if _, bad := rc.requests(); len(bad) > 0 {
		t.Errorf("receiver: %v", bad)
	}
}
