package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeItems decodes rendered items.
func decodeItems(t *testing.T, items []json.RawMessage) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			t.Fatalf("item %d is not JSON: %v\n%s", i, err, it)
		}
	}
	return out
}

// TestPreviewLatestRows: preview reads the N most recently written rows of each subscribed
// entity — the entity's own rows only (discriminator), soft-deleted ones left out — renders
// those that pass the filters with load-only and expand, newest first, and names for the
// others the failing filter's field, operator and value and the row's value.
func TestPreviewLatestRows(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	// Oldest first: an Open opportunity, a Won one, a lead (other entity, same table), a
	// soft-deleted Won opportunity, then a Won one updated last (so newest by write).
	e.exec(t, `INSERT INTO crm.lead_oppty (id, record_type, name, account_id, status, value) VALUES
		('0f000000-0000-4000-8000-0000000000a1', 'opportunity', 'Open deal', 'ac000000-0000-4000-8000-000000000002', 'Open', 10)`)
	e.exec(t, `INSERT INTO crm.lead_oppty (id, record_type, name, account_id, status, value) VALUES
		('0f000000-0000-4000-8000-0000000000a2', 'opportunity', 'Won deal', 'ac000000-0000-4000-8000-000000000001', 'Won', 20)`)
	e.exec(t, `INSERT INTO crm.lead_oppty (id, record_type, name, status) VALUES
		('1ead0000-0000-4000-8000-0000000000a3', 'lead', 'A lead', 'Won')`)
	e.exec(t, `INSERT INTO crm.lead_oppty (id, record_type, name, status, is_deleted) VALUES
		('0f000000-0000-4000-8000-0000000000a4', 'opportunity', 'Deleted deal', 'Won', true)`)
	e.exec(t, `UPDATE crm.lead_oppty SET status = 'Won' WHERE id = '0f000000-0000-4000-8000-000000000002'`)

	wh := webhook("", []string{"Opportunity.Won"}, `{"entity": {"Opportunity": {
		"filter": {"status": "Won"}, "expand": ["account"], "load-only": ["name", "status", "account.name"]}}}`)
	p, err := m.Preview(context.Background(), wh, 3)
	if err != nil {
		t.Fatal(err)
	}
	items := decodeItems(t, p.Items)
	var got []map[string]any
	for _, it := range items {
		got = append(got, pick(it, "event", "entity", "entity_id", "data", "previous", "changed_fields", "lsn", "xid"))
		if id, _ := it["id"].(string); !strings.HasPrefix(id, "preview-") {
			t.Errorf("item id %q, want preview-…", id)
		}
	}
	want := []map[string]any{
		{"event": "Opportunity.Won", "entity": "Opportunity", "entity_id": "0f000000-0000-4000-8000-000000000002",
			"data":     map[string]any{"name": "Globex turbines", "status": "Won", "account": map[string]any{"name": "Globex"}},
			"previous": nil, "changed_fields": nil, "lsn": "0/0", "xid": float64(0)},
		{"event": "Opportunity.Won", "entity": "Opportunity", "entity_id": "0f000000-0000-4000-8000-0000000000a2",
			"data":     map[string]any{"name": "Won deal", "status": "Won", "account": map[string]any{"name": "Acme Corporation"}},
			"previous": nil, "changed_fields": nil, "lsn": "0/0", "xid": float64(0)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	wantOut := []Rejection{{Entity: "Opportunity", EntityID: "0f000000-0000-4000-8000-0000000000a1", Event: "Opportunity.Won",
		Reason: `filter status eq "Won": value "Open"`}}
	if diff := cmp.Diff(wantOut, p.FilteredOut); diff != "" {
		t.Errorf("filtered out (-want +got):\n%s", diff)
	}
}

// TestPreviewExplainsOperators: the reason names the operator as the options spell it,
// the value as written (a list, a json path) and the row's value.
func TestPreviewExplainsOperators(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	for _, c := range []struct{ options, reason string }{
		{`{"filter": {"industry": ["Energy", "Software"]}}`, `filter industry eq ["Energy","Software"]: value "Manufacturing"`},
		{`{"filter": {"name": "Glob"}, "filter-op": {"name": "istarts"}}`, `filter name istarts "Glob": value "Acme Corporation"`},
		{`{"filter": {"custom_fields.tier": "silver"}, "filter-op": {"custom_fields.tier": "ieq"}}`, `filter custom_fields.tier ieq "silver": value "gold"`},
		{`{"filter": {"phone": null}, "filter-op": {"phone": "null"}}`, `filter phone null: value "+1 555 0100"`},
	} {
		wh := webhook("", []string{"Account.Update"}, `{"entity": {"Account": `+c.options+`}}`)
		p, err := m.Preview(context.Background(), wh, 100)
		if err != nil {
			t.Fatalf("%s: %v", c.options, err)
		}
		found := false
		for _, r := range p.FilteredOut {
			if r.EntityID == "ac000000-0000-4000-8000-000000000001" {
				found = true
				if r.Reason != c.reason {
					t.Errorf("%s: reason %q, want %q", c.options, r.Reason, c.reason)
				}
			}
		}
		if !found {
			t.Errorf("%s: Acme not filtered out: %+v", c.options, p)
		}
	}
}

// TestSampleRendersLikeDelivery: a sample built from a row renders the same data as the
// event the replication reader raised when the row was inserted (same session settings,
// same mapping), under the subscribed event name and a test- id.
func TestSampleRendersLikeDelivery(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("w1", []string{"Contact.Create"}, `{"entity": {"Contact": {"expand": ["primary_account"]}}}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `INSERT INTO crm.contacts (first_name, last_name, email1, primary_account_id, created_at)
		VALUES ('Ada', 'Lovelace', 'ada@example.com', 'ac000000-0000-4000-8000-000000000003', '2025-01-02 03:04:05.678901+02')`)
	live := render(t, m, wh, evs)[0]

	s, err := m.Sample(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	item := decodeItems(t, []json.RawMessage{s.Item})[0]
	if diff := cmp.Diff(live["data"], item["data"]); diff != "" {
		t.Errorf("sample data differs from the delivered data (-live +sample):\n%s", diff)
	}
	if s.Event != "Contact.Create" || s.EntityID != evs[0].EntityID || item["entity_id"] != evs[0].EntityID ||
		!strings.HasPrefix(string(s.EventID), "test-") || item["id"] != string(s.EventID) || s.FilteredOut != "" {
		t.Errorf("sample %+v, item %v; want Contact.Create of %s", s, item, evs[0].EntityID)
	}
}

// TestSampleChoice: the sample is the latest row that passes the filters, of the first
// subscribed entity that has one, under the first event naming it (Create for a
// wildcard, the custom entity's CustomEntity.<Action>); without such a row, the latest
// row with the reason it would be filtered out; without rows at all, ErrNoSample.
func TestSampleChoice(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	ctx := context.Background()
	e.exec(t, `UPDATE crm.tasks SET subject = 'Touched' WHERE id = 2`)

	s, err := m.Sample(ctx, webhook("a", []string{"Task.*"}, `{"entity": {"Task": {"filter": {"status": "Completed"}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Event != "Task.Create" || s.EntityID != "3" || s.FilteredOut != "" {
		t.Errorf("filtered wildcard: %s of %s (%q), want Task.Create of 3", s.Event, s.EntityID, s.FilteredOut)
	}
	s, err = m.Sample(ctx, webhook("b", []string{"Task.Update"}, `{"entity": {"Task": {"filter": {"priority": 9}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Event != "Task.Update" || s.EntityID != "2" || s.FilteredOut != `filter priority eq 9: value 2` {
		t.Errorf("no row passes: %s of %s (%q), want the latest (2) with the reason", s.Event, s.EntityID, s.FilteredOut)
	}

	// No live CE_Bid (all soft-deleted) and no CE_Campaign, until one is inserted.
	e.exec(t, `UPDATE crm.ce_bids SET is_deleted = true, campaign_id = NULL; DELETE FROM crm.ce_campaigns`)
	custom := webhook("c", []string{"CustomEntity.OwnerChanged"}, `{"custom_entity_api_name": ["CE_Bid", "CE_Campaign"]}`)
	if _, err := m.Sample(ctx, custom); !errors.Is(err, ErrNoSample) || !strings.Contains(err.Error(), "CE_Bid, CE_Campaign") {
		t.Errorf("no rows: %v, want ErrNoSample naming CE_Bid, CE_Campaign", err)
	}
	e.exec(t, `INSERT INTO crm.ce_campaigns (name) VALUES ('Spring')`)
	s, err = m.Sample(ctx, custom)
	if err != nil {
		t.Fatal(err)
	}
	item := decodeItems(t, []json.RawMessage{s.Item})[0]
	if s.Event != "CustomEntity.OwnerChanged" || s.Entity != "CE_Campaign" || item["entity"] != "CE_Campaign" {
		t.Errorf("custom entity sample: %s of %s, item %s", s.Event, s.Entity, s.Item)
	}
	if _, err := m.Sample(ctx, webhook("d", []string{"webhook.salesforce.*"}, `{}`)); !errors.Is(err, ErrNoSample) {
		t.Errorf("inbound-only webhook: %v, want ErrNoSample", err)
	}
}
