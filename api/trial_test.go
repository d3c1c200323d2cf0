package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/sender"
)

// testTrial is the pipeline's Trial (pipeline/trial.go), which this package cannot import:
// the real matcher and the real sender.
type testTrial struct {
	*matcher.Matcher
	snd *sender.Sender
}

func (t *testTrial) SendTest(ctx context.Context, wh *matcher.Webhook, item json.RawMessage) (TestOutcome, error) {
	r, err := t.snd.SendTest(ctx, wh, item)
	return TestOutcome{DeliveryID: r.DeliveryID, Body: r.Body, Outcome: r.Outcome.String(), Status: r.Status,
		Latency: r.Latency, Response: r.Response, Err: r.Err}, err
}

// newTrialEnv is an env whose API has test-send and preview, on a real matcher and sender
// over the env's database; private targets (the loopback receivers) are allowed by the API,
// and by the sender unless guarded.
func newTrialEnv(tb testing.TB, guarded bool) *env {
	tb.Helper()
	tt := &testTrial{}
	e := newEnv(tb, func(c *Config) {
		c.AllowPrivateTargets = true
		c.Trial = tt
		c.Tokens = append(c.Tokens, "narrow@sales")
	})
	tt.Matcher = matcher.New(matcher.Config{DB: e.pool, Mapping: e.m})
	tt.snd = sender.New(sender.Config{AllowPrivateTargets: !guarded, Version: "test"}, tt.Matcher, e.pool, func(event.LSN) {})
	return e
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a real HTTP server on loopback that records every request and answers
// status with body.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newReceiver(tb testing.TB, status int, answer string) *receiver {
	tb.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{r.Header.Clone(), b})
		rc.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// testResult is the data of a test-send response.
type testResult struct {
	Outcome     string          `json:"outcome"`
	Status      *int            `json:"status"`
	LatencyMS   *float64        `json:"latency_ms"`
	Response    string          `json:"response"`
	Error       *string         `json:"error"`
	DeliveryID  string          `json:"delivery_id"`
	EventID     string          `json:"event_id"`
	Event       string          `json:"event"`
	Entity      string          `json:"entity"`
	EntityID    string          `json:"entity_id"`
	FilteredOut *string         `json:"filtered_out"`
	Body        json.RawMessage `json:"body"`
}

func (r response) testResult(tb testing.TB) testResult {
	tb.Helper()
	if r.Status != http.StatusOK {
		tb.Fatalf("test-send: %d %s", r.Status, r.Raw)
	}
	var v testResult
	dec := json.NewDecoder(strings.NewReader(string(r.Data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("test-send data: %v\n%s", err, r.Data)
	}
	return v
}

const secret = "7d3c0f5e-2b1a-4c9d-8e7f-0a1b2c3d4e5f"

// TestTestSendDeliversSignedSample: POST …/{id}/test sends one request built from the
// latest real row of a subscribed entity, in the webhook's chunk format, signed with its
// secret, with its static headers and Basic auth, marked Walhook-Test, under a fresh
// delivery id; it answers the receiver's status, latency and response, and the body sent.
func TestTestSendDeliversSignedSample(t *testing.T) {
	e := newTrialEnv(t, false)
	rc := newReceiver(t, http.StatusOK, `{"ok": "thanks"}`)
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO crm.lead_oppty (id, record_type, name, status, value)
		VALUES ('0f000000-0000-4000-8000-0000000000b1', 'opportunity', 'Fresh deal', 'Won', 99.50)`); err != nil {
		t.Fatal(err)
	}
	created := e.do(t, "POST", collection, `{"url": "`+rc.srv.URL+`/hook?k=1", "events": ["Opportunity.Won"],
		"signature": "`+secret+`", "http_auth_user": "u", "http_auth_password": "p", "headers": {"X-Api-Key": "k1"},
		"options": {"entity": {"Opportunity": {"load-only": ["name", "status", "value"]}}}}`)
	id := created.webhook(t).ID

	res := e.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(got.body)
	if sig := got.header.Get("WebHook-Signature"); sig != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("WebHook-Signature %q does not verify with the webhook's secret", sig)
	}
	user, pass, _ := (&http.Request{Header: got.header}).BasicAuth()
	if got.header.Get("Walhook-Test") != "true" || got.header.Get("X-Api-Key") != "k1" || user != "u" || pass != "p" ||
		got.header.Get("Webhook-Id") != res.DeliveryID || got.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers: %v", got.header)
	}
	if string(got.body) != string(res.Body) {
		t.Errorf("the response's body differs from the one sent:\nsent %s\nshown %s", got.body, res.Body)
	}
	var chunk struct {
		WebhookID  string           `json:"webhook_id"`
		DeliveryID string           `json:"delivery_id"`
		Items      []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(got.body, &chunk); err != nil || len(chunk.Items) != 1 {
		t.Fatalf("body is not a chunk of one item: %v\n%s", err, got.body)
	}
	it := chunk.Items[0]
	if chunk.WebhookID != id || chunk.DeliveryID != res.DeliveryID || it["event"] != "Opportunity.Won" ||
		it["entity"] != "Opportunity" || it["entity_id"] != "0f000000-0000-4000-8000-0000000000b1" || it["id"] != res.EventID {
		t.Errorf("chunk %s, response %+v", got.body, res)
	}
	if diff := cmp.Diff(map[string]any{"name": "Fresh deal", "status": "Won", "value": 99.5}, it["data"]); diff != "" {
		t.Errorf("item data (-want +got):\n%s", diff)
	}
	if res.Outcome != "delivered" || res.Status == nil || *res.Status != 200 || res.Response != `{"ok": "thanks"}` ||
		res.LatencyMS == nil || *res.LatencyMS <= 0 || res.Error != nil || res.FilteredOut != nil ||
		res.Event != "Opportunity.Won" || res.Entity != "Opportunity" || res.EntityID != "0f000000-0000-4000-8000-0000000000b1" ||
		!strings.HasPrefix(res.EventID, "test-") {
		t.Errorf("result %+v", res)
	}

	// Each test is a new request: a new delivery id and event id.
	again := e.do(t, "POST", collection+"/"+id+"/test", "{}").testResult(t)
	if again.DeliveryID == res.DeliveryID || again.EventID == res.EventID || len(rc.requests()) != 2 {
		t.Errorf("a second test reused ids or was not sent: %+v", again)
	}
}

// TestTestSendStandardWebhooks: a standard-webhooks webhook's test is signed with its
// scheme, over the delivery id, timestamp and body.
func TestTestSendStandardWebhooks(t *testing.T) {
	e := newTrialEnv(t, false)
	rc := newReceiver(t, http.StatusNoContent, "")
	id := e.do(t, "POST", collection, `{"url": "`+rc.srv.URL+`", "events": ["Task.*"], "signature": "`+secret+`",
		"signing": "standard-webhooks"}`).webhook(t).ID
	res := e.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
	reqs := rc.requests()
	if len(reqs) != 1 || res.Outcome != "delivered" || *res.Status != 204 || res.Event != "Task.Create" {
		t.Fatalf("%d requests, result %+v", len(reqs), res)
	}
	h := reqs[0].header
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(h.Get("Webhook-Id") + "." + h.Get("Webhook-Timestamp") + "."))
	mac.Write(reqs[0].body)
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); h.Get("Webhook-Signature") != want {
		t.Errorf("webhook-signature %q, want %q", h.Get("Webhook-Signature"), want)
	}
}

// TestTestSendFailures: a receiver's 500 is the test's outcome (200 from walhook, its
// response cut to 4 KiB), as are an unreachable receiver and a private target the sender
// refuses; each is tried once.
func TestTestSendFailures(t *testing.T) {
	e := newTrialEnv(t, false)
	failing := newReceiver(t, http.StatusInternalServerError, strings.Repeat("x", 10000))
	id := e.do(t, "POST", collection, `{"url": "`+failing.srv.URL+`", "events": ["Account.Update"]}`).webhook(t).ID
	res := e.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
	if res.Outcome != "http_error" || res.Status == nil || *res.Status != 500 || len(res.Response) != 4096 ||
		res.Event != "Account.Update" || len(failing.requests()) != 1 {
		t.Errorf("500: %d requests, result %+v", len(failing.requests()), res)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/secret-path"
	l.Close()
	id = e.do(t, "POST", collection, `{"url": "`+closed+`", "events": ["Account.Update"]}`).webhook(t).ID
	res = e.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
	if res.Outcome != "connection_error" || res.Status != nil || res.Error == nil || !strings.Contains(*res.Error, "refused") ||
		strings.Contains(*res.Error, "secret-path") || res.LatencyMS == nil || len(res.Body) == 0 {
		t.Errorf("unreachable: %+v", res)
	}

	guarded := newTrialEnv(t, true)
	rc := newReceiver(t, http.StatusOK, "")
	id = guarded.do(t, "POST", collection, `{"url": "`+rc.srv.URL+`", "events": ["Account.Update"]}`).webhook(t).ID
	res = guarded.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
	if res.Outcome != "blocked" || res.Status != nil || len(rc.requests()) != 0 {
		t.Errorf("private target: %d requests, result %+v", len(rc.requests()), res)
	}
}

// TestTestSendPipedrive: a webhook created through Pipedrive's API, tested through the
// Pipeliner path by its walhook id, gets a Pipedrive body of its version.
func TestTestSendPipedrive(t *testing.T) {
	e := newTrialEnv(t, false)
	rc := newReceiver(t, http.StatusOK, "ok")
	for _, version := range []string{"2.0", "1.0"} {
		action := map[string]string{"2.0": "*", "1.0": "added"}[version]
		r, err := e.client.Post(e.srv.URL+PipedrivePath+"?api_token="+token, "application/json", strings.NewReader(
			`{"subscription_url": "`+rc.srv.URL+`", "event_action": "`+action+`", "event_object": "deal", "version": "`+version+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var created struct {
			Data struct {
				AdditionalData struct {
					WalhookID string `json:"walhook_id"`
				} `json:"additional_data"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&created)
		r.Body.Close()
		id := created.Data.AdditionalData.WalhookID
		if r.StatusCode != http.StatusCreated || id == "" {
			t.Fatalf("create Pipedrive webhook %s: %d", version, r.StatusCode)
		}
		res := e.do(t, "POST", collection+"/"+id+"/test", "").testResult(t)
		reqs := rc.requests()
		body := reqs[len(reqs)-1].body
		var pd struct {
			Meta    map[string]any `json:"meta"`
			Data    map[string]any `json:"data"`
			Current map[string]any `json:"current"`
			Event   string         `json:"event"`
		}
		if err := json.Unmarshal(body, &pd); err != nil || string(res.Body) != string(body) || res.Outcome != "delivered" {
			t.Fatalf("%s: %v, result %+v\nbody %s", version, err, res, body)
		}
		if res.Event != "Opportunity.Create" {
			t.Errorf("%s: sample event %s, want Opportunity.Create", version, res.Event)
		}
		switch version {
		case "2.0":
			if pd.Meta["action"] != "create" || pd.Meta["entity"] != "deal" || pd.Meta["entity_id"] != res.EntityID ||
				pd.Meta["id"] != res.DeliveryID || pd.Data["id"] != res.EntityID {
				t.Errorf("v2 body %s, result %+v", body, res)
			}
		case "1.0":
			if pd.Event != "added.deal" || pd.Meta["object"] != "deal" || pd.Current["id"] != res.EntityID {
				t.Errorf("v1 body %s, result %+v", body, res)
			}
		}
		if h := reqs[len(reqs)-1].header; h.Get("Walhook-Test") != "true" || h.Get("Webhook-Id") != res.DeliveryID {
			t.Errorf("%s: headers %v", version, h)
		}
	}
}

// TestTestSendRefusals: no row to sample (409 naming the entity), a body with fields,
// another space, a token limited to other spaces, an unknown webhook, and an instance
// without a sender.
func TestTestSendRefusals(t *testing.T) {
	e := newTrialEnv(t, false)
	rc := newReceiver(t, http.StatusOK, "")
	if _, err := e.pool.Exec(context.Background(), `UPDATE crm.ce_bids SET is_deleted = true`); err != nil {
		t.Fatal(err)
	}
	id := e.do(t, "POST", spacePath("sales"), `{"url": "`+rc.srv.URL+`", "events": ["CustomEntity.Create"],
		"options": {"custom_entity_api_name": ["CE_Bid"]}}`).webhook(t).ID
	item := spacePath("sales") + "/" + id + "/test"
	if r := e.do(t, "POST", item, ""); r.Status != http.StatusConflict || r.Field != "events" || !strings.Contains(r.Message, "CE_Bid") {
		t.Errorf("no row: %d %s, want 409 naming CE_Bid", r.Status, r.Raw)
	}
	for body, want := range map[string]int{`{"entity": "Account"}`: 422, `[`: 400, `[]`: 400} {
		if r := e.do(t, "POST", item, body); r.Status != want {
			t.Errorf("body %s: %d %s, want %d", body, r.Status, r.Raw, want)
		}
	}
	if r := e.do(t, "POST", spacePath("marketing")+"/"+id+"/test", ""); r.Status != http.StatusNotFound {
		t.Errorf("another space: %d, want 404", r.Status)
	}
	if r := e.doAuth(t, "POST", spacePath("marketing")+"/"+id+"/test", "", "Bearer narrow"); r.Status != http.StatusForbidden {
		t.Errorf("limited token elsewhere: %d, want 403", r.Status)
	}
	if r := e.doAuth(t, "POST", item, "", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", r.Status)
	}
	if r := e.do(t, "POST", collection+"/01234567-abcd-dcba-ffff-000000000000/test", ""); r.Status != http.StatusNotFound {
		t.Errorf("unknown webhook: %d, want 404", r.Status)
	}
	if r := e.do(t, "GET", item, ""); r.Status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", r.Status)
	}
	if len(rc.requests()) != 0 {
		t.Errorf("the receiver got %d requests", len(rc.requests()))
	}
	none := newEnv(t, nil)
	wid := none.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"]}`).webhook(t).ID
	if r := none.do(t, "POST", collection+"/"+wid+"/test", ""); r.Status != http.StatusNotImplemented {
		t.Errorf("without a sender: %d, want 501", r.Status)
	}
	if r := none.do(t, "POST", collection+"/preview", `{"url": "https://example.com", "events": ["*"]}`); r.Status != http.StatusNotImplemented {
		t.Errorf("preview without a sender: %d, want 501", r.Status)
	}
}

// TestPreviewEndpoint: POST …/Webhooks/preview renders the latest rows that pass a create
// body's filters, with load-only and expand, lists the others with the failing filter,
// stores nothing and sends nothing.
func TestPreviewEndpoint(t *testing.T) {
	e := newTrialEnv(t, false)
	rc := newReceiver(t, http.StatusOK, "")
	if _, err := e.pool.Exec(context.Background(), `
		INSERT INTO crm.lead_oppty (id, record_type, name, account_id, status) VALUES
			('0f000000-0000-4000-8000-0000000000c1', 'opportunity', 'Lost deal', NULL, 'Lost'),
			('0f000000-0000-4000-8000-0000000000c2', 'opportunity', 'Big win', 'ac000000-0000-4000-8000-000000000002', 'Won')`); err != nil {
		t.Fatal(err)
	}
	body := `{"url": "` + rc.srv.URL + `", "events": ["Opportunity.*"], "limit": 2,
		"options": {"entity": {"Opportunity": {"filter": {"status": ["Won", "Open"]}, "expand": ["account"],
			"load-only": ["name", "account.name"]}}}}`
	r := e.do(t, "POST", collection+"/preview", body)
	if r.Status != http.StatusOK {
		t.Fatalf("preview: %d %s", r.Status, r.Raw)
	}
	var data struct {
		Limit       int                 `json:"limit"`
		Items       []map[string]any    `json:"items"`
		FilteredOut []map[string]string `json:"filtered_out"`
	}
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Items) != 1 || data.Limit != 2 {
		t.Fatalf("items %v (limit %d), want 1", data.Items, data.Limit)
	}
	if diff := cmp.Diff(map[string]any{"name": "Big win", "account": map[string]any{"name": "Globex"}}, data.Items[0]["data"]); diff != "" {
		t.Errorf("item data (-want +got):\n%s", diff)
	}
	if it := data.Items[0]; it["event"] != "Opportunity.Create" || it["entity_id"] != "0f000000-0000-4000-8000-0000000000c2" {
		t.Errorf("item %v", it)
	}
	want := []map[string]string{{"entity": "Opportunity", "entity_id": "0f000000-0000-4000-8000-0000000000c1",
		"event": "Opportunity.Create", "reason": `filter status eq ["Won","Open"]: value "Lost"`}}
	if diff := cmp.Diff(want, data.FilteredOut); diff != "" {
		t.Errorf("filtered_out (-want +got):\n%s", diff)
	}
	if r := e.do(t, "POST", collection+"/preview?limit=1", strings.Replace(body, `"limit": 2,`, "", 1)); r.Status != 200 ||
		!strings.Contains(string(r.Data), `"limit":1,"items":[{`) || strings.Contains(string(r.Data), "0000000000c1") {
		t.Errorf("limit as a query parameter: %s", r.Raw)
	}
	if r := e.do(t, "GET", collection, ""); r.Total != 0 || len(rc.requests()) != 0 {
		t.Errorf("preview stored a webhook (%d) or sent a request (%d)", r.Total, len(rc.requests()))
	}
}

// TestPreviewRefusesBadBodies: the preview body is validated as create's, with the same
// status and field, plus limit.
func TestPreviewRefusesBadBodies(t *testing.T) {
	e := newTrialEnv(t, false)
	preview := collection + "/preview"
	for _, c := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"events": ["*"]}`, 422, "url"},
		{`{"url": "https://example.com"}`, 422, "events"},
		{`{"url": "ftp://example.com", "events": ["*"]}`, 422, "url"},
		{`{"url": "https://example.com", "events": ["Opportunity.Sold"]}`, 422, "events[0]"},
		{`{"url": "https://example.com", "events": ["*"], "options": {"entity": {"Opportunity": {"filter": {"status": "Won"}, "filter-op": {"status": "equals"}}}}}`,
			422, "options.entity.Opportunity.filter-op.status"},
		{`{"url": "https://example.com", "events": ["*"], "options": {"entity": {"Opportunity": {"expand": ["nowhere"]}}}}`,
			422, "options.entity.Opportunity.expand[0]"},
		{`{"url": "https://example.com", "events": ["*"], "colour": "red"}`, 422, "colour"},
		{`{"url": "https://example.com", "events": ["*"], "limit": 0}`, 422, "limit"},
		{`{"url": "https://example.com", "events": ["*"], "limit": 101}`, 422, "limit"},
		{`{"url": "https://example.com", "events": ["*"], "limit": "5"}`, 422, "limit"},
		{`{"url": "https://example.com", "events": ["*"], "limit": 2.5}`, 422, "limit"},
		{`{"url": `, 400, ""},
	} {
		r := e.do(t, "POST", preview, c.body)
		if r.Status != c.status || r.Field != c.field {
			t.Errorf("%s: %d %q %s, want %d naming %q", c.body, r.Status, r.Field, r.Message, c.status, c.field)
		}
		// The same body (without limit) is refused by create alike.
		if !strings.Contains(c.body, "limit") {
			if cr := e.do(t, "POST", collection, c.body); cr.Status != r.Status || cr.Field != r.Field || cr.Message != r.Message {
				t.Errorf("%s: create answers %d %q %q, preview %d %q %q", c.body, cr.Status, cr.Field, cr.Message, r.Status, r.Field, r.Message)
			}
		}
	}
	ok := `{"url": "https://example.com", "events": ["*"]}`
	for _, q := range []string{"0", "101", "x"} {
		if r := e.do(t, "POST", preview+"?limit="+q, ok); r.Status != 400 || r.Field != "limit" {
			t.Errorf("?limit=%s: %d %s", q, r.Status, r.Raw)
		}
	}
	if r := e.do(t, "POST", preview+"?limit=3", `{"url": "https://example.com", "events": ["*"], "limit": 3}`); r.Status != 422 || r.Field != "limit" {
		t.Errorf("limit twice: %d %s", r.Status, r.Raw)
	}
	if r := e.doAuth(t, "POST", spacePath("marketing")+"/preview", ok, "Bearer narrow"); r.Status != http.StatusForbidden {
		t.Errorf("limited token elsewhere: %d, want 403", r.Status)
	}
	if r := e.doAuth(t, "POST", spacePath("sales")+"/preview", ok, "Bearer narrow"); r.Status != http.StatusOK {
		t.Errorf("limited token in its space: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", preview, ""); r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Message, "POST") {
		t.Errorf("GET preview: %d %s, want 405", r.Status, r.Raw)
	}
}
