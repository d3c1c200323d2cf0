package main

// Helpers of the inbound webhook tests (inbound_e2e_test.go): commands, calls and what the
// receivers got of them.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/testwait"
)

var httpClient = &http.Client{Timeout: 30 * time.Second}

// inboundCommand runs an inbound command with query parameters and, when body is not nil, a
// JSON body; it returns the status and the answer.
func inboundCommand(tb testing.TB, base, name string, query url.Values, body any) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := base + "/api/v3/command/" + name
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, u, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// inboundWebhook is webhook.put's answer.
type inboundWebhook struct {
	UUID       string `json:"uuid"`
	EventKey   string `json:"eventKey"`
	WebhookURL string `json:"webhookUrl"`
	Created    string `json:"created"`
}

// putInbound creates an inbound webhook for key with webhook.put's query parameters.
func putInbound(tb testing.TB, base, key string, extra map[string]any) inboundWebhook {
	tb.Helper()
	var body any
	if extra != nil {
		body = extra
	}
	status, b := inboundCommand(tb, base, "webhook.put", url.Values{"eventKey": {key}}, body)
	var wh inboundWebhook
	if status != http.StatusOK || json.Unmarshal(b, &wh) != nil || wh.UUID == "" || wh.EventKey != key || wh.Created == "" ||
		!strings.HasSuffix(wh.WebhookURL, "/api/v3/webhook.receive?uuid="+wh.UUID) {
		tb.Fatalf("webhook.put eventKey=%s: %d %s", key, status, b)
	}
	return wh
}

// callAnswer is a receive call's answer.
type callAnswer struct {
	ID        string `json:"id"`
	UUID      string `json:"uuid"`
	Duplicate bool   `json:"duplicate"`
}

// call posts body to the receive URL of uuid (path: one of the two spellings) and returns
// the status, the answer and the response headers.
func call(tb testing.TB, base, path, uuid, contentType string, body []byte, header http.Header) (int, callAnswer, http.Header, []byte) {
	tb.Helper()
	status, ans, h, raw, err := tryCall(base, path, uuid, contentType, body, header)
	if err != nil {
		tb.Fatalf("call %s: %v", uuid, err)
	}
	return status, ans, h, raw
}

func tryCall(base, path, uuid, contentType string, body []byte, header http.Header) (int, callAnswer, http.Header, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, base+path+"?uuid="+uuid+"&source=test", bytes.NewReader(body))
	if err != nil {
		return 0, callAnswer{}, nil, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, callAnswer{}, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, callAnswer{}, nil, nil, err
	}
	var ans callAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &ans); err != nil || ans.ID == "" {
			return 0, callAnswer{}, nil, nil, fmt.Errorf("answer %s: %v", raw, err)
		}
	}
	return resp.StatusCode, ans, resp.Header, raw, nil
}

// inboundItem is a delivered item of an inbound event.
type inboundItem struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Entity   string `json:"entity"`
	EntityID string `json:"entity_id"`
	Data     struct {
		UUID        string            `json:"uuid"`
		EventKey    string            `json:"eventKey"`
		ReceivedAt  string            `json:"received_at"`
		Method      string            `json:"method"`
		ContentType string            `json:"content_type"`
		Headers     map[string]string `json:"headers"`
		Query       map[string]any    `json:"query"`
		Body        json.RawMessage   `json:"body"`
		Files       []struct {
			Field       string `json:"field"`
			Filename    string `json:"filename"`
			ContentType string `json:"content_type"`
			Size        int    `json:"size"`
			SHA256      string `json:"sha256"`
			URL         string `json:"url"`
		} `json:"files"`
	} `json:"data"`
}

// inboundItems returns r's inbound items by entity id (the call id), and the call ids in
// order of first receipt.
func inboundItems(tb testing.TB, r *receiver) (map[string]inboundItem, []string) {
	tb.Helper()
	byCall := map[string]inboundItem{}
	var order []string
	for _, ev := range r.events() {
		if ev.head.Entity != "Inbound" {
			continue
		}
		var it inboundItem
		if err := json.Unmarshal(ev.raw, &it); err != nil {
			tb.Fatalf("inbound item %s: %v", ev.raw, err)
		}
		if _, ok := byCall[it.EntityID]; !ok {
			order = append(order, it.EntityID)
		}
		byCall[it.EntityID] = it
	}
	return byCall, order
}

// waitCalls waits until r has items for every call id.
func waitCalls(tb testing.TB, r *receiver, p *walhookProc, ids ...string) {
	tb.Helper()
	testwait.Until(tb, time.Minute, fmt.Sprintf("%d inbound calls at %s", len(ids), r.srv.URL), func() (bool, string, error) {
		if p != nil {
			if err := p.checkRunning(); err != nil {
				return false, "", err
			}
		}
		got, _ := inboundItems(tb, r)
		var missing []string
		for _, id := range ids {
			if _, ok := got[id]; !ok {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d missing, e.g. %q", len(missing), len(ids), missing[:min(3, len(missing))]), nil
	})
}

// waitInboundSubscribed sends probe calls to uuid until every receiver got one: then the
// matcher has loaded their webhooks.
func waitInboundSubscribed(tb testing.TB, p *walhookProc, uuid string, rs ...*receiver) {
	tb.Helper()
	n := 0
	testwait.Until(tb, 30*time.Second, "the inbound subscriptions to take effect", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		all := true
		for _, r := range rs {
			got, _ := inboundItems(tb, r)
			all = all && len(got) > 0
		}
		if all {
			return true, "", nil
		}
		n++
		if status, _, _, raw := call(tb, p.base, "/api/v3/webhook.receive", uuid, "application/json", []byte(`{"probe":true}`), nil); status != http.StatusOK {
			return false, "", fmt.Errorf("probe call: %d %s", status, raw)
		}
		return false, fmt.Sprintf("%d probe calls made", n), nil
	})
}

// download fetches a file URL (a path, without WALHOOK_PUBLIC_URL) from base.
func download(tb testing.TB, base, fileURL, token string) (int, string, []byte) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, base+fileURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", fileURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}
