package api

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var testOutcomes = []string{"delivered", "http_error", "timeout", "connection_error", "blocked"}

// TestDeliverySearchParams checks that the search parameters of GET …/{id}/deliveries
// reach the delivery log parsed, and that a malformed one is a 400 naming it.
func TestDeliverySearchParams(t *testing.T) {
	log := &fakeLog{}
	e := newEnv(t, func(c *Config) { c.Deliveries, c.Outcomes = log, testOutcomes })
	id := e.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"]}`).webhook(t).ID
	path := collection + "/" + id + "/deliveries?"
	since := time.Date(2026, 11, 30, 14, 17, 0, 0, time.UTC)
	for query, want := range map[string]DeliveryFilter{
		"": {},
		"event_id=0000000001000000-1-Account.Update": {EventID: "0000000001000000-1-Account.Update"},
		"entity_id=42":                      {EntityID: "42"},
		"entity=Account&entity_id=42":       {Entity: "Account", EntityID: "42"},
		"status=http_error":                 {Outcome: "http_error"},
		"status=503":                        {Status: 503},
		"since=2026-11-30T15:17:00%2B01:00": {Since: since},
		"since=2026-11-30T14:17:00Z&status=delivered&entity_id=a%2Fb&limit=5": {Since: since, Outcome: "delivered", EntityID: "a/b"},
	} {
		log.filters = nil
		r := e.do(t, "GET", path+query, "")
		if r.Status != 200 || len(log.filters) != 1 {
			t.Errorf("%s: %d %s", query, r.Status, r.Raw)
			continue
		}
		got := log.filters[0]
		if !got.Since.Equal(want.Since) {
			t.Errorf("%s: since %v, want %v", query, got.Since, want.Since)
		}
		got.Since, want.Since = time.Time{}, time.Time{}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: filter (-want +got):\n%s", query, diff)
		}
	}
	for query, field := range map[string]string{
		"status=teapot":                        "status",
		"status=700":                           "status",
		"status=99":                            "status",
		"status=":                              "status",
		"since=yesterday":                      "since",
		"since=2026-11-30":                     "since",
		"event_id=":                            "event_id",
		"entity_id=":                           "entity_id",
		"entity=Account":                       "entity",
		"event_id=" + strings.Repeat("x", 513): "event_id",
	} {
		log.filters = nil
		r := e.do(t, "GET", path+query, "")
		if r.Status != 400 || r.Field != field || !strings.HasPrefix(r.Message, field+":") || len(log.filters) != 0 {
			t.Errorf("%.40s: %d field %q %s, want 400 naming %s", query, r.Status, r.Field, r.Message, field)
		}
	}
}

// TestDeliveryAndReplay checks GET …/{id}/deliveries/{delivery_id} and the validation of
// POST …/{id}/replay: since required, until after since (default now), status an outcome
// or an HTTP status, unknown fields refused; every mistake a 400 naming the field.
func TestDeliveryAndReplay(t *testing.T) {
	log := &fakeLog{}
	e := newEnv(t, func(c *Config) { c.Deliveries, c.Outcomes = log, testOutcomes })
	id := e.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"]}`).webhook(t).ID
	if r := e.do(t, "GET", collection+"/"+id+"/deliveries/d1", ""); r.Status != 200 || string(r.Data) != `{"body":{"items":[]},"delivery_id":"d1"}` {
		t.Errorf("delivery d1: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", collection+"/"+id+"/deliveries/"+url.PathEscape("other"), ""); r.Status != 404 || r.Field != "delivery_id" {
		t.Errorf("unknown delivery: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", collection+"/01234567-abcd-dcba-ffff-000000000000/deliveries/d1", ""); r.Status != 404 || r.Field != "id" {
		t.Errorf("delivery of an unknown webhook: %d %s", r.Status, r.Raw)
	}

	replay := collection + "/" + id + "/replay"
	before := time.Now()
	r := e.do(t, "POST", replay, `{"since": "2026-11-30T14:17:00Z", "status": "timeout"}`)
	if r.Status != 200 || string(r.Data) != `{"replayed":1,"skipped":{}}` || len(log.windows) != 1 {
		t.Fatalf("replay: %d %s", r.Status, r.Raw)
	}
	if w := log.windows[0]; !w.Since.Equal(time.Date(2026, 11, 30, 14, 17, 0, 0, time.UTC)) || w.Until.Before(before) || w.Outcome != "timeout" {
		t.Errorf("replay window %+v: want since 14:17, until now, outcome timeout", w)
	}
	log.windows = nil
	if r := e.do(t, "POST", replay, `{"since": "2026-11-30T14:17:00Z", "until": "2026-11-30T15:00:00.5Z", "status": 502}`); r.Status != 200 ||
		len(log.windows) != 1 || log.windows[0].Status != 502 || !log.windows[0].Until.Equal(time.Date(2026, 11, 30, 15, 0, 0, 5e8, time.UTC)) {
		t.Errorf("replay with until and a status code: %d %s %+v", r.Status, r.Raw, log.windows)
	}
	log.windows = nil
	for body, field := range map[string]string{
		`{}`:                                "since",
		`{"until": "2026-11-30T14:17:00Z"}`: "since",
		`{"since": "today"}`:                "since",
		`{"since": 5}`:                      "since",
		`{"since": null}`:                   "since",
		`{"since": "2026-11-30T14:17:00Z", "until": "2026-11-30T14:17:00Z"}`: "until",
		`{"since": "2026-11-30T14:17:00Z", "until": "2026-11-29T14:17:00Z"}`: "until",
		`{"since": "2026-11-30T14:17:00Z", "status": "teapot"}`:              "status",
		`{"since": "2026-11-30T14:17:00Z", "status": 42}`:                    "status",
		`{"since": "2026-11-30T14:17:00Z", "status": true}`:                  "status",
		`{"since": "2026-11-30T14:17:00Z", "window": "1h"}`:                  "window",
		`[`: "",
		``:  "",
	} {
		r := e.do(t, "POST", replay, body)
		if r.Status != 400 || r.Field != field || field != "" && !strings.Contains(r.Message, field) {
			t.Errorf("replay %s: %d field %q %s, want 400 naming %q", body, r.Status, r.Field, r.Message, field)
		}
	}
	if len(log.windows) != 0 {
		t.Errorf("bad replays reached the log: %+v", log.windows)
	}
}
