package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/walhook/walhook/matcher"
)

// memPipedrive adds the Pipedrive side to memStore.
type memPipedrive struct{ memStore }

func (s *memPipedrive) CreatePipedrive(ctx context.Context, wh *matcher.Webhook) (*matcher.Webhook, error) {
	c, err := s.Create(ctx, wh)
	if err == nil {
		pd := *wh.Pipedrive
		pd.ID = int64(s.n)
		c.Pipedrive = &pd
	}
	return c, err
}

func (s *memPipedrive) Pipedrive(context.Context, int64) ([]matcher.PipedriveWebhook, error) {
	return nil, nil
}

func (s *memPipedrive) DeletePipedrive(context.Context, int64) error { return nil }

// FuzzPipedriveCreate feeds arbitrary bodies, as JSON or as a form, to POST /v1/webhooks:
// never a 5xx nor a panic, always JSON in Pipedrive's shapes (201 with data, or 400 with
// errors naming a field), and an accepted webhook compiles in the matcher.
func FuzzPipedriveCreate(f *testing.F) {
	for _, c := range []struct {
		form bool
		body string
	}{
		{true, "subscription_url=https%3A%2F%2Fexample.com%2Fh&event_action=added&event_object=deal"},
		{true, "subscription_url=https%3A%2F%2Fexample.com%2Fh&event_action=*&event_object=*&version=1.0&user_id=3"},
		{true, "subscription_url=%zz&event_action=&event_object=note"},
		{false, `{"subscription_url":"https://example.com/h","event_action":"change","event_object":"activity","user_id":7,"http_auth_user":"u","http_auth_password":"p"}`},
		{false, `{"subscription_url":"https://example.com/h","event_action":"create","event_object":"note","version":"2.0","name":null}`},
		{false, `{"subscription_url":["x"],"event_action":{},"event_object":1e999}`},
		{false, `[]`}, {false, ``}, {true, ``},
	} {
		f.Add(c.form, []byte(c.body))
	}
	e := newEnv(f, nil)
	store := &memPipedrive{memStore{whs: map[string]*matcher.Webhook{}}}
	a := New(Config{Store: store, Mapping: e.m, Tokens: []string{token}, Resolver: testResolver})
	m := matcher.New(matcher.Config{Mapping: e.m})
	h := a.Handler()
	f.Fuzz(func(t *testing.T, form bool, body []byte) {
		req := httptest.NewRequest("POST", PipedrivePath+"?api_token="+token, bytes.NewReader(body))
		if form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct {
			Success bool                `json:"success"`
			Data    *struct{ ID int64 } `json:"data"`
			Errors  map[string]string   `json:"errors"`
			Error   string              `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, answer is not JSON: %v: %s", rec.Code, err, rec.Body)
		}
		switch rec.Code {
		case http.StatusCreated:
			if !out.Success || out.Data == nil || out.Data.ID == 0 {
				t.Fatalf("201 without data: %s", rec.Body)
			}
			var wh *matcher.Webhook
			for _, w := range store.whs {
				if w.Pipedrive != nil && w.Pipedrive.ID == out.Data.ID {
					wh = w
				}
			}
			if wh == nil || len(wh.Events) == 0 {
				t.Fatalf("accepted %q but stored %v", body, wh)
			}
			if err := m.Set([]*matcher.Webhook{wh}); err != nil {
				t.Fatalf("accepted webhook does not compile: %v", err)
			}
		case http.StatusBadRequest:
			if out.Success || (len(out.Errors) != 1 && out.Error == "") {
				t.Fatalf("400 without errors or error: %s", rec.Body)
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}
