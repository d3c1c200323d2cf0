package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/walhook/walhook/event"
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
	if list, total, err := s.List(ctx, "", 0, 10); err != nil || total != 1 || len(list) != 1 {
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
	if list, total, _ := s.List(ctx, "", 0, 10); total != 0 || len(list) != 0 {
		t.Errorf("List after delete: %v %d", list, total)
	}
}

// TestChangesReachOtherInstances checks the contract: a webhook created, changed or
// deleted through one instance takes effect on every running instance within one second.
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
	waitFor(t, "B's initial load", 5*time.Second, func() bool { return reloaded(b) })

	store := NewStore(e.pool) // instance A's store
	ev := &event.Event{Name: "Account.Create", Entity: "Account", Action: event.ActionCreate,
		New: event.Row{{Name: "name", Value: event.Value{Kind: event.KindText, Raw: []byte("Acme")}}}}
	wh, err := store.Create(ctx, &Webhook{URL: "https://example.com", Events: []string{"Account.Create"}, Options: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "created webhook on B", time.Second, func() bool { return len(b.Match(ev, nil)) == 1 })

	if _, err := store.Update(ctx, wh.ID, func(w *Webhook) error {
		w.Options = json.RawMessage(`{"entity": {"Account": {"filter": {"name": "Globex"}}}}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "changed webhook on B", time.Second, func() bool { return len(b.Match(ev, nil)) == 0 })

	if _, err := store.Update(ctx, wh.ID, func(w *Webhook) error { w.Options = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "changed back on B", time.Second, func() bool { return len(b.Match(ev, nil)) == 1 })
	if err := store.Delete(ctx, wh.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deleted webhook on B", time.Second, func() bool { return len(b.Match(ev, nil)) == 0 })
}

func reloaded(m *Matcher) bool {
	return counterValue(m.met.reloads.WithLabelValues("ok")) > 0
}

// waitFor polls cond until it holds or the bound passes.
func waitFor(tb testing.TB, what string, bound time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
