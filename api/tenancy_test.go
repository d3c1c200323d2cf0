package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/matcher"
)

func spacePath(space string) string {
	return "/api/v100/rest/spaces/" + space + "/entities/Webhooks"
}

// TestSpacesAreEnforced: a webhook belongs to the space it was created in; other spaces
// neither list nor read, change or delete it, and a token limited to spaces is refused
// elsewhere with a 403 naming space_id.
func TestSpacesAreEnforced(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Tokens = append(c.Tokens, "narrow@sales|support") })
	created := e.do(t, "POST", spacePath("sales"), `{"url": "https://hooks.example.com/a", "events": ["Account.*"]}`)
	if created.Status != http.StatusOK {
		t.Fatalf("create: %d %s", created.Status, created.Raw)
	}
	id := created.webhook(t).ID
	if !strings.Contains(string(created.Data), `"space_id":"sales"`) {
		t.Errorf("create response lacks space_id sales: %s", created.Data)
	}
	for _, c := range []struct{ method, path, body string }{
		{"GET", spacePath("marketing") + "/" + id, ""},
		{"PATCH", spacePath("marketing") + "/" + id, `{"url": "https://hooks.example.com/b"}`},
		{"DELETE", spacePath("marketing") + "/" + id, ""},
		{"POST", spacePath("marketing") + "/" + id + "/pause", ""},
		{"GET", spacePath("marketing") + "/" + id + "/secret", ""},
	} {
		if r := e.do(t, c.method, c.path, c.body); r.Status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", c.method, c.path, r.Status, r.Raw)
		}
	}
	if r := e.do(t, "GET", spacePath("marketing"), ""); r.Total != 0 {
		t.Errorf("marketing lists %d webhooks, want 0: %s", r.Total, r.Raw)
	}
	if r := e.do(t, "GET", spacePath("sales"), ""); r.Total != 1 {
		t.Errorf("sales lists %d webhooks, want 1: %s", r.Total, r.Raw)
	}
	if r := e.do(t, "GET", spacePath("sales")+"/"+id, ""); r.Status != http.StatusOK {
		t.Errorf("GET in its own space: %d %s", r.Status, r.Raw)
	}

	narrow := "Bearer narrow"
	if r := e.doAuth(t, "GET", spacePath("sales")+"/"+id, "", narrow); r.Status != http.StatusOK {
		t.Errorf("limited token in its space: %d %s", r.Status, r.Raw)
	}
	r := e.doAuth(t, "GET", spacePath("marketing"), "", narrow)
	if r.Status != http.StatusForbidden || r.Field != "space_id" || !strings.Contains(r.Message, "marketing") {
		t.Errorf("limited token in another space: %d %s, want 403 naming space_id", r.Status, r.Raw)
	}
	if r := e.doAuth(t, "GET", spacePath("marketing"), "", "Bearer narrow@sales"); r.Status != http.StatusUnauthorized {
		t.Errorf("the token's spelling in the config is not a token: %d", r.Status)
	}

	// A webhook stored before spaces were (no space) is visible in every space, to
	// unrestricted tokens only.
	legacy, err := e.store.Create(context.Background(), &matcher.Webhook{URL: "https://hooks.example.com/old", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do(t, "GET", spacePath("marketing")+"/"+legacy.ID, ""); r.Status != http.StatusOK {
		t.Errorf("legacy webhook with an unrestricted token: %d %s", r.Status, r.Raw)
	}
	if r := e.doAuth(t, "GET", spacePath("sales")+"/"+legacy.ID, "", narrow); r.Status != http.StatusNotFound {
		t.Errorf("legacy webhook with a space-limited token: %d %s, want 404", r.Status, r.Raw)
	}
	if r := e.doAuth(t, "GET", spacePath("sales"), "", narrow); r.Total != 1 {
		t.Errorf("a space-limited token lists %d webhooks in sales, want 1 (not the legacy one): %s", r.Total, r.Raw)
	}
}

// TestHeadersAndTimeout: static headers and a timeout are stored, shown masked, kept by a
// PATCH that sends the mask back, and validated with messages naming the field.
func TestHeadersAndTimeout(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", collection, `{"url": "https://hooks.example.com/a", "events": ["Account.*"],
		"headers": {"X-Receiver-Token": "Bearer s3cret", "X-Tenant": "acme"}, "timeout": 2.5}`)
	if r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if !strings.Contains(string(r.Data), `"headers":{"X-Receiver-Token":"********","X-Tenant":"********"},"timeout":2.5`) {
		t.Errorf("headers not masked or timeout missing: %s", r.Data)
	}
	id := r.webhook(t).ID
	r = e.do(t, "PATCH", collection+"/"+id, `{"headers": {"X-Receiver-Token": "********", "X-Tenant": "globex"}}`)
	if r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Raw)
	}
	wh, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if wh.Headers["X-Receiver-Token"] != "Bearer s3cret" || wh.Headers["X-Tenant"] != "globex" || wh.Timeout.Seconds() != 2.5 {
		t.Errorf("stored headers %v, timeout %s", wh.Headers, wh.Timeout)
	}
	for _, c := range []struct{ body, field, want string }{
		{`"headers": {"Authorization": "Bearer x"}`, "headers.Authorization", "cannot be replaced"},
		{`"headers": {"webhook-id": "x"}`, "headers.webhook-id", "set by walhook"},
		{`"headers": {"Bad Name": "x"}`, "headers.Bad Name", "not a valid header name"},
		{`"headers": {"X-A": "a\nb"}`, "headers.X-A", "line breaks"},
		{`"headers": {"X-A": 1}`, "headers", "object of strings"},
		{`"timeout": 0.5`, "timeout", "from 1 to 60"},
		{`"timeout": 600`, "timeout", "WALHOOK_MAX_WEBHOOK_TIMEOUT"},
	} {
		body := fmt.Sprintf(`{"url": "https://hooks.example.com/a", "events": ["Account.*"], %s}`, c.body)
		r := e.do(t, "POST", collection, body)
		if r.Status != http.StatusUnprocessableEntity || r.Field != c.field || !strings.Contains(r.Message, c.want) {
			t.Errorf("%s: %d field %q %q, want 422 field %q mentioning %q", c.body, r.Status, r.Field, r.Message, c.field, c.want)
		}
	}
}

// TestSecretsSealedAtRest: with a key the stored columns hold only sealed values, the API
// reads them back in clear, and a PATCH of the signature keeps the old one for rotation.
func TestSecretsSealedAtRest(t *testing.T) {
	s, err := seal.New("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) {
		c.Store = c.Store.(*matcher.Store).SealSecrets(s)
	})
	const sig, sig2 = "5ea1ed00-0000-4000-8000-000000005ea1", "5ea1ed00-0000-4000-8000-000000005ea2"
	r := e.do(t, "POST", collection, `{"url": "https://hooks.example.com/a", "events": ["Account.*"], "signature": "`+sig+`",
		"http_auth_user": "u", "http_auth_password": "hunter2", "headers": {"X-Token": "t0ken"}}`)
	if r.Status != http.StatusOK {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	id := r.webhook(t).ID
	if r := e.do(t, "PATCH", collection+"/"+id, `{"signature": "`+sig2+`"}`); r.Status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.Status, r.Raw)
	}
	var signature, previous, password, headers string
	err = e.pool.QueryRow(context.Background(), `SELECT signature, previous_signature, http_auth_password, headers
		FROM walhook.webhooks WHERE id = $1`, id).Scan(&signature, &previous, &password, &headers)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"signature": signature, "previous_signature": previous, "http_auth_password": password, "headers": headers} {
		if !strings.HasPrefix(v, seal.Prefix) || strings.Contains(v, "5ea1ed00") || strings.Contains(v, "hunter2") || strings.Contains(v, "t0ken") {
			t.Errorf("column %s holds %q, want a sealed value", name, v)
		}
	}
	sec := e.do(t, "GET", collection+"/"+id+"/secret", "")
	if !strings.Contains(string(sec.Data), sig2) {
		t.Errorf("GET …/secret: %s, want the new signature in clear", sec.Raw)
	}
	wh, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if wh.PreviousSignature != sig || wh.SignatureRotatedAt == nil || wh.HTTPAuthPassword != "hunter2" || wh.Headers["X-Token"] != "t0ken" {
		t.Errorf("read back: previous %q rotated %v password %q headers %v", wh.PreviousSignature, wh.SignatureRotatedAt, wh.HTTPAuthPassword, wh.Headers)
	}
	// Without the key the sealed values cannot be read, and the error names the fix.
	if _, err := matcher.NewStore(e.pool).Get(context.Background(), id); err == nil || !strings.Contains(err.Error(), "WALHOOK_SECRET_KEY") {
		t.Errorf("store without the key: %v, want an error naming WALHOOK_SECRET_KEY", err)
	}
}
