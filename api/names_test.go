package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestWebhookNames: name is optional on create and PATCH, returned on every read, unique
// among the live webhooks of a space (409 naming the field name), free again once its
// webhook is deleted, and the same name may be used in another space.
func TestWebhookNames(t *testing.T) {
	e := newEnv(t, nil)
	nameOf := func(r response) any {
		t.Helper()
		var v struct {
			Name any `json:"name"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil || !strings.Contains(string(r.Data), `"name":`) {
			t.Fatalf("no name in %s (%v)", r.Raw, err)
		}
		return v.Name
	}
	sales, support := spacePath("sales"), spacePath("support")
	created := e.do(t, "POST", sales, `{"name": "orders-won", "url": "https://hooks.example.com/a", "events": ["Opportunity.Won"]}`)
	if created.Status != http.StatusOK || nameOf(created) != "orders-won" {
		t.Fatalf("create with a name: %d %s", created.Status, created.Raw)
	}
	id := created.webhook(t).ID
	if r := e.do(t, "GET", sales+"/"+id, ""); nameOf(r) != "orders-won" {
		t.Errorf("GET: name %v, want orders-won", nameOf(r))
	}
	if r := e.do(t, "GET", sales, ""); !strings.Contains(string(r.Data), `"name":"orders-won"`) {
		t.Errorf("list lacks the name: %s", r.Raw)
	}
	unnamed := e.do(t, "POST", sales, `{"url": "https://hooks.example.com/b", "events": ["Account.*"]}`)
	if unnamed.Status != http.StatusOK || nameOf(unnamed) != nil {
		t.Fatalf("create without a name: %d %s, want name null", unnamed.Status, unnamed.Raw)
	}

	dup := e.do(t, "POST", sales, `{"name": "orders-won", "url": "https://hooks.example.com/c", "events": ["*"]}`)
	if dup.Status != http.StatusConflict || dup.Field != "name" || !strings.Contains(dup.Message, `"orders-won"`) {
		t.Errorf("duplicate name on create: %d %s, want 409 naming the field name and the value", dup.Status, dup.Raw)
	}
	patchDup := e.do(t, "PATCH", sales+"/"+unnamed.webhook(t).ID, `{"name": "orders-won"}`)
	if patchDup.Status != http.StatusConflict || patchDup.Field != "name" {
		t.Errorf("duplicate name on PATCH: %d %s, want 409 naming name", patchDup.Status, patchDup.Raw)
	}
	if r := e.do(t, "POST", support, `{"name": "orders-won", "url": "https://hooks.example.com/d", "events": ["*"]}`); r.Status != http.StatusOK {
		t.Errorf("the same name in another space: %d %s, want 200", r.Status, r.Raw)
	}
	for _, bad := range []string{`"a\u0007b"`, `" padded"`, `"` + strings.Repeat("n", 256) + `"`, `42`} {
		if r := e.do(t, "POST", sales, `{"name": `+bad+`, "url": "https://hooks.example.com/e", "events": ["*"]}`); r.Status != http.StatusUnprocessableEntity || r.Field != "name" {
			t.Errorf("name %s: %d %s, want 422 naming name", bad, r.Status, r.Raw)
		}
	}

	if r := e.do(t, "PATCH", sales+"/"+id, `{"name": null}`); r.Status != http.StatusOK || nameOf(r) != nil {
		t.Errorf("PATCH name null: %d %s, want the name removed", r.Status, r.Raw)
	}
	if r := e.do(t, "PATCH", sales+"/"+unnamed.webhook(t).ID, `{"name": "orders-won"}`); r.Status != http.StatusOK || nameOf(r) != "orders-won" {
		t.Errorf("PATCH to a freed name: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "DELETE", sales+"/"+unnamed.webhook(t).ID, ""); r.Status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "POST", sales, `{"name": "orders-won", "url": "https://hooks.example.com/f", "events": ["*"]}`); r.Status != http.StatusOK {
		t.Errorf("the name of a deleted webhook: %d %s, want 200 (free again)", r.Status, r.Raw)
	}
}
