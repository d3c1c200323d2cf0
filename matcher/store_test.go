package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/internal/uuidx"
)

func TestStoreCRUD(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	s := NewStore(e.pool)
	opts := `{ "chunk_size": 10, "chunk_delay": 1.5,
	   "skip_keys": ["a"] }`
	wh, err := s.Create(ctx, &Webhook{URL: "https://example.com/a", Events: []string{"Account.Create", "*"},
		Options: json.RawMessage(opts), Signature: "01234567-ABCD-dcba-ffff-000000000000", HTTPAuthUser: "u", HTTPAuthPassword: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !uuidx.Is(wh.ID) || string(wh.Options) != opts || wh.ChunkSize != 10 || wh.ChunkDelay != 1500*time.Millisecond ||
		wh.Signing != SigningPipeliner || wh.Created.IsZero() || wh.Signature != "01234567-ABCD-dcba-ffff-000000000000" {
		t.Fatalf("created %+v", wh)
	}
	got, err := s.Get(ctx, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wh, got); diff != "" {
		t.Errorf("Get (-created +got):\n%s", diff)
	}
	up, err := s.Update(ctx, wh.ID, func(w *Webhook) error {
		w.URL = "https://example.com/b"
		w.Options = nil
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.URL != "https://example.com/b" || string(up.Options) != "{}" || !up.Modified.After(wh.Modified) || up.ChunkSize != DefaultChunkSize {
		t.Errorf("updated %+v", up)
	}
	bad := Invalidf("url", "no")
	if _, err := s.Update(ctx, wh.ID, func(*Webhook) error { return bad }); !errors.Is(err, ErrInvalid) {
		t.Errorf("update with a failing apply: %v", err)
	}
	if list, total, err := s.List(ctx, "", true, 0, 10); err != nil || total != 1 || len(list) != 1 {
		t.Errorf("List = %v, %d, %v", list, total, err)
	}
	if got, _ := s.Get(ctx, wh.ID); got.Status != StatusActive || got.DisabledAt != nil || got.DisabledReason != "" {
		t.Errorf("new webhook: status %q, disabled_at %v, reason %q; want active", got.Status, got.DisabledAt, got.DisabledReason)
	}
	for i, want := range []bool{true, false} { // disabled once: the second call changes nothing
		changed, err := s.Disable(ctx, wh.ID, "endpoint answered 410 Gone")
		if err != nil || changed != want {
			t.Fatalf("Disable #%d = %t, %v; want %t", i+1, changed, err, want)
		}
	}
	if got, _ := s.Get(ctx, wh.ID); got.Status != StatusDisabled || got.DisabledAt == nil || got.DisabledReason != "endpoint answered 410 Gone" || !got.Held() {
		t.Errorf("disabled webhook: status %q, disabled_at %v, reason %q", got.Status, got.DisabledAt, got.DisabledReason)
	}
	if _, err := s.Disable(ctx, "00000000-0000-0000-0000-000000000000", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Disable of an unknown webhook: %v", err)
	}
	if err := s.Delete(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{wh.ID, "nope", "00000000-0000-0000-0000-000000000000"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s) after delete: %v", id, err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%s): %v", id, err)
		}
	}
	if list, total, _ := s.List(ctx, "", true, 0, 10); total != 0 || len(list) != 0 {
		t.Errorf("List after delete: %v %d", list, total)
	}
}

// TestChangesReachOtherInstances checks the contract: a webhook created, changed or
// deleted through one instance takes effect on every running instance, by notification:
// B's periodic reload is an hour away, so nothing else can bring the change. (The wait is
// bounded only so that a broken notification fails instead of hanging; speed is not
// asserted, STYLE 29.)
func TestChangesReachOtherInstances(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Instance B: its own pool, running.
	b := New(Config{DB: newPool(t, e.dsn, nil), Mapping: e.m, ReloadInterval: time.Hour})
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	testwait.For(t, 10*time.Second, "B's initial load", func() bool { return reloaded(b) })

	store := NewStore(e.pool) // instance A's store
	ev := &event.Event{Name: "Account.Create", Entity: "Account", Action: event.ActionCreate,
		New: event.Row{{Name: "name", Value: event.Value{Kind: event.KindText, Raw: []byte("Acme")}}}}
	wh, err := store.Create(ctx, &Webhook{URL: "https://example.com", Events: []string{"Account.Create"}, Options: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	waitMatches(t, b, ev, "created webhook on B", 1)

	if _, err := store.Update(ctx, wh.ID, func(w *Webhook) error {
		w.Options = json.RawMessage(`{"entity": {"Account": {"filter": {"name": "Globex"}}}}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitMatches(t, b, ev, "changed webhook on B", 0)

	if _, err := store.Update(ctx, wh.ID, func(w *Webhook) error { w.Options = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	waitMatches(t, b, ev, "changed back on B", 1)
	if err := store.Delete(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	waitMatches(t, b, ev, "deleted webhook on B", 0)
}

func reloaded(m *Matcher) bool {
	return counterValue(m.met.reloads.WithLabelValues("ok")) > 0
}

// waitMatches waits until ev matches n webhooks on m.
func waitMatches(t *testing.T, m *Matcher, ev *event.Event, what string, n int) {
	t.Helper()
	testwait.Until(t, 10*time.Second, what, func() (bool, string, error) {
		got := len(m.Match(ev, nil))
		return got == n, fmt.Sprintf("%s matches %d webhooks, want %d", ev.Name, got, n), nil
	})
}
