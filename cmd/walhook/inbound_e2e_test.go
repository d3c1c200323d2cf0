package main

// End-to-end tests of inbound webhooks (DESIGN.md §13) with the real binary: calls are
// landed in the WAL and reach Pipeliner-API subscribers through the reader, the matcher
// and the sender.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/pgtest"
)

// inboundEnv starts walhook on a fresh sample CRM with inbound limits for the tests.
func inboundEnv(t *testing.T, vars map[string]string) (map[string]string, *walhookProc) {
	t.Helper()
	return inboundEnvTB(t, vars)
}

func inboundEnvTB(t testing.TB, vars map[string]string) (map[string]string, *walhookProc) {
	t.Helper()
	_, env := setupE2E(t, vars)
	p := startWalhook(t, env)
	p.waitReady(t)
	return env, p
}

func TestInboundEndToEnd(t *testing.T) {
	_, p := inboundEnv(t, map[string]string{"WALHOOK_INBOUND_MAX_BYTES": "300000"})
	exact := newReceiver(t, "1a2b3c4d-0000-4000-8000-0000000e0ac7")
	wild := newReceiver(t, "1a2b3c4d-0000-4000-8000-00000000a11d")
	other := newReceiver(t, "1a2b3c4d-0000-4000-8000-0000000074e5")
	lead := putInbound(t, p.base, "webhook.salesforce.lead.created", map[string]any{"description": "Salesforce leads"})
	registerWebhook(t, p.base, map[string]any{"url": exact.URL(), "events": []string{"webhook.salesforce.lead.created"}, "signature": exact.secret,
		"options": map[string]any{"chunk_size": 1}})
	registerWebhook(t, p.base, map[string]any{"url": wild.URL(), "events": []string{"webhook.salesforce.*"}, "signature": wild.secret})
	registerWebhook(t, p.base, map[string]any{"url": other.URL(), "events": []string{"webhook.github.*"}, "signature": other.secret})
	skipper := newReceiver(t, "1a2b3c4d-0000-4000-8000-0000000051c9")
	registerWebhook(t, p.base, map[string]any{"url": skipper.URL(), "events": []string{"webhook.*"}, "signature": skipper.secret,
		"options": map[string]any{"skip_keys": []string{"loop"}}})
	waitInboundSubscribed(t, p, lead.UUID, exact, wild, skipper)

	// JSON, form and multipart calls, on both spellings of the receive path.
	status, jsonCall, _, raw := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "application/json",
		[]byte(`{"lead": {"name": "Ada", "score": 12.50}, "tags": ["a", "b"]}`), http.Header{"X-Github-Event": {"x"}, "Authorization": {"Bearer secret"}})
	if status != http.StatusOK || jsonCall.UUID != lead.UUID || jsonCall.Duplicate {
		t.Fatalf("JSON call: %d %s", status, raw)
	}
	status, formCall, _, raw := call(t, p.base, "/api/v3/command/webhook.receive", lead.UUID, "application/x-www-form-urlencoded",
		[]byte("name=Ada+Lovelace&tag=a&tag=b&empty="), nil)
	if status != http.StatusOK {
		t.Fatalf("form call: %d %s", status, raw)
	}
	pdf := make([]byte, 100<<10)
	rand.Read(pdf)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	mw.WriteField("subject", "two files")
	fw, _ := mw.CreateFormFile("attachment", "contract.pdf")
	fw.Write(pdf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="notes"; filename="notes.txt"`)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	tw, _ := mw.CreatePart(h)
	tw.Write([]byte("line 1\r\nline 2\n"))
	mw.Close()
	status, mpCall, _, raw := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, mw.FormDataContentType(), mp.Bytes(), nil)
	if status != http.StatusOK {
		t.Fatalf("multipart call: %d %s", status, raw)
	}
	ids := []string{jsonCall.ID, formCall.ID, mpCall.ID}
	waitCalls(t, exact, p, ids...)
	waitCalls(t, wild, p, ids...)

	for _, r := range []*receiver{exact, wild} {
		got, order := inboundItems(t, r)
		// Order per inbound webhook: the calls arrive in the order they were answered.
		var seen []string
		for _, id := range order {
			if slices.Contains(ids, id) {
				seen = append(seen, id)
			}
		}
		if !slices.Equal(seen, ids) {
			t.Errorf("%s got the calls in order %q, want %q", r.srv.URL, seen, ids)
		}
		for _, id := range ids {
			it := got[id]
			if it.Event != lead.EventKey || it.Entity != "Inbound" || it.Data.UUID != lead.UUID || it.Data.EventKey != lead.EventKey ||
				it.Data.Method != "POST" || it.Data.ReceivedAt == "" || it.Data.Query["source"] != "test" {
				t.Errorf("item of call %s: %+v", id, it)
			}
		}
		js := got[jsonCall.ID].Data
		if string(js.Body) != `{"lead":{"name":"Ada","score":12.50},"tags":["a","b"]}` || js.Headers["x-github-event"] != "x" || js.Headers["authorization"] != "" {
			t.Errorf("JSON call's data: body %s, headers %v", js.Body, js.Headers)
		}
		if fb := got[formCall.ID].Data.Body; string(fb) != `{"name":"Ada Lovelace","tag":["a","b"],"empty":""}` {
			t.Errorf("form call's body: %s", fb)
		}
		md := got[mpCall.ID].Data
		if string(md.Body) != `{"subject":"two files"}` || len(md.Files) != 2 {
			t.Fatalf("multipart call's data: %+v", md)
		}
		for i, want := range [][]byte{pdf, []byte("line 1\r\nline 2\n")} {
			f := md.Files[i]
			sum := sha256.Sum256(want)
			if f.Size != len(want) || f.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("file %d: %+v", i, f)
			}
			code, ct, b := download(t, p.base, f.URL, e2eToken)
			if code != http.StatusOK || !bytes.Equal(b, want) || ct != f.ContentType {
				t.Errorf("download %s: %d %s, %d bytes, identical %t", f.URL, code, ct, len(b), bytes.Equal(b, want))
			}
			if code, _, _ := download(t, p.base, f.URL, ""); code != http.StatusUnauthorized {
				t.Errorf("download %s without a token: %d, want 401", f.URL, code)
			}
		}
		if md.Files[0].Field != "attachment" || md.Files[0].Filename != "contract.pdf" || md.Files[1].ContentType != "text/plain; charset=utf-8" {
			t.Errorf("files: %+v", md.Files)
		}
	}
	if n := len(other.events()); n != 0 {
		t.Errorf("webhook.github.* subscriber got %d items", n)
	}

	// A repeated webhook-id is accepted once.
	hdr := http.Header{"Webhook-Id": {"msg_repeat_1"}}
	_, first, _, _ := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "text/plain", []byte("first"), hdr)
	status, second, _, raw := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "text/plain", []byte("second"), hdr)
	if status != http.StatusOK || !second.Duplicate || second.ID != first.ID || first.Duplicate {
		t.Errorf("repeated webhook-id: first %+v, then %d %s", first, status, raw)
	}
	_, marker, _, _ := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "text/plain", []byte("marker"), nil)
	waitCalls(t, exact, p, first.ID, marker.ID)
	got, _ := inboundItems(t, exact)
	if b := got[first.ID].Data.Body; string(b) != `"first"` {
		t.Errorf("repeated webhook-id delivered body %s", b)
	}
	for _, ev := range exact.events() {
		if strings.Contains(string(ev.raw), `"second"`) {
			t.Errorf("the repeated call was delivered: %s", ev.raw)
		}
	}

	// A call with a skip key is not delivered to webhooks that skip it.
	_, skipped, _, _ := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "text/plain", []byte("from a loop"), http.Header{"Webhook-Skip-Key": {"loop"}})
	_, after, _, _ := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "text/plain", []byte("after"), nil)
	waitCalls(t, wild, p, skipped.ID, after.ID)
	waitCalls(t, skipper, p, after.ID)
	if got, _ := inboundItems(t, skipper); got[skipped.ID].ID != "" {
		t.Errorf("a call with skip key loop reached a webhook with skip_keys [loop]")
	}

	// 404, 413.
	if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", "00000000-0000-4000-8000-000000000000", "text/plain", []byte("x"), nil); status != http.StatusNotFound || !strings.Contains(string(raw), `"success":false`) {
		t.Errorf("unknown uuid: %d %s", status, raw)
	}
	if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", lead.UUID, "application/octet-stream", make([]byte, 300001), nil); status != http.StatusRequestEntityTooLarge {
		t.Errorf("300001 bytes over a 300000 limit: %d %s", status, raw)
	}
	exact.checkNoProblems(t)
	wild.checkNoProblems(t)
}

func TestInboundRefusals(t *testing.T) {
	env, p := inboundEnv(t, map[string]string{"WALHOOK_INBOUND_RATE": "5", "WALHOOK_INBOUND_BURST": "5",
		"WALHOOK_SECRET_KEY": "0123456789abcdef0123456789abcdef-inbound"})

	// verify: an HMAC header, and Standard Webhooks.
	hm := putInbound(t, p.base, "webhook.billing.paid", map[string]any{"verify": map[string]any{"type": "hmac-sha256", "header": "X-Signature", "secret": "s3cret"}})
	body := []byte(`{"invoice": 7}`)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	good := hex.EncodeToString(mac.Sum(nil))
	if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", hm.UUID, "application/json", body, http.Header{"X-Signature": {"sha256=" + good}}); status != http.StatusOK {
		t.Errorf("good HMAC: %d %s", status, raw)
	}
	for _, sig := range []string{"", "00" + good[2:], "zz"} {
		if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", hm.UUID, "application/json", body, http.Header{"X-Signature": {sig}}); status != http.StatusUnauthorized {
			t.Errorf("HMAC %q: %d %s, want 401", sig, status, raw)
		}
	}
	var stored string
	if err := crmConn(t, env["WALHOOK_DATABASE_URL"]).QueryRow(context.Background(),
		`SELECT verify->>'secret' FROM walhook.inbound_webhooks WHERE uuid = $1`, hm.UUID).Scan(&stored); err != nil || !strings.HasPrefix(stored, "enc:v1:") {
		t.Errorf("verify secret stored as %q (%v), want it sealed with WALHOOK_SECRET_KEY", stored, err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	sw := putInbound(t, p.base, "webhook.svix.event", map[string]any{"verify": map[string]any{"type": "standard-webhooks", "secret": "whsec_" + base64.StdEncoding.EncodeToString(key)}})
	sign := func(id string, ts int64, body []byte) string {
		m := hmac.New(sha256.New, key)
		fmt.Fprintf(m, "%s.%d.%s", id, ts, body)
		return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	now := time.Now().Unix()
	stdHeader := func(id string, ts int64, sig string) http.Header {
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(ts, 10)}, "Webhook-Signature": {sig}}
	}
	if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", sw.UUID, "application/json", body, stdHeader("msg_1", now, "v1,bm9wZQ== "+sign("msg_1", now, body))); status != http.StatusOK {
		t.Errorf("good Standard Webhooks signature: %d %s", status, raw)
	}
	for name, h := range map[string]http.Header{
		"wrong body":   stdHeader("msg_2", now, sign("msg_2", now, []byte("{}"))),
		"old":          stdHeader("msg_3", now-600, sign("msg_3", now-600, body)),
		"no signature": {"Webhook-Id": {"msg_4"}, "Webhook-Timestamp": {strconv.FormatInt(now, 10)}},
	} {
		if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", sw.UUID, "application/json", body, h); status != http.StatusUnauthorized {
			t.Errorf("Standard Webhooks, %s: %d %s, want 401", name, status, raw)
		}
	}

	// 429 with Retry-After past the per-uuid rate; another uuid is not affected.
	rl := putInbound(t, p.base, "webhook.flood", nil)
	var limited int
	for range 20 {
		status, _, h, _ := call(t, p.base, "/api/v3/webhook.receive", rl.UUID, "text/plain", []byte("x"), nil)
		if status == http.StatusTooManyRequests {
			limited++
			if s, err := strconv.Atoi(h.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q", h.Get("Retry-After"))
			}
		}
	}
	if limited < 10 {
		t.Errorf("%d of 20 quick calls answered 429 at 5 a second, burst 5", limited)
	}
	if status, _, _, raw := call(t, p.base, "/api/v3/webhook.receive", hm.UUID, "application/json", body, http.Header{"X-Signature": {good}}); status != http.StatusOK {
		t.Errorf("another uuid while the first is limited: %d %s", status, raw)
	}

	// Commands: errors in the §4 envelope; CRM-field options refused for inbound events.
	for _, c := range []struct {
		name   string
		query  url.Values
		body   any
		status int
		want   string
	}{
		{"webhook.put", nil, map[string]any{}, 422, `"field":"eventKey"`},
		{"webhook.put", url.Values{"eventKey": {"salesforce.lead"}}, nil, 422, `must start with \"webhook.\"`},
		{"webhook.put", nil, map[string]any{"eventKey": "webhook.x", "verify": map[string]any{"type": "md5"}}, 422, `"field":"verify.type"`},
		{"webhook.get", url.Values{"uuid": {"00000000-0000-4000-8000-000000000000"}}, nil, 404, `"success":false`},
		{"webhook.delete", url.Values{"uuid": {rl.UUID}}, nil, 200, `"deleted":true`},
		{"webhook.delete", url.Values{"uuid": {rl.UUID}}, nil, 404, `"code":404`},
		{"webhook.nope", nil, nil, 404, "no such command"},
	} {
		status, b := inboundCommand(t, p.base, c.name, c.query, c.body)
		if status != c.status || !strings.Contains(string(b), c.want) {
			t.Errorf("%s %v %v: %d %s, want %d and %s", c.name, c.query, c.body, status, b, c.status, c.want)
		}
	}
	status, b := inboundCommand(t, p.base, "webhook.get", nil, nil)
	var list []inboundWebhook
	if status != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) != 2 || !strings.Contains(string(b), `"secret":"****`) || strings.Contains(string(b), "s3cret") {
		t.Errorf("webhook.get all: %d %s", status, b)
	}
	time.Sleep(1100 * time.Millisecond) // the receive path's cache
	if status, _, _, _ := call(t, p.base, "/api/v3/webhook.receive", rl.UUID, "text/plain", []byte("x"), nil); status != http.StatusNotFound {
		t.Errorf("deleted inbound webhook: %d, want 404", status)
	}
	req, _ := http.NewRequest(http.MethodGet, p.base+"/api/v3/command/webhook.get?uuid="+hm.UUID, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET webhook.get?uuid=: %v %v", resp.Status, err)
	}
	req, _ = http.NewRequest(http.MethodGet, p.base+"/api/v3/command/webhook.put?eventKey=webhook.x", nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET webhook.put: %v %v, want 405 in the envelope", resp.Status, err)
	}
	req, _ = http.NewRequest(http.MethodPost, p.base+"/api/v3/command/webhook.get", nil)
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("command without a token: %v %v", resp.Status, err)
	}
	for _, opts := range []map[string]any{
		{"entity": map[string]any{"Contact": map[string]any{"filter": map[string]any{"email1": "x"}}}},
		{"entity": map[string]any{"Inbound": map[string]any{"load-only": []string{"body"}}}},
	} {
		b, _ := json.Marshal(map[string]any{"url": "http://127.0.0.1:1/x", "events": []string{"webhook.*"}, "options": opts})
		req, _ := http.NewRequest(http.MethodPost, p.base+webhooksPath, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(e.Message, "inbound events") {
			t.Errorf("webhook.* with options %v: %d %q, want 422 naming inbound events", opts, resp.StatusCode, e.Message)
		}
	}
}

// TestInboundSend: webhook.send queues one request, retried until the target accepts it,
// signed with the given key, byte for byte, with the delivery id as Webhook-Id.
func TestInboundSend(t *testing.T) {
	_, p := inboundEnv(t, nil)
	type got struct {
		header http.Header
		body   []byte
	}
	reqs := make(chan got, 10)
	var attempts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if attempts.Add(1) == 1 {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		reqs <- got{r.Header.Clone(), b}
	}))
	t.Cleanup(srv.Close)
	status, b := inboundCommand(t, p.base, "webhook.send", nil, map[string]any{"url": srv.URL + "/in", "body": `{"hello": "world"}`,
		"signature": "k3y", "headers": map[string]string{"X-Extra": "1"}})
	var ans struct {
		DeliveryID string `json:"deliveryId"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &ans) != nil || ans.DeliveryID == "" {
		t.Fatalf("webhook.send: %d %s", status, b)
	}
	select {
	case g := <-reqs:
		mac := hmac.New(sha256.New, []byte("k3y"))
		mac.Write([]byte(`{"hello": "world"}`))
		if string(g.body) != `{"hello": "world"}` || g.header.Get("Webhook-Id") != ans.DeliveryID ||
			g.header.Get("WebHook-Signature") != hex.EncodeToString(mac.Sum(nil)) || g.header.Get("X-Extra") != "1" {
			t.Errorf("sent %s with headers %v", g.body, g.header)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("webhook.send not delivered after %d attempts", attempts.Load())
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2 (one 503, then delivered)", n)
	}
	if status, b := inboundCommand(t, p.base, "webhook.send", url.Values{"url": {"ftp://x"}}, nil); status != http.StatusUnprocessableEntity {
		t.Errorf("webhook.send to ftp: %d %s", status, b)
	}
	if status, b := inboundCommand(t, p.base, "webhook.send", nil, map[string]any{"url": srv.URL, "headers": map[string]string{"Webhook-Id": "x"}}); status != http.StatusUnprocessableEntity || !strings.Contains(string(b), "Webhook-Id") {
		t.Errorf("webhook.send replacing Webhook-Id: %d %s", status, b)
	}
}

// TestInboundStateDatabase: with walhook's tables in a separate database, a call's rows go
// there and its message to the CRM database's WAL; it is delivered, its file downloadable,
// and a repeated webhook-id raises it once.
func TestInboundStateDatabase(t *testing.T) {
	_, env := setupE2E(t, map[string]string{"WALHOOK_STATE_DATABASE_URL": pgtest.NewDatabase(t, "")})
	p := startWalhook(t, env)
	p.waitReady(t)
	r := newReceiver(t, "5fa7e000-0000-4000-8000-00000005fa7e")
	wh := putInbound(t, p.base, "webhook.state.call", nil)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"webhook.*"}, "signature": r.secret})
	waitInboundSubscribed(t, p, wh.UUID, r)
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("f", "a.bin")
	fw.Write([]byte{1, 2, 3, 0})
	mw.Close()
	hdr := http.Header{"Webhook-Id": {"state_1"}}
	status, first, _, raw := call(t, p.base, "/api/v3/webhook.receive", wh.UUID, mw.FormDataContentType(), mp.Bytes(), hdr)
	if status != http.StatusOK {
		t.Fatalf("call: %d %s", status, raw)
	}
	_, again, _, _ := call(t, p.base, "/api/v3/webhook.receive", wh.UUID, mw.FormDataContentType(), mp.Bytes(), hdr)
	if !again.Duplicate || again.ID != first.ID {
		t.Errorf("repeated webhook-id: %+v, first %+v", again, first)
	}
	_, marker, _, _ := call(t, p.base, "/api/v3/webhook.receive", wh.UUID, "text/plain", []byte("marker"), nil)
	waitCalls(t, r, p, first.ID, marker.ID)
	got, _ := inboundItems(t, r)
	if len(got[first.ID].Data.Files) != 1 {
		t.Fatalf("item: %+v", got[first.ID])
	}
	if code, _, b := download(t, p.base, got[first.ID].Data.Files[0].URL, e2eToken); code != http.StatusOK || !bytes.Equal(b, []byte{1, 2, 3, 0}) {
		t.Errorf("download: %d %v", code, b)
	}
	n := 0
	for _, ev := range r.events() {
		if ev.head.Entity == "Inbound" && strings.Contains(string(ev.raw), `"webhook-id":"state_1"`) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the call with webhook-id state_1 raised %d events, want 1", n)
	}
	r.checkNoProblems(t)
}
