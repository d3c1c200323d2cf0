package matcher

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidatorAcceptsSeeds(t *testing.T) {
	v := NewValidator(newEnv(t).m)
	for _, c := range []struct {
		events []string
		opts   string
	}{
		{[]string{"*"}, `{}`},
		{[]string{"Account.Create"}, `{}`},
		{[]string{"Opportunity.Update"}, seedOnFieldChange},
		{[]string{"Opportunity.Update"}, seedFilterOpen},
		{[]string{"CustomEntity.Create", "CustomEntity.Update"}, seedCustom},
		{[]string{"*"}, seedBigOptions},
		{[]string{"Contact.*", "Task.Comment"}, seedBigOptions},
		{[]string{"Lead.Lost", "Opportunity.Won", "Task.*"}, `{"chunk_size": 1, "chunk_delay": 300, "entity": {"Task": {"load_only": ["id"]}}}`},
	} {
		if err := v.Check(c.events, json.RawMessage(c.opts)); err != nil {
			t.Errorf("Check(%v, %s): %v", c.events, c.opts, err)
		}
	}
}

func TestValidatorRejects(t *testing.T) {
	v := NewValidator(newEnv(t).m)
	tests := []struct {
		events []string
		opts   string
		want   []string // substrings of the error: the field and the value
	}{
		{nil, `{}`, []string{"events", "at least one"}},
		{[]string{"Acount.Create"}, `{}`, []string{"events[0]", `"Acount.Create"`}},
		{[]string{"Account.Won"}, `{}`, []string{"events[0]", `"Won"`}},
		{[]string{"Account.Create", ""}, `{}`, []string{"events[1]"}},
		{[]string{"CE_Bid.Create"}, `{}`, []string{"events[0]", "CustomEntity"}},
		{[]string{"CustomEntity.Create"}, `{}`, []string{"options.custom_entity_api_name", "CustomEntity.Create"}},
		{[]string{"*"}, `{"custom_entity_api_name": ["CE_Nope"]}`, []string{"options.custom_entity_api_name[0]", `"CE_Nope"`}},
		{[]string{"*"}, `{"custom_entity_api_name": ["Account"]}`, []string{"options.custom_entity_api_name[0]", `"Account"`}},
		{[]string{"*"}, `{"entity": {"CE_Bid": {}}}`, []string{"options.entity.CE_Bid", "custom_entity_api_name"}},
		{[]string{"*"}, `{"entity": {"Acount": {}}}`, []string{"options.entity.Acount", `"Acount"`}},
		{[]string{"*"}, `{"entity": {"Document": {}}}`, []string{"options.entity.Document", "related_entity"}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"emial1": "x"}}}}`, []string{"options.entity.Contact.filter.emial1", `"emial1"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"email1": "x"}, "filter-op": {"email1": "equals"}}}}`, []string{"options.entity.Contact.filter-op.email1", `"equals"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"email1": "x"}, "filter-op": {"email2": "eq"}}}}`, []string{"options.entity.Contact.filter-op.email2", `"email2"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"email1": {"a": 1}}}}}`, []string{"options.entity.Contact.filter.email1", "object"}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"email1": []}}}}`, []string{"options.entity.Contact.filter.email1", "empty"}},
		{[]string{"*"}, `{"entity": {"Contact": {"filter": {"email1": null}, "filter-op": {"email1": "gt"}}}}`, []string{"options.entity.Contact.filter.email1", "null"}},
		{[]string{"*"}, `{"entity": {"Contact": {"on-field-change": ["email3"]}}}`, []string{"options.entity.Contact.on-field-change[0]", `"email3"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"expand": ["task_relations.tsk"]}}}`, []string{"options.entity.Contact.expand[0]", `"tsk"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"expand": ["email1"]}}}`, []string{"options.entity.Contact.expand[0]", `"email1"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"load-only": ["primary_contact.first_name"]}}}`, []string{"options.entity.Contact.load-only[0]", "not expanded"}},
		{[]string{"*"}, `{"entity": {"Contact": {"expand": ["primary_contact"], "load-only": ["primary_contact.nme"]}}}`, []string{"options.entity.Contact.load-only[0]", `"nme"`}},
		{[]string{"*"}, `{"entity": {"Contact": {"load-only": ["email1.x"]}}}`, []string{"options.entity.Contact.load-only[0]", "not a relation"}},
		{[]string{"*"}, `{"entity": {"Contact": {"load-only": ["id"], "load_only": ["id"]}}}`, []string{"options.entity.Contact.load_only", "once"}},
		{[]string{"*"}, `{"entity": {"Contact": {"expnad": []}}}`, []string{"options.entity.Contact.expnad", "unknown option"}},
		{[]string{"*"}, `{"related_entity": {"expand": ["nothing"]}}`, []string{"options.related_entity.expand[0]", `"nothing"`}},
		{[]string{"*"}, `{"related_entity": {"filter": {}}}`, []string{"options.related_entity.filter", "unknown option"}},
		{[]string{"*"}, `{"chunk_size": 0}`, []string{"options.chunk_size", `"0"`}},
		{[]string{"*"}, `{"chunk_size": 101}`, []string{"options.chunk_size", `"101"`}},
		{[]string{"*"}, `{"chunk_size": 50.5}`, []string{"options.chunk_size", `"50.5"`}},
		{[]string{"*"}, `{"chunk_size": "50"}`, []string{"options.chunk_size", "string"}},
		{[]string{"*"}, `{"chunk_delay": -1}`, []string{"options.chunk_delay", `"-1"`}},
		{[]string{"*"}, `{"chunk_delay": 1e9}`, []string{"options.chunk_delay", `"1e9"`}},
		{[]string{"*"}, `{"skip_keys": "gmail_sync"}`, []string{"options.skip_keys", "array"}},
		{[]string{"*"}, `{"skip_keys": [""]}`, []string{"options.skip_keys[0]", "empty"}},
		{[]string{"*"}, `{"skip_keys": [1]}`, []string{"options.skip_keys[0]", "number"}},
		{[]string{"*"}, `{"color": "red"}`, []string{"options.color", "unknown option"}},
		{[]string{"*"}, `{"entity": 1}`, []string{"options.entity", "object"}},
		{[]string{"*"}, `[]`, []string{"options", "object"}},
		{[]string{"*"}, `{"chunk_size": 1, "chunk_size": 2}`, []string{"options.chunk_size", "duplicate"}},
		{[]string{"*"}, `{"entity": {`, []string{"options", "malformed"}},
	}
	for _, tt := range tests {
		err := v.Check(tt.events, json.RawMessage(tt.opts))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%v, %s) = %v, want an error wrapping ErrInvalid", tt.events, tt.opts, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check(%v, %s) = %q, want it to contain %q", tt.events, tt.opts, err, w)
			}
		}
	}
}

// FuzzOptions checks that the options parser and compiler answer with a validation error
// or success — never a panic, never another error — whatever the options and events.
func FuzzOptions(f *testing.F) {
	for _, s := range []string{`{}`, `null`, ``, seedBigOptions, seedOnFieldChange, seedFilterOpen, seedCustom,
		`{"chunk_size": 100, "chunk_delay": 0}`, `{"entity": {"Contact": {"filter": {"created_at": "2025-01-01"}, "filter-op": {"created_at": "gt"}}}}`,
		`{"entity": {"Opportunity": {"expand": ["oppty_product_relations.product"], "load-only": ["oppty_product_relations.product.sku"]}}}`,
		`{"entity": {"Contact": {"expand": ["primary_account.contacts.primary_account", "task_relations.task"]}}, "related_entity": {"expand": ["contact.primary_account.contacts"]}}`} {
		f.Add(s, "*,Contact.*,CustomEntity.Create")
	}
	e := newEnv(f)
	v := NewValidator(e.m)
	m := New(Config{Mapping: e.m})
	f.Fuzz(func(t *testing.T, opts, events string) {
		evs := strings.Split(events, ",")
		err := v.Check(evs, json.RawMessage(opts))
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Check: %v is not a validation error", err)
		}
		if err == nil {
			if serr := m.Set([]*Webhook{{ID: "x", Events: evs, Options: json.RawMessage(opts)}}); serr != nil {
				t.Fatalf("valid options do not install: %v", serr)
			}
			chunking(json.RawMessage(opts))
		}
	})
}

// cyclicPath is the expand path of issue 8: 8 segments, Contact → Account → Contact …
const cyclicPath = "primary_account.contacts.primary_account.contacts.primary_account.contacts.primary_account.contacts"

func TestValidatorRefusesCyclicAndDeepExpandPaths(t *testing.T) {
	v := NewValidator(newEnv(t).m)
	for _, c := range []struct {
		events []string
		opts   string
		want   []string // substrings of the error
	}{
		{[]string{"Contact.*"}, `{"entity": {"Contact": {"expand": ["` + cyclicPath + `"]}}}`,
			[]string{"options.entity.Contact.expand[0]: ", `"primary_account.contacts.primary_account.contacts`, "is cyclic",
				"segment 3 (Contact.primary_account)", "segment 1 (Contact.primary_account)"}},
		{[]string{"Contact.*"}, `{"entity": {"Contact": {"expand": ["owner", "primary_account.contacts.primary_account"]}}}`,
			[]string{"options.entity.Contact.expand[1]: ", `"primary_account.contacts.primary_account"`, "is cyclic"}},
		{[]string{"Contact.*"}, `{"entity": {"Contact": {"expand": ["primary_contact.primary_contact"]}}}`,
			[]string{"options.entity.Contact.expand[0]", "is cyclic", "segment 2 (Contact.primary_contact)"}},
		// Lead and Opportunity share a table: Account.leads and Account.opportunities follow
		// the same foreign key in the same direction.
		{[]string{"Account.*"}, `{"entity": {"Account": {"expand": ["leads.account.opportunities"]}}}`,
			[]string{"options.entity.Account.expand[0]", "is cyclic", "segment 3 (Account.opportunities)", "segment 1 (Account.leads)"}},
		{[]string{"Account.DocumentLinked"}, `{"related_entity": {"expand": ["contact.primary_account.contacts.primary_account"]}}`,
			[]string{"options.related_entity.expand[0]: ", "is cyclic", "segment 4 (Contact.primary_account)"}},
		{[]string{"Contact.*"}, `{"entity": {"Contact": {"expand": ["task_relations.task.contact_task_relations.contact.primary_account"]}}}`,
			[]string{"options.entity.Contact.expand[0]", "follows 5 relations; at most 4"}},
	} {
		err := v.Check(c.events, json.RawMessage(c.opts))
		if err == nil {
			t.Errorf("Check(%s) accepted", c.opts)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%s) = %v, not ErrInvalid", c.opts, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Check(%s) = %q, want it to contain %q", c.opts, err, w)
			}
		}
	}
	// Coming back the other way is not a cycle: a contact's colleagues, a task's contacts.
	for _, opts := range []string{
		`{"entity": {"Contact": {"expand": ["primary_account.contacts", "primary_account.owner.contacts"]}}}`,
		`{"entity": {"Contact": {"expand": ["task_relations.task.contact_task_relations.contact"]}}}`,
	} {
		if err := v.Check([]string{"Contact.*"}, json.RawMessage(opts)); err != nil {
			t.Errorf("Check(%s): %v", opts, err)
		}
	}
}
