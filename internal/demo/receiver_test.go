package demo

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReceiverVerifiesAndPrints(t *testing.T) {
	var out bytes.Buffer
	rc := &Receiver{Secret: "01234567-abcd-dcba-ffff-000000000000", Out: &out}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	body := []byte(`{"webhook_id":"w","delivery_id":"d1","items":[{"id":"1","event":"Account.Create","entity":"Account","entity_id":"a1"}]}`)
	// Computed independently: printf '%s' "$body" | openssl dgst -sha256 -hmac <secret>.
	const good = "9f5b9279f4fee96522ed84161be5bfeb4a6242f1fbe764d0252daec5fee1c647"
	const bad = "0f5b9279f4fee96522ed84161be5bfeb4a6242f1fbe764d0252daec5fee1c647"
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
		req.Header.Set("WebHook-Signature", sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(good); code != http.StatusNoContent {
		t.Fatalf("good signature: status %d", code)
	}
	if code := post(bad); code != http.StatusUnauthorized {
		t.Fatalf("wrong signature: status %d", code)
	}
	if d, items, rej := rc.Counts(); d != 1 || items != 1 || rej != 1 {
		t.Errorf("counts %d/%d/%d, want 1/1/1", d, items, rej)
	}
	if !strings.Contains(out.String(), "Account.Create") || !strings.Contains(out.String(), "REJECTED") {
		t.Errorf("output:\n%s", out.String())
	}
}
