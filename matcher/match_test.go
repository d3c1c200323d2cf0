package matcher

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The seeds' option examples (DESIGN.md §4), as sent.
const (
	seedBigOptions = `{
    "custom_entity_api_name": [ "CE_Bid", "CE_Campaign" ],
    "entity": {
        "Contact": {
            "expand": ["primary_account", "primary_contact", "task_relations.task"],
            "load-only": ["id", "primary_account", "primary_contact.first_name", "task_relations.task"],
            "filter": {
                "email1": ["test@example.com", "test@example.net"],
                "email2": "test@example.com"
            },
            "filter-op": {"email1": "eq"},
            "on-field-change": ["email1"]
        },
        "Account": {
            "filter": {"owner_id": ["9900cce6-bcd6-412a-bcd1-1904556c949a"]}
        }
    },
    "related_entity": {"expand": ["contact"], "load-only": ["id", "contact"]},
    "skip_keys": ["gmail_sync", "custom_integration"]
}`
	seedOnFieldChange = `{"entity": {"Opportunity": {"on-field-change": ["closing_date", "value"]}}}`
	seedFilterOpen    = `{"entity": {"Opportunity": {"filter": {"status": "Open"}}}}`
	seedCustom        = `{"custom_entity_api_name": ["CE_Bid", "CE_Campaign"],
        "entity": {"CE_Bid": {"filter": {"name": "important"}, "filter-op": {"name": "contains"}}}}`
)

// seedMatchTests are CRM changes, the events they raise, and for each event the webhooks of
// TestMatchSeedExamples that match it.
var seedMatchTests = []struct {
	name  string
	sql   string
	want  [][]string // matched webhook ids per event
	names []string
}{{
	name:  "account created",
	sql:   `INSERT INTO crm.accounts (name, owner_id) VALUES ('Wayne Enterprises', 'c1000000-0000-4000-8000-000000000002')`,
	names: []string{"Account.Create"},
	want:  [][]string{{"account-create"}}, // big: owner filter fails
}, {
	name:  "account created by the filtered owner",
	sql:   `INSERT INTO crm.accounts (name, owner_id) VALUES ('Stark', '9900cce6-bcd6-412a-bcd1-1904556c949a')`,
	names: []string{"Account.Create"},
	want:  [][]string{{"account-create", "big"}},
}, {
	name:  "opportunity value changed",
	sql:   `UPDATE crm.lead_oppty SET value = 130000 WHERE id = '0f000000-0000-4000-8000-000000000001'`,
	names: []string{"Opportunity.Update"},
	want:  [][]string{{"oppty-change", "oppty-open"}},
}, {
	name:  "opportunity closing date changed",
	sql:   `UPDATE crm.lead_oppty SET "closingDate" = '2026-01-31' WHERE id = '0f000000-0000-4000-8000-000000000002'`,
	names: []string{"Opportunity.Update"},
	want:  [][]string{{"oppty-change", "oppty-open"}},
}, {
	name:  "opportunity renamed",
	sql:   `UPDATE crm.lead_oppty SET name = 'Acme anvils 2026' WHERE id = '0f000000-0000-4000-8000-000000000001'`,
	names: []string{"Opportunity.Update"},
	want:  [][]string{{"oppty-open"}},
}, {
	name:  "won opportunity changed",
	sql:   `UPDATE crm.lead_oppty SET value = 19000 WHERE id = '0f000000-0000-4000-8000-000000000003'`,
	names: []string{"Opportunity.Update"},
	want:  [][]string{{"oppty-change"}},
}, {
	name: "custom entities",
	sql: `INSERT INTO crm.ce_bids (name) VALUES ('An IMPORTANT bid'), ('A dull bid');
		INSERT INTO crm.ce_campaigns (name) VALUES ('Autumn');
		UPDATE crm.ce_bids SET amount = 1 WHERE id = 'b1d00000-0000-4000-8000-000000000001'`,
	names: []string{"CustomEntity.Create", "CustomEntity.Create", "CustomEntity.Create", "CustomEntity.Update"},
	want:  [][]string{{"custom"}, nil, {"custom"}, {"custom"}},
}, {
	name:  "contact email1 changed to a filtered value",
	sql:   `UPDATE crm.contacts SET email1 = 'test@example.net', email2 = 'test@example.com' WHERE id = 'c0000000-0000-4000-8000-000000000003'`,
	names: []string{"Contact.Update"},
	want:  [][]string{{"big"}},
}, {
	name:  "contact changed, email1 not",
	sql:   `UPDATE crm.contacts SET phone = '1', email2 = 'test@example.com' WHERE id = 'c0000000-0000-4000-8000-000000000003'`,
	names: []string{"Contact.Update"},
	want:  [][]string{nil},
}}

func TestMatchSeedExamples(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	err := m.Set([]*Webhook{
		webhook("account-create", []string{"Account.Create"}, `{}`),
		webhook("oppty-change", []string{"Opportunity.Update"}, seedOnFieldChange),
		webhook("oppty-open", []string{"Opportunity.Update"}, seedFilterOpen),
		webhook("custom", []string{"CustomEntity.Create", "CustomEntity.Update"}, seedCustom),
		webhook("big", []string{"Contact.*", "Account.*"}, seedBigOptions),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range seedMatchTests {
		t.Run(tt.name, func(t *testing.T) {
			evs := e.capture(t, tt.sql)
			if diff := cmp.Diff(tt.names, names(evs)); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
			for i, ev := range evs {
				got := matchedIDs(m, ev)
				slices.Sort(got)
				if diff := cmp.Diff(tt.want[i], got); diff != "" {
					t.Errorf("event %d %s: matched webhooks (-want +got):\n%s", i, ev.Name, diff)
				}
			}
		})
	}
}

func TestMatchSkipKeys(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	if err := m.Set([]*Webhook{
		webhook("skips", []string{"Task.*"}, `{"skip_keys": ["gmail_sync", "custom_integration"]}`),
		webhook("plain", []string{"Task.*"}, `{}`),
	}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `UPDATE crm.tasks SET priority = 3 WHERE id = 1;
		SELECT walhook.skip_key('gmail_sync');
		UPDATE crm.tasks SET priority = 3 WHERE id = 2;
		SELECT walhook.skip_key('other');
		UPDATE crm.tasks SET priority = 1 WHERE id = 3`)
	if len(evs) != 3 {
		t.Fatalf("got events %v", names(evs))
	}
	want := [][]string{{"plain", "skips"}, {"plain"}, {"plain"}}
	for i, ev := range evs {
		got := matchedIDs(m, ev)
		slices.Sort(got)
		if diff := cmp.Diff(want[i], got); diff != "" {
			t.Errorf("event %d (skip keys %v): (-want +got):\n%s", i, ev.SkipKeys, diff)
		}
	}
}

func TestMatchUpdateAndOwnerChangedAreSeparate(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	if err := m.Set([]*Webhook{
		webhook("both", []string{"Account.Update", "Account.OwnerChanged"}, `{}`),
		webhook("wild", []string{"Account.*", "Account.Update"}, `{"entity": {"Account": {"on-field-change": ["name"]}}}`),
	}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `UPDATE crm.accounts SET owner_id = 'c1000000-0000-4000-8000-000000000003' WHERE id = 'ac000000-0000-4000-8000-000000000002'`)
	if diff := cmp.Diff([]string{"Account.Update", "Account.OwnerChanged"}, names(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	var got []string
	for _, ev := range evs {
		for _, mt := range m.Match(ev, nil) {
			got = append(got, mt.Webhook.ID+" "+string(mt.Event.Name))
		}
	}
	// wild's on-field-change (name) holds back the Update but not OwnerChanged; each
	// webhook is matched once per event even when two of its patterns name it.
	want := []string{"both Account.Update", "both Account.OwnerChanged", "wild Account.OwnerChanged"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("matches (-want +got):\n%s", diff)
	}
}

func TestMatchDeleteFiltersOldRow(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	if err := m.Set([]*Webhook{
		webhook("acme", []string{"Contact.Delete"}, `{"entity": {"Contact": {"filter": {"primary_account_id": "ac000000-0000-4000-8000-000000000001"}}}}`),
		webhook("globex", []string{"Contact.Delete"}, `{"entity": {"Contact": {"filter": {"primary_account_id": "ac000000-0000-4000-8000-000000000002"}}}}`),
	}); err != nil {
		t.Fatal(err)
	}
	soft := e.capture(t, `UPDATE crm.contacts SET is_deleted = true WHERE id = 'c0000000-0000-4000-8000-000000000001'`)
	e.exec(t, `INSERT INTO crm.contacts (id, last_name, primary_account_id)
		VALUES ('c0000000-0000-4000-8000-0000000000ff', 'Temp', 'ac000000-0000-4000-8000-000000000002')`)
	hard := e.capture(t, `DELETE FROM crm.contacts WHERE id = 'c0000000-0000-4000-8000-0000000000ff'`)
	for _, c := range []struct {
		ev   []string
		got  []string
		want string
	}{{names(soft), matchedIDs(m, soft[0]), "acme"}, {names(hard), matchedIDs(m, hard[0]), "globex"}} {
		if diff := cmp.Diff([]string{c.want}, c.got); diff != "" {
			t.Errorf("%v: (-want +got):\n%s", c.ev, diff)
		}
	}
}

// TestMatchLinkEventsAndHeld also checks that paused and disabled webhooks still match,
// marked Held, so that the sender holds their events instead of losing them (issue 8).
func TestMatchLinkEventsAndHeld(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	disabled := webhook("disabled", []string{"*"}, `{}`)
	now := disabled.Created
	disabled.Status, disabled.DisabledAt, disabled.DisabledReason = StatusDisabled, &now, "endpoint answered 410 Gone"
	paused := webhook("paused", []string{"*"}, `{}`)
	paused.Status = StatusPaused
	deleted := webhook("deleted", []string{"*"}, `{}`)
	deleted.IsDeleted = true
	if err := m.Set([]*Webhook{
		webhook("docs", []string{"Account.DocumentLinked"}, `{"entity": {"Account": {"filter": {"name": "nobody"}}}}`),
		webhook("all", []string{"*"}, `{}`),
		disabled, paused, deleted,
	}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `INSERT INTO crm.document_links (document_id, entity_type, entity_id)
		VALUES ('d0c00000-0000-4000-8000-000000000002', 'account', 'ac000000-0000-4000-8000-000000000002')`)
	if diff := cmp.Diff([]string{"Account.DocumentLinked"}, names(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	got := matchedIDs(m, evs[0])
	slices.Sort(got)
	// Link events carry no parent row: filters do not apply to them.
	if diff := cmp.Diff([]string{"all", "disabled", "docs", "paused"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, mt := range m.Match(evs[0], nil) {
		if want := mt.Webhook.ID == "disabled" || mt.Webhook.ID == "paused"; mt.Webhook.Held() != want {
			t.Errorf("webhook %s: Held() = %t, want %t", mt.Webhook.ID, mt.Webhook.Held(), want)
		}
	}
}
