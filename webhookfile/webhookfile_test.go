package webhookfile

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/matcher"
)

// fakeCheck decodes a create body as the API would store it, refusing a signature that is
// not "ok-…" with a message that quotes it, as the API's UUID check does.
func fakeCheck(_ context.Context, space string, body []byte) (*matcher.Webhook, error) {
	var in struct {
		URL       string            `json:"url"`
		Events    []string          `json:"events"`
		Signature string            `json:"signature"`
		Options   json.RawMessage   `json:"options"`
		Headers   map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, matcher.Invalidf("", "%v", err)
	}
	if in.Signature != "" && !strings.HasPrefix(in.Signature, "ok-") {
		return nil, matcher.Invalidf("signature", "%q is not a UUID", in.Signature)
	}
	return &matcher.Webhook{URL: in.URL, Events: in.Events, Signature: in.Signature, Options: in.Options, Headers: in.Headers, Space: space}, nil
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// TestParse: ${VAR} expansion (and $${ for a literal), keys in order into the create body,
// a space at the top applying to the entries, and errors that name the line, the entry,
// the field and the variable, with values from the environment masked.
func TestParse(t *testing.T) {
	ctx := context.Background()
	file := `space: sales
webhooks:
  - name: a
    url: https://x.example.com/${PATH_PART}?v=$${literal}
    events: [Account.Create]
    signature: ${SIG}
    options: {chunk_size: 10, entity: {Contact: {filter: {closing_date: 2024-01-01}}}}
  - name: b
    space: support
    url: https://y.example.com
    events: [Account.Update]
`
	entries, err := Parse(ctx, "w.yaml", []byte(file), env(map[string]string{"PATH_PART": "hook", "SIG": "ok-secret"}), fakeCheck)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, e := range entries {
		got = append(got, e.Key.String()+" "+e.Webhook.URL+" "+e.Webhook.Signature+" "+string(e.Webhook.Options))
	}
	want := []string{
		`a (space sales) https://x.example.com/hook?v=${literal} ok-secret {"chunk_size":10,"entity":{"Contact":{"filter":{"closing_date":"2024-01-01"}}}}`,
		`b (space support) https://y.example.com  `,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	for _, c := range []struct{ name, file, want string }{
		{"unset variable", "space: s\nwebhooks:\n  - name: a\n    url: ${NOPE}\n    events: [x]\n",
			`w.yaml:4: webhook "a": url: environment variable NOPE is not set`},
		{"masked secret", "space: s\nwebhooks:\n  - name: a\n    url: u\n    events: [x]\n    signature: ${SIG}\n",
			`w.yaml:3: webhook "a": signature: "********" is not a UUID`},
		{"duplicate", "space: s\nwebhooks:\n  - {name: a, url: u, events: [x]}\n  - {name: a, url: v, events: [x]}\n",
			`w.yaml:4: webhook "a": name: also the name of the webhook at line 3 in space s (a name is unique in its space)`},
		{"empty file", "", `empty file`},
		{"no webhooks key", "space: s\n", `no "webhooks" key`},
		{"unknown top-level key", "webhook: []\n", `unknown key "webhook"`},
		{"name not a string", "space: s\nwebhooks:\n  - {name: 12, url: u, events: [x]}\n", `webhook #1: name: must be a string`},
		{"alias that contains itself", "space: s\nwebhooks:\n  - &x {name: a, url: u, events: [x], options: {o: *x}}\n", `nested more than 64 deep`},
		{"infinite number", "space: s\nwebhooks:\n  - {name: a, url: u, events: [x], timeout: .inf}\n", `timeout: .inf is not a finite number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(ctx, "w.yaml", []byte(c.file), env(map[string]string{"SIG": "secret-from-env"}), fakeCheck)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, want one wrapping ErrInvalid and containing %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-from-env") {
				t.Errorf("error shows a value from the environment: %v", err)
			}
		})
	}
}

// TestDiffComparesNormalisedFields: what the store gives back for a webhook written from
// the file is no change (options spacing and key order, default signing, no headers,
// sub-millisecond timeouts), and each real change names its field only.
func TestDiffComparesNormalisedFields(t *testing.T) {
	want := &matcher.Webhook{URL: "u", Events: []string{"a", "b"}, Options: json.RawMessage(`{"chunk_size":10,"skip_keys":["k"]}`),
		Signing: "", Timeout: 1500*time.Millisecond + 300*time.Microsecond}
	have := &matcher.Webhook{URL: "u", Events: []string{"a", "b"}, Options: json.RawMessage(`{ "skip_keys": ["k"],  "chunk_size": 10.0 }`),
		Signing: matcher.SigningPipeliner, Headers: map[string]string{}, Timeout: 1500 * time.Millisecond}
	if d := Diff(have, want); len(d) != 0 {
		t.Errorf("Diff of equal webhooks = %v, want none", d)
	}
	changed := *want
	changed.Events = []string{"b", "a"}
	changed.HTTPAuthPassword = "new"
	changed.Options = json.RawMessage(`{"chunk_size":11,"skip_keys":["k"]}`)
	if d := Diff(have, &changed); !cmp.Equal(d, []string{"events", "options", "http_auth_password"}) {
		t.Errorf("Diff = %v, want events, options, http_auth_password", d)
	}
}

// TestPlan: creates and updates in the file's order, deletes only with prune, unmanaged
// webhooks (unnamed, Pipedrive's, without a space) never in a plan.
func TestPlan(t *testing.T) {
	wh := func(space, name, url string) *matcher.Webhook {
		return &matcher.Webhook{ID: name + "-id", Space: space, Name: name, URL: url, Events: []string{"*"}}
	}
	entries := []Entry{
		{Key: Key{"s", "new"}, Webhook: wh("s", "new", "u")},
		{Key: Key{"s", "same"}, Webhook: wh("s", "same", "u")},
		{Key: Key{"s", "moved"}, Webhook: wh("s", "moved", "v")},
	}
	pd := wh("", "pd", "u")
	pd.Pipedrive = &matcher.Pipedrive{Name: "pd"}
	live := []*matcher.Webhook{wh("s", "same", "u"), wh("s", "moved", "u"), wh("s", "gone", "u"), wh("t", "new", "u"),
		wh("s", "", "u"), pd, wh("", "legacy", "u")}
	p := NewPlan(entries, live, false)
	var b strings.Builder
	if err := p.Write(&b, "f.yaml"); err != nil {
		t.Fatal(err)
	}
	want := `+ create new (space s)
~ update moved (space s): url
! keep gone (space s): not in f.yaml; --prune deletes it
! keep new (space t): not in f.yaml; --prune deletes it
= unchanged 1
plan: 1 to create, 1 to update, 0 to delete, 1 unchanged, 2 not in the file kept
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	pruned := NewPlan(entries, live, true)
	var deleted []string
	for _, c := range pruned.Changes {
		if c.Op == Delete {
			deleted = append(deleted, c.id)
		}
	}
	if !cmp.Equal(deleted, []string{"gone-id", "new-id"}) || len(pruned.Kept) != 0 {
		t.Errorf("with prune: deletes %v, keeps %v; want gone-id, new-id and none kept", deleted, pruned.Kept)
	}
}

// FuzzParse: any file is an error or entries, never a panic.
func FuzzParse(f *testing.F) {
	f.Add("space: s\nwebhooks:\n  - {name: a, url: ${U}, events: [x], options: {a: &x [1, *x]}}\n")
	f.Add("webhooks: &a [*a]\n")
	f.Add("space: [1]\nwebhooks: {}\n")
	f.Add("a: &a [*a, *a, *a]\nwebhooks: []\n")
	f.Add("space: s\nwebhooks:\n  - &x {name: a, url: u, events: [x], options: {o: *x}}\n")
	f.Fuzz(func(t *testing.T, file string) {
		Parse(context.Background(), "f", []byte(file), env(map[string]string{"U": "u"}), fakeCheck)
	})
}
