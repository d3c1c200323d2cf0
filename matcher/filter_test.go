package matcher

import (
	"context"
	"fmt"
	"testing"

	"github.com/walhook/walhook/event"
)

func TestDecimalCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"125000.00", "125000", 0},
		{"125000.00", "1.25e5", 0},
		{"125000.01", "125000", 1},
		{"-1", "1", -1},
		{"-2", "-1", -1},
		{"0.000", "-0", 0},
		{"0.1", "0.10000", 0},
		{"10", "9.999999999999999999999", 1},
		{"1E-3", "0.001", 0},
		{"99999999999999999999999999", "99999999999999999999999998", 1},
		{"007", "7", 0},
		{".5", "0.5", 0},
		{"5.", "5", 0},
	}
	for _, tt := range tests {
		a, ok1 := parseDecimal([]byte(tt.a))
		b, ok2 := parseDecimal([]byte(tt.b))
		if !ok1 || !ok2 {
			t.Fatalf("parse %q, %q: %v %v", tt.a, tt.b, ok1, ok2)
		}
		if got := cmpDecimal(&a, &b); got != tt.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := cmpDecimal(&b, &a); got != -tt.want {
			t.Errorf("cmp(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	for _, bad := range []string{"", "-", "NaN", "Infinity", "-Infinity", "1e", "1.2.3", "1e+", "abc", "1 "} {
		if _, ok := parseDecimal([]byte(bad)); ok {
			t.Errorf("parseDecimal(%q) succeeded", bad)
		}
	}
}

func TestParseTimestamp(t *testing.T) {
	base, _ := parseTimestamp([]byte("2025-06-03 09:00:00+00"))
	same := []string{"2025-06-03T09:00:00Z", "2025-06-03 11:00:00+02", "2025-06-03T04:30:00-04:30",
		"2025-06-03 09:00:00.000000+00", "2025-06-03 09:00", "2025-06-03 11:00:00+0200"}
	for _, s := range same {
		got, ok := parseTimestamp([]byte(s))
		if !ok || got != base {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d", s, got, ok, base)
		}
	}
	if got, _ := parseTimestamp([]byte("2025-06-03 09:00:00.5+00")); got != base+500000 {
		t.Errorf("fraction: got %d", got-base)
	}
	if got, _ := parseTimestamp([]byte("1970-01-01")); got != 0 {
		t.Errorf("epoch: got %d", got)
	}
	for _, bad := range []string{"infinity", "2025-02-30", "2025-06-03X", "2025-06-03 9:00", "0044-03-15 12:00:00 BC", "2025-06-03 09:00:00+"} {
		if _, ok := parseTimestamp([]byte(bad)); ok {
			t.Errorf("parseTimestamp(%q) succeeded", bad)
		}
	}
	if d, ok := parseDate([]byte("2000-03-01")); !ok || d != 11017 {
		t.Errorf("parseDate = %d, %v", d, ok)
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		s, sub                 string
		contains, starts, ends bool
	}{
		{"Important: Acme bulk bid", "important", true, true, false},
		{"Important: Acme bulk bid", "BULK", true, false, false},
		{"Important: Acme bulk bid", "BID", true, false, true},
		{"Straße", "STRASSE", false, false, false}, // simple folding only
		{"Ünïcode", "üNÏ", true, true, false},
		{"\u212a", "k", true, true, true}, // Kelvin sign folds to k
		{"abc", "", true, true, true},
		{"", "a", false, false, false},
	}
	for _, tt := range tests {
		if got := containsFold([]byte(tt.s), tt.sub); got != tt.contains {
			t.Errorf("contains(%q, %q) = %v", tt.s, tt.sub, got)
		}
		if _, got := prefixFold([]byte(tt.s), tt.sub); got != tt.starts {
			t.Errorf("starts(%q, %q) = %v", tt.s, tt.sub, got)
		}
		if got := suffixFold([]byte(tt.s), tt.sub); got != tt.ends {
			t.Errorf("ends(%q, %q) = %v", tt.s, tt.sub, got)
		}
	}
}

// loadRow reads an entity row from the sample CRM exactly as Render does (text format,
// real OIDs), so filters are tested on real values.
func loadRow(t *testing.T, e *env, entity, key string) event.Row {
	t.Helper()
	m := e.matcher(t)
	f := fetcher{m: m}
	defer f.release()
	ent := e.m.Entity(entity)
	rows, _, err := f.load(context.Background(), ent, ent.Key, []string{key}, 0, nil)
	if err != nil || len(rows[key]) != 1 {
		t.Fatalf("load %s %s: %v %v", entity, key, rows, err)
	}
	return rows[key][0]
}

func TestFilterOperators(t *testing.T) {
	e := newEnv(t)
	oppty := loadRow(t, e, "Opportunity", "0f000000-0000-4000-8000-000000000001") // Acme anvils 2025
	lead := loadRow(t, e, "Lead", "1ead0000-0000-4000-8000-000000000002")         // no value, no date
	task := loadRow(t, e, "Task", "1")
	tests := []struct {
		row    event.Row
		entity string
		filter string // options.entity.<entity>.filter and filter-op members
		want   bool
	}{
		// numeric(15,2): compared exactly as numbers.
		{oppty, "Opportunity", `"filter": {"value": 125000}`, true},
		{oppty, "Opportunity", `"filter": {"value": "125000.0"}`, true},
		{oppty, "Opportunity", `"filter": {"value": 125000.01}`, false},
		{oppty, "Opportunity", `"filter": {"value": [1, 125000]}`, true},
		{oppty, "Opportunity", `"filter": {"value": 124999.99}, "filter-op": {"value": "gt"}`, true},
		{oppty, "Opportunity", `"filter": {"value": 125000}, "filter-op": {"value": "gte"}`, true},
		{oppty, "Opportunity", `"filter": {"value": 125000}, "filter-op": {"value": "lt"}`, false},
		{oppty, "Opportunity", `"filter": {"value": "1.25e5"}, "filter-op": {"value": "lte"}`, true},
		{oppty, "Opportunity", `"filter": {"value": 1}, "filter-op": {"value": "ne"}`, true},
		{oppty, "Opportunity", `"filter": {"value": [5, 7]}, "filter-op": {"value": "in"}`, false},
		{oppty, "Opportunity", `"filter": {"value": "abc"}`, false},
		// bigint
		{oppty, "Opportunity", `"filter": {"step_id": 1}, "filter-op": {"step_id": "gt"}`, true},
		{oppty, "Opportunity", `"filter": {"step_id": "2"}`, true},
		// smallint
		{task, "Task", `"filter": {"priority": [1, 2]}, "filter-op": {"priority": "in"}`, true},
		// date
		{oppty, "Opportunity", `"filter": {"closing_date": "2025-09-30"}`, true},
		{oppty, "Opportunity", `"filter": {"closing_date": "2025-09-29"}, "filter-op": {"closing_date": "gt"}`, true},
		{oppty, "Opportunity", `"filter": {"closing_date": "2025-09-30"}, "filter-op": {"closing_date": "lt"}`, false},
		{task, "Task", `"filter": {"due_date": "2025-06-01"}, "filter-op": {"due_date": "lte"}`, true},
		// timestamptz: as times, whatever the offset written
		{oppty, "Opportunity", `"filter": {"created_at": "2000-01-01T00:00:00Z"}, "filter-op": {"created_at": "gt"}`, true},
		{oppty, "Opportunity", `"filter": {"created_at": "2000-01-01"}, "filter-op": {"created_at": "lt"}`, false},
		// uuid: case-insensitive
		{oppty, "Opportunity", `"filter": {"owner_id": "9900CCE6-BCD6-412A-BCD1-1904556C949A"}`, true},
		{oppty, "Opportunity", `"filter": {"owner_id": ["c1000000-0000-4000-8000-000000000002"]}`, false},
		// bool
		{oppty, "Opportunity", `"filter": {"is_archived": false}`, true},
		{oppty, "Opportunity", `"filter": {"is_archived": "true"}`, false},
		{oppty, "Opportunity", `"filter": {"is_archived": true}, "filter-op": {"is_archived": "ne"}`, true},
		// text: eq/ne/in case-sensitive, contains/starts/ends case-insensitive
		{oppty, "Opportunity", `"filter": {"name": "Acme anvils 2025"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "acme anvils 2025"}`, false},
		{oppty, "Opportunity", `"filter": {"name": "ANVILS"}, "filter-op": {"name": "contains"}`, true},
		{oppty, "Opportunity", `"filter": {"name": ["x", "acme"]}, "filter-op": {"name": "starts"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "2025"}, "filter-op": {"name": "ends"}`, true},
		{oppty, "Opportunity", `"filter": {"name": "202"}, "filter-op": {"name": "ends"}`, false},
		{oppty, "Opportunity", `"filter": {"status": "Open"}`, true},
		{oppty, "Opportunity", `"filter": {"status": ["Won", "Lost"]}, "filter-op": {"status": "ne"}`, true},
		{oppty, "Opportunity", `"filter": {"status": ["Open", "Lost"]}, "filter-op": {"status": "ne"}`, false},
		{oppty, "Opportunity", `"filter": {"status": "M"}, "filter-op": {"status": "gt"}`, true},
		// NULL
		{lead, "Lead", `"filter": {"closing_date": null}, "filter-op": {"closing_date": "is_null"}`, true},
		{lead, "Lead", `"filter": {"closing_date": true}, "filter-op": {"closing_date": "not_null"}`, false},
		{oppty, "Opportunity", `"filter": {"closing_date": null}, "filter-op": {"closing_date": "not_null"}`, true},
		{lead, "Lead", `"filter": {"value": null}`, true},
		{lead, "Lead", `"filter": {"value": 1}, "filter-op": {"value": "ne"}`, true},
		{lead, "Lead", `"filter": {"value": 1}, "filter-op": {"value": "lt"}`, false},
		// several fields: all must pass
		{oppty, "Opportunity", `"filter": {"status": "Open", "currency": "USD"}`, true},
		{oppty, "Opportunity", `"filter": {"status": "Open", "currency": "EUR"}`, false},
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
}
