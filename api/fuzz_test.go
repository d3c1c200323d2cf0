package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/matcher"
)

// memStore is a Store in memory, for fuzzing the handlers without database round trips.
type memStore struct {
	mu  sync.Mutex
	whs map[string]*matcher.Webhook
	n   int
}

func (s *memStore) Create(_ context.Context, wh *matcher.Webhook) (*matcher.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	c := *wh
	c.ID = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.n)
	c.Created, c.Modified = time.Now(), time.Now()
	s.whs[c.ID] = &c
	return &c, nil
}

func (s *memStore) Get(_ context.Context, id string) (*matcher.Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if wh := s.whs[id]; wh != nil {
		c := *wh
		return &c, nil
	}
	return nil, matcher.ErrNotFound
}

func (s *memStore) List(context.Context, string, bool, int, int) ([]*matcher.Webhook, int, error) {
	return nil, 0, nil
}

func (s *memStore) Update(ctx context.Context, id string, apply func(*matcher.Webhook) error) (*matcher.Webhook, error) {
	wh, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := apply(wh); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.whs[id] = wh
	s.mu.Unlock()
	return wh, nil
}

func (s *memStore) Delete(context.Context, string) error { return nil }

// FuzzCreate feeds arbitrary bodies to the create handler (decoding and validation): the
// answer is never a 5xx nor a panic, always the JSON envelope, and a success stores a
// webhook that the matcher accepts.
func FuzzCreate(f *testing.F) {
	for _, body := range seedRequests {
		f.Add([]byte(body))
	}
	for _, body := range []string{``, `{}`, `null`, `[]`, `{"url": "http://127.0.0.1/", "events": ["*"]}`,
		`{"url": "https://example.com", "events": ["Contact.Update"], "options": {"entity": {"Contact": {"filter": {"email1": [1, null, true]}, "filter-op": {"email1": "in"}}}}}`,
		`{"url": "https://example.com", "events": ["*"], "signature": "01234567-abcd-dcba-ffff-000000000000", "signing": "standard-webhooks"}`,
		`{"url": "https://u@example.com:0/", "events": ["*"], "http_auth_user": "\u0000"}`} {
		f.Add([]byte(body))
	}
	e := newEnv(f, nil)
	store := &memStore{whs: map[string]*matcher.Webhook{}}
	a := New(Config{Store: store, Mapping: e.m, Tokens: []string{token}, Resolver: testResolver})
	m := matcher.New(matcher.Config{Mapping: e.m})
	h := a.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", collection, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		var env struct {
			Success bool            `json:"success"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
		}
		if env.Success != (rec.Code == http.StatusOK) {
			t.Fatalf("status %d with success %v", rec.Code, env.Success)
		}
		if env.Success {
			var v struct{ ID string }
			json.Unmarshal(env.Data, &v)
			wh, _ := store.Get(context.Background(), v.ID)
			if err := m.Set([]*matcher.Webhook{wh}); err != nil {
				t.Fatalf("accepted webhook does not compile: %v", err)
			}
		}
	})
}
