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
	req, err := newRequest(context.Background(), wh, id.String(), body, time.Unix(1767322800, 0), "walhook/1.0.0")
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
	req, _ = newRequest(context.Background(), wh, id.String(), body, time.Unix(1767322800, 0), "walhook/1.0.0")
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
