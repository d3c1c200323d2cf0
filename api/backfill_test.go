package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/walhook/walhook/backfill"
)

// withBackfills serves the env's API again with a backfill service on its database.
func (e *env) withBackfills(tb testing.TB) {
	tb.Helper()
	cfg := e.api.cfg
	cfg.Backfills = backfill.New(backfill.Config{DB: e.pool, Mapping: e.m})
	e.api = New(cfg)
	e.srv = httptest.NewServer(e.api.Handler())
	tb.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
}

// TestBackfillEndpoints: start, progress, a second start refused while one runs, cancel;
// every bad request answered with the field it is about.
func TestBackfillEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	id := e.do(t, "POST", collection, `{"url": "https://example.com/a", "events": ["*"]}`).webhook(t).ID
	path := collection + "/" + id + "/backfill"
	if r := e.do(t, "POST", path, `{"entities": ["Task"]}`); r.Status != 501 {
		t.Errorf("without a backfill service: %d %s, want 501", r.Status, r.Raw)
	}
	e.withBackfills(t)

	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{`, 400, ""},
		{`{}`, 422, "entities"},
		{`{"entities": []}`, 422, "entities"},
		{`{"entities": "Task"}`, 422, "entities"},
		{`{"entities": ["Nope"]}`, 422, "entities[0]"},
		{`{"entities": ["Task", "Task"]}`, 422, "entities[1]"},
		{`{"entities": ["Task"], "filter": {"Task": {"filter": {"nosuch": 1}}}}`, 422, "filter.Task.filter.nosuch"},
		{`{"entities": ["Task"], "filter": {"Task": {"filter": {"status": "x"}, "filter-op": {"status": "near"}}}}`, 422, "filter.Task.filter-op.status"},
		{`{"entities": ["Task"], "filter": {"Account": {"filter": {"name": "x"}}}}`, 422, "filter.Account"},
		{`{"entities": ["Task"], "filter": {"Task": {"expand": ["owner"]}}}`, 422, "filter.Task"},
		{`{"entities": ["Task"], "filter": [1]}`, 422, "filter"},
		{`{"entities": ["Task"], "rate": 0}`, 422, "rate"},
		{`{"entities": ["Task"], "rate": 1000000}`, 422, "rate"},
		{`{"entities": ["Task"], "rate": "fast"}`, 422, "rate"},
		{`{"entities": ["Task"], "speed": 1}`, 422, "speed"},
	} {
		r := e.do(t, "POST", path, tc.body)
		if r.Status != tc.status || r.Field != tc.field {
			t.Errorf("POST %s: %d field %q (%s), want %d field %q", tc.body, r.Status, r.Field, r.Message, tc.status, tc.field)
		}
	}
	if r := e.do(t, "GET", path, ""); r.Status != 404 {
		t.Errorf("GET before any backfill: %d %s, want 404", r.Status, r.Raw)
	}
	if r := e.do(t, "POST", collection+"/00000000-0000-4000-8000-000000000000/backfill", `{"entities": ["Task"]}`); r.Status != 404 {
		t.Errorf("POST for an unknown webhook: %d, want 404", r.Status)
	}

	r := e.do(t, "POST", path, `{"entities": ["Task", "Opportunity"], "filter": {"Task": {"filter": {"status": "Planned"}}}, "rate": 50}`)
	var b backfill.Backfill
	if r.Status != 202 || json.Unmarshal(r.Data, &b) != nil || b.State != "running" || b.WebhookID != id || b.Rate != 50 ||
		len(b.Entities) != 2 || string(b.Filter) != `{"Task":{"filter":{"status":"Planned"}}}` {
		t.Fatalf("POST backfill: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "POST", path, `{"entities": ["Task"]}`); r.Status != 409 {
		t.Errorf("a second backfill while one runs: %d %s, want 409", r.Status, r.Raw)
	}
	var got backfill.Backfill
	if r := e.do(t, "GET", path, ""); r.Status != 200 || json.Unmarshal(r.Data, &got) != nil || got.ID != b.ID || got.State != "running" {
		t.Errorf("GET backfill: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "DELETE", path, ""); r.Status != 200 || json.Unmarshal(r.Data, &got) != nil || got.State != "cancelled" || got.Finished == nil {
		t.Errorf("DELETE backfill: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "DELETE", path, ""); r.Status != 404 {
		t.Errorf("DELETE with none running: %d %s, want 404", r.Status, r.Raw)
	}
	if r := e.do(t, "POST", path, `{"entities": ["Task"]}`); r.Status != 202 {
		t.Errorf("a new backfill after a cancel: %d %s, want 202", r.Status, r.Raw)
	}
}
