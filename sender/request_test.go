package sender

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/matcher"
)

func TestDeliveryIDIsStable(t *testing.T) {
	a := deliveryID("wh", "0000000000000010-1-Account.Create", "0000000000000010-9-Account.Create")
	b := deliveryID("wh", "0000000000000010-1-Account.Create", "0000000000000010-9-Account.Create")
	c := deliveryID("wh", "0000000000000010-1-Account.Create", "0000000000000010-8-Account.Create")
	d := deliveryID("other", "0000000000000010-1-Account.Create", "0000000000000010-9-Account.Create")
	if a != b || a == c || a == d || a.Version() != 5 {
		t.Errorf("delivery ids %s %s %s %s: want equal for the same chunk, different otherwise, version 5", a, b, c, d)
	}
}

// TestRequestGolden pins a request's body and headers (testdata/request.golden; the
// README quotes it). Regenerate with WALHOOK_UPDATE_GOLDEN=1.
func TestRequestGolden(t *testing.T) {
	var g gen
	evs, _ := g.txn(2, oneEach)
	wh := &matcher.Webhook{ID: "0198c0de-0000-7000-8000-000000000001", URL: "https://example.com/hook",
		Signature: "01234567-abcd-dcba-ffff-000000000000", HTTPAuthUser: "u", HTTPAuthPassword: "p"}
	items, _ := itemRenderer{}.Render(context.Background(), matcher.Subscription{}, evs)
	id := deliveryID(wh.ID, evs[0].ID, evs[1].ID)
	body := pipelinerChunk{}.appendBody(nil, wh.ID, id, items)
	if !json.Valid(body) {
		t.Fatalf("body is not JSON: %s", body)
	}
	req, err := newRequest(context.Background(), wh, id.String(), body, time.Unix(1767322800, 0), "walhook/1.0.0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.WriteString("POST /hook HTTP/1.1\n")
	for _, k := range []string{"Content-Type", "User-Agent", "Authorization", "Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		out.WriteString(k + ": " + req.Header.Get(k) + "\n")
	}
	out.WriteString("\n" + string(body) + "\n")
	checkGolden(t, "request.golden", out.String())

	wh.Signing = matcher.SigningStandardWebhooks
	req, _ = newRequest(context.Background(), wh, id.String(), body, time.Unix(1767322800, 0), "walhook/1.0.0", time.Hour)
	if got := req.Header.Get("Webhook-Signature"); !strings.HasPrefix(got, "v1,") {
		t.Errorf("standard-webhooks signature %q", got)
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("WALHOOK_UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (WALHOOK_UPDATE_GOLDEN=1 writes it): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs:\n got: %s\nwant: %s", path, got, want)
	}
}

// TestRotationAndStaticHeaders: within the grace after a signature change the previous key
// signs too (WebHook-Signature-Previous in Pipeliner mode, a second signature in Standard
// Webhooks mode); after it, only the new one. Static headers are sent.
func TestRotationAndStaticHeaders(t *testing.T) {
	const newKey, oldKey = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	body := []byte(`{"items":[]}`)
	rotated := time.Unix(1767322800, 0)
	wh := &matcher.Webhook{ID: "w", URL: "https://example.com/hook", Signature: newKey, PreviousSignature: oldKey,
		SignatureRotatedAt: &rotated, Headers: map[string]string{"X-Receiver-Token": "Bearer abc"}}
	within, after := rotated.Add(time.Hour), rotated.Add(25*time.Hour)

	req, err := newRequest(context.Background(), wh, "d", body, within, "walhook/test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := req.Header.Get("WebHook-Signature"), signPipeliner(newKey, body); got != want {
		t.Errorf("WebHook-Signature = %q, want the new key's %q", got, want)
	}
	if got, want := req.Header.Get("WebHook-Signature-Previous"), signPipeliner(oldKey, body); got != want {
		t.Errorf("WebHook-Signature-Previous = %q, want the old key's %q", got, want)
	}
	if got := req.Header.Get("X-Receiver-Token"); got != "Bearer abc" {
		t.Errorf("static header X-Receiver-Token = %q", got)
	}
	req, _ = newRequest(context.Background(), wh, "d", body, after, "walhook/test", 24*time.Hour)
	if got := req.Header.Get("WebHook-Signature-Previous"); got != "" {
		t.Errorf("after the grace WebHook-Signature-Previous = %q, want none", got)
	}

	wh.Signing = matcher.SigningStandardWebhooks
	req, _ = newRequest(context.Background(), wh, "d", body, within, "walhook/test", 24*time.Hour)
	want := signStandard(newKey, "d", within.Unix(), body) + " " + signStandard(oldKey, "d", within.Unix(), body)
	if got := req.Header.Get("Webhook-Signature"); got != want {
		t.Errorf("standard-webhooks signatures within the grace = %q, want %q", got, want)
	}
	req, _ = newRequest(context.Background(), wh, "d", body, after, "walhook/test", 24*time.Hour)
	if got := req.Header.Get("Webhook-Signature"); strings.Contains(got, " ") {
		t.Errorf("standard-webhooks signatures after the grace = %q, want one", got)
	}
}
