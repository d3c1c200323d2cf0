package matcher

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
)

func inboundEvent(key, callID string, call string) *event.Event {
	return &event.Event{ID: event.EventID("0000000001000000-1-" + key), Name: event.EventName(key), Entity: event.EntityInbound,
		Action: event.ActionReceive, EntityID: callID, CommitLSN: 1 << 24, CommitTime: time.Unix(1700000000, 0), XID: 7,
		Seq: 1, Data: json.RawMessage(call)}
}

// TestMatchInboundPatterns: exact keys, prefix wildcards at any dot and "*" match inbound
// events, each webhook once however many of its patterns cover the key; CRM patterns do not.
func TestMatchInboundPatterns(t *testing.T) {
	m := newEnv(t).matcher(t)
	whs := []*Webhook{
		webhook("exact", []string{"webhook.salesforce.lead.created"}, `{}`),
		webhook("sf", []string{"webhook.salesforce.*"}, `{}`),
		webhook("root", []string{"webhook.*"}, `{}`),
		webhook("all", []string{"*"}, `{}`),
		webhook("overlap", []string{"webhook.*", "webhook.salesforce.*", "webhook.salesforce.lead.created"}, `{}`),
		webhook("crm", []string{"Account.*", "Lead.Create"}, `{}`),
		webhook("other", []string{"webhook.github.push"}, `{}`),
		webhook("mixed", []string{"Account.Create", "webhook.salesforce.lead.*"}, `{"entity": {"Account": {"load-only": ["id"]}}}`),
	}
	if err := m.Set(whs); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string][]string{
		"webhook.salesforce.lead.created": {"all", "exact", "mixed", "overlap", "root", "sf"},
		"webhook.salesforce.account":      {"all", "overlap", "root", "sf"},
		"webhook.github.push":             {"all", "other", "overlap", "root"},
		"webhook.salesforcex.lead":        {"all", "overlap", "root"},
	} {
		got := matchedIDs(m, inboundEvent(key, "c1", `{}`))
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s matched %v, want %v", key, got, want)
		}
	}
}

func TestValidatorInbound(t *testing.T) {
	v := NewValidator(newEnv(t).m)
	for _, events := range [][]string{{"webhook.salesforce.lead.created"}, {"webhook.*"}, {"webhook.a-b.c_d.*"}, {"Account.*", "webhook.x"}} {
		if err := v.Check(events, json.RawMessage(`{"chunk_size": 5, "chunk_delay": 1, "skip_keys": ["sync"]}`)); err != nil {
			t.Errorf("Check(%v): %v", events, err)
		}
	}
	if err := v.Check([]string{"Account.*", "webhook.x"}, json.RawMessage(`{"entity": {"Account": {"filter": {"name": "x"}}}}`)); err != nil {
		t.Errorf("a mixed webhook's CRM options: %v", err)
	}
	for _, c := range []struct {
		events []string
		opts   string
		want   []string
	}{
		{[]string{"webhook."}, `{}`, []string{"events[0]", "empty segment"}},
		{[]string{"webhook.a..b"}, `{}`, []string{"events[0]", "empty segment"}},
		{[]string{"webhook.*.b"}, `{}`, []string{"events[0]", `"*" only as the last segment`}},
		{[]string{"webhook.a b"}, `{}`, []string{"events[0]", "letters, digits"}},
		{[]string{"webhook.x"}, `{"entity": {"Contact": {"filter": {"email1": "x"}}}}`, []string{"options.entity.Contact", "inbound events", "only to inbound"}},
		{[]string{"webhook.*"}, `{"related_entity": {"load-only": ["id"]}}`, []string{"options.related_entity", "inbound events"}},
		{[]string{"*"}, `{"entity": {"Inbound": {"on-field-change": ["body"]}}}`, []string{"options.entity.Inbound", "call object"}},
	} {
		err := v.Check(c.events, json.RawMessage(c.opts))
		if err == nil {
			t.Errorf("Check(%v, %s) accepted", c.events, c.opts)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check(%v, %s) = %q, want it to contain %q", c.events, c.opts, err, w)
			}
		}
	}
}

// TestRenderInbound: an inbound item is a §5 ITEM whose data is the call object as it is.
func TestRenderInbound(t *testing.T) {
	m := newEnv(t).matcher(t)
	wh := webhook("w", []string{"webhook.*"}, `{}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	call := `{"uuid":"u","eventKey":"webhook.a","body":{"x":[1,2]}}`
	items, err := m.Render(context.Background(), compiled(t, m, wh), []*event.Event{inboundEvent("webhook.a", "call-1", call)})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0000000001000000-1-webhook.a","event":"webhook.a","entity":"Inbound","entity_id":"call-1",` +
		`"committed_at":"2023-11-14T22:13:20.000000Z","lsn":"0/1000000","xid":7,"data":` + call +
		`,"previous":null,"changed_fields":null,"related_entity":null,"truncated":null}`
	if string(items[0]) != want {
		t.Errorf("item\n got %s\nwant %s", items[0], want)
	}
}
