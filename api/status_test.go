package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestSignatureMaskedAfterCreate checks DESIGN.md §15: the signature is shown in full only
// in the create response; GET, list and PATCH show it masked, GET …/{id}/secret reads it,
// and the masked form sent back in a PATCH keeps the stored key.
func TestSignatureMaskedAfterCreate(t *testing.T) {
	e := newEnv(t, nil)
	const sig = "fedcba98-7654-3210-fedc-ba9876543210"
	const masked = "fedc…"
	r := e.do(t, "POST", collection, `{"url": "https://example.com/a", "events": ["*"], "signature": "`+sig+`"}`)
	if r.Status != 200 {
		t.Fatalf("create: %s", r.Raw)
	}
	created := r.webhook(t)
	if created.Signature == nil || *created.Signature != sig {
		t.Errorf("create response signature %v, want it in full", created.Signature)
	}
	path := collection + "/" + created.ID
	check := func(what string, r response, v view) {
		t.Helper()
		if r.Status != 200 || v.Signature == nil || *v.Signature != masked || strings.Contains(string(r.Raw), sig) {
			t.Errorf("%s: status %d, signature %v, want %q and the key nowhere: %s", what, r.Status, v.Signature, masked, r.Raw)
		}
	}
	r = e.do(t, "GET", path, "")
	check("GET", r, r.webhook(t))
	r = e.do(t, "GET", collection, "")
	var list []view
	if err := json.Unmarshal(r.Data, &list); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %s", err, r.Raw)
	}
	check("list", r, list[0])
	// The masked form sent back (as a client echoing a GET would) keeps the key.
	r = e.do(t, "PATCH", path, `{"events": ["Account.*"], "signature": "`+masked+`"}`)
	check("PATCH", r, r.webhook(t))
	if stored, err := e.store.Get(t.Context(), created.ID); err != nil || stored.Signature != sig {
		t.Errorf("stored signature after PATCH with the mask: %q, %v", stored.Signature, err)
	}
	for _, p := range []string{path, collection + "/" + created.ID} {
		r = e.do(t, "GET", p+"/secret", "")
		var data struct {
			Signature *string `json:"signature"`
		}
		if err := json.Unmarshal(r.Data, &data); r.Status != 200 || !r.Success || err != nil || data.Signature == nil || *data.Signature != sig {
			t.Errorf("GET /secret: %d %s", r.Status, r.Raw)
		}
	}
	if r := e.doAuth(t, "GET", path+"/secret", "", ""); r.Status != 401 || strings.Contains(string(r.Raw), sig) {
		t.Errorf("GET /secret without a token: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", collection+"/01234567-abcd-dcba-ffff-000000000000/secret", ""); r.Status != 404 {
		t.Errorf("GET /secret of an unknown webhook: %d %s", r.Status, r.Raw)
	}
	// A changed key is masked too; an unsigned webhook's secret is null.
	const sig2 = "01234567-89ab-cdef-0123-456789abcdef"
	r = e.do(t, "PATCH", path, `{"signature": "`+sig2+`"}`)
	if v := r.webhook(t); v.Signature == nil || *v.Signature != "0123…" || strings.Contains(string(r.Raw), sig2) {
		t.Errorf("PATCH with a new signature: %s", r.Raw)
	}
	e.do(t, "PATCH", path, `{"signature": null}`)
	if r := e.do(t, "GET", path+"/secret", ""); r.Status != 200 || string(r.Data) != `{"signature":null}` {
		t.Errorf("GET /secret of an unsigned webhook: %d %s", r.Status, r.Raw)
	}
}

// TestPauseResumeAndStatus checks the status fields of every webhook response and the
// pause and resume routes (DESIGN.md §14), including resume of a webhook the sender
// disabled and the PATCH "disabled_at": null alias.
func TestPauseResumeAndStatus(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", collection, `{"url": "https://example.com/a", "events": ["*"]}`)
	created := r.webhook(t)
	if created.Status != "active" || created.DisabledAt != nil || created.DisabledReason != nil || !strings.Contains(string(r.Raw), `"disabled_reason":null`) {
		t.Fatalf("create: %s", r.Raw)
	}
	path := collection + "/" + created.ID
	want := func(what string, r response, status string, reason *string) {
		t.Helper()
		v := r.webhook(t)
		gotReason := ""
		if v.DisabledReason != nil {
			gotReason = *v.DisabledReason
		}
		wantReason := ""
		if reason != nil {
			wantReason = *reason
		}
		if r.Status != 200 || v.Status != status || gotReason != wantReason || (v.DisabledReason == nil) != (reason == nil) ||
			(v.DisabledAt == nil) != (status != "disabled") {
			t.Errorf("%s: %d status %q reason %v disabled_at %v; want %s, reason %v: %s", what, r.Status, v.Status,
				v.DisabledReason, v.DisabledAt, status, reason, r.Raw)
		}
	}
	want("pause", e.do(t, "POST", path+"/pause", ""), "paused", nil)
	want("pause again", e.do(t, "POST", path+"/pause", ""), "paused", nil)
	want("GET paused", e.do(t, "GET", path, ""), "paused", nil)
	want("PATCH paused", e.do(t, "PATCH", path, `{"events": ["Account.*"]}`), "paused", nil)
	want("resume", e.do(t, "POST", path+"/resume", ""), "active", nil)

	reason := "endpoint answered 410 Gone"
	if changed, err := e.store.Disable(t.Context(), created.ID, reason); err != nil || !changed {
		t.Fatalf("disable: %t, %v", changed, err)
	}
	want("GET disabled", e.do(t, "GET", path, ""), "disabled", &reason)
	want("pause disabled", e.do(t, "POST", path+"/pause", ""), "disabled", &reason)
	want("resume disabled", e.do(t, "POST", path+"/resume", ""), "active", nil)
	e.store.Disable(t.Context(), created.ID, reason)
	want("PATCH disabled_at null", e.do(t, "PATCH", path, `{"disabled_at": null}`), "active", nil)

	for _, body := range []string{`{"status": "paused"}`, `{"disabled_reason": "x"}`} {
		if r := e.do(t, "PATCH", path, body); r.Status != 422 || !strings.Contains(r.Message, "resume") {
			t.Errorf("PATCH %s: %d %s", body, r.Status, r.Raw)
		}
	}
	for _, op := range []string{"pause", "resume"} {
		if r := e.do(t, "POST", collection+"/01234567-abcd-dcba-ffff-000000000000/"+op, ""); r.Status != 404 {
			t.Errorf("%s of an unknown webhook: %d %s", op, r.Status, r.Raw)
		}
		if r := e.doAuth(t, "POST", path+"/"+op, "", ""); r.Status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", op, r.Status)
		}
		if r := e.do(t, "GET", path+"/"+op, ""); r.Status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d", op, r.Status)
		}
	}
}
