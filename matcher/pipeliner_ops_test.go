package matcher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/walhook/walhook/event"
)

// TestPipelinerFilterOps checks Pipeliner's filter-op vocabulary as its integrators write
// it (DESIGN.md §4) and dotted fields into jsonb values, on real rows of the sample CRM.
// On the old code every operator below but eq, contains, starts, ends, gt…lte was refused
// ("unknown operator"), and a dotted field was an unknown field.
func TestPipelinerFilterOps(t *testing.T) {
	e := newEnv(t)
	e.exec(t, `UPDATE crm.accounts SET custom_fields = '{"name": {"en_US": "Anvils", "de_DE": "Ambosse"}, "size": 42, "tags": ["a", "b"]}', phone = ''
		WHERE id = 'ac000000-0000-4000-8000-000000000001'`)
	oppty := loadRow(t, e, "Opportunity", "0f000000-0000-4000-8000-000000000001") // Acme anvils 2025, value 125000
	acc := loadRow(t, e, "Account", "ac000000-0000-4000-8000-000000000001")
	tests := []struct {
		row    event.Row
		entity string
		filter string
		want   bool
	}{
		{oppty, "Opportunity", `"filter": {"name": "ACME ANVILS 2025"}, "filter-op": {"name": "ieq"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "ACME ANVILS"}, "filter-op": {"name": "ieq"}`, false},
		{oppty, "Opportunity", `"filter": {"name": ["x", "acme anvils 2025"]}, "filter-op": {"name": "not-ieq"}`, false},
		{oppty, "Opportunity", `"filter": {"name": "x"}, "filter-op": {"name": "not-ieq"}`, true},
		{oppty, "Opportunity", `"filter": {"status": "Open"}, "filter-op": {"status": "not-eq"}`, false},
		{oppty, "Opportunity", `"filter": {"status": "Won"}, "filter-op": {"status": "not-eq"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "ANVIL"}, "filter-op": {"name": "icontains"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "acme"}, "filter-op": {"name": "istarts"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "2025"}, "filter-op": {"name": "iends"}`, true},
		{oppty, "Opportunity", `"filter": {"closing_date": null}, "filter-op": {"closing_date": "null"}`, false},
		{oppty, "Opportunity", `"filter": {"closing_date": null}, "filter-op": {"closing_date": "not-null"}`, true},
		{oppty, "Opportunity", `"filter": {"value": [100000, 150000]}, "filter-op": {"value": "between"}`, true},
		{oppty, "Opportunity", `"filter": {"value": [125000, 125000]}, "filter-op": {"value": "between"}`, true},
		{oppty, "Opportunity", `"filter": {"value": [125000.01, 150000]}, "filter-op": {"value": "between"}`, false},
		{oppty, "Opportunity", `"filter": {"closing_date": ["2025-01-01", "2025-12-31"]}, "filter-op": {"closing_date": "between"}`, true},
		{acc, "Account", `"filter": {"phone": ""}, "filter-op": {"phone": "empty"}`, true},
		{acc, "Account", `"filter": {"phone": ""}, "filter-op": {"phone": "not-empty"}`, false},
		{acc, "Account", `"filter": {"industry": true}, "filter-op": {"industry": "not-empty"}`, true},
		{acc, "Account", `"filter": {"custom_fields.name.en_US": "Anvils"}`, true},
		{acc, "Account", `"filter": {"custom_fields.name.en_US": "anvils"}, "filter-op": {"custom_fields.name.en_US": "ieq"}`, true},
		{acc, "Account", `"filter": {"custom_fields.name.de_DE": "Anvils"}`, false},
		{acc, "Account", `"filter": {"custom_fields.size": [40, 50]}, "filter-op": {"custom_fields.size": "between"}`, true},
		{acc, "Account", `"filter": {"custom_fields.tags.1": "b"}`, true},
		{acc, "Account", `"filter": {"custom_fields.missing": null}, "filter-op": {"custom_fields.missing": "null"}`, true},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d", i), func(t *testing.T) {
			m := e.matcher(t)
			opts := fmt.Sprintf(`{"entity": {%q: {%s}}}`, tt.entity, tt.filter)
			if err := m.Set([]*Webhook{webhook("w", []string{tt.entity + ".Update"}, opts)}); err != nil {
				t.Fatal(err)
			}
			ev := &event.Event{Name: event.EventName(tt.entity + ".Update"), Entity: event.EntityName(tt.entity),
				Action: event.ActionUpdate, New: tt.row, Old: tt.row}
			if got := len(m.Match(ev, nil)) == 1; got != tt.want {
				t.Errorf("%s on %s: matched = %v, want %v", opts, tt.row.AppendJSON(nil), got, tt.want)
			}
		})
	}

	v := NewValidator(e.m)
	refused := []struct{ opts, want string }{
		{`{"entity": {"Opportunity": {"filter": {"value": [1, 2, 3]}, "filter-op": {"value": "between"}}}}`,
			"options.entity.Opportunity.filter.value: between takes a list of two values, [low, high]"},
		{`{"entity": {"Opportunity": {"filter": {"value": 1}, "filter-op": {"value": "between"}}}}`,
			"options.entity.Opportunity.filter.value: between takes a list of two values, [low, high]"},
		{`{"entity": {"Opportunity": {"filter": {"value": 1}, "filter-op": {"value": "equals"}}}}`,
			`unknown operator "equals" (operators: eq, ieq, not-eq, not-ieq, contains, icontains, starts, istarts, ends, iends, null, not-null, empty, not-empty, gt, gte, lt, lte, between, ne, in, is_null, not_null)`},
		{`{"entity": {"Account": {"filter": {"nope.en_US": "x"}}}}`, `unknown field "nope.en_US" of Account`},
		{`{"entity": {"Account": {"on-field-change": ["nope.en_US"]}}}`, `unknown field "nope.en_US" of Account`},
	}
	for _, r := range refused {
		err := v.Check([]string{"*"}, []byte(r.opts))
		if err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("Check(%s) = %v, want %q", r.opts, err, r.want)
		}
	}
}

// TestOnFieldChangeJSONPath passes an Update only when the json value at the path changed.
func TestOnFieldChangeJSONPath(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	opts := `{"entity": {"Account": {"on-field-change": ["custom_fields.name.en_US"]}}}`
	if err := m.Set([]*Webhook{webhook("w", []string{"Account.Update"}, opts)}); err != nil {
		t.Fatal(err)
	}
	row := func(js string) event.Row {
		return event.Row{{Name: "custom_fields", Value: event.Value{Kind: event.KindJSON, Raw: []byte(js)}}}
	}
	for _, tt := range []struct {
		old, new string
		want     bool
	}{
		{`{"name": {"en_US": "A", "de_DE": "A"}}`, `{"name": {"en_US": "B", "de_DE": "A"}}`, true},
		{`{"name": {"en_US": "A", "de_DE": "A"}}`, `{"name": {"en_US": "A", "de_DE": "B"}}`, false},
		{`{}`, `{"name": {"en_US": "A"}}`, true},
	} {
		ev := &event.Event{Name: "Account.Update", Entity: "Account", Action: event.ActionUpdate,
			Old: row(tt.old), New: row(tt.new), Changed: []string{"custom_fields"}}
		if got := len(m.Match(ev, nil)) == 1; got != tt.want {
			t.Errorf("%s → %s: matched = %v, want %v", tt.old, tt.new, got, tt.want)
		}
	}
}
