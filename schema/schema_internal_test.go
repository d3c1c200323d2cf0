package schema

import (
	"strings"
	"testing"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

func TestMigrationsAreWellFormed(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].name != "0001_init" {
		t.Errorf("first migration is %q, want 0001_init", ms[0].name)
	}
	// The decoder matches skip keys by event.SkipKeyPrefix; the helper must emit exactly it.
	if !strings.Contains(ms[0].body, "pg_logical_emit_message(true, '"+event.SkipKeyPrefix+"', key)") {
		t.Errorf("migration 0001 does not emit transactional messages with prefix %q", event.SkipKeyPrefix)
	}
}

func TestProblemsNeedingTheOperator(t *testing.T) {
	tables := []mapping.Table{{Schema: "crm", Name: "accounts"}}
	opts := Options{Slot: "walhook", Publication: "walhook"}
	st := &state{
		walLevel:  "replica",
		database:  "crm",
		ledger:    true,
		applied:   map[int]bool{1: true},
		pub:       &publicationState{flagsOK: true, tables: map[mapping.Table]bool{tables[0]: true}},
		replident: map[mapping.Table]string{tables[0]: "f"},
		slot:      &slotState{kind: "logical", plugin: "pgoutput", database: "other"},
	}
	got := describe(st.problems(&plan{tables: tables, want: []int{1}, latest: 1}, opts))
	want := `wal_level is "replica", not "logical"; ` +
		`replication slot "walhook" belongs to database "other", not "crm"; ` +
		`to fix: set wal_level = logical in postgresql.conf and restart PostgreSQL, then set WALHOOK_SLOT to another name`
	if got != want {
		t.Errorf("describe =\n%s\nwant\n%s", got, want)
	}
	st.walLevel, st.slot.database = "logical", "crm"
	if ps := st.problems(&plan{tables: tables, want: []int{1}, latest: 1}, opts); len(ps) != 0 {
		t.Errorf("problems of a good state = %v", ps)
	}
}

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{
		`walhook`:     `'walhook'`,
		`it's`:        `'it''s'`,
		`"crm"."a\b"`: `E'"crm"."a\\b"'`,
	} {
		if got := quoteLiteral(in); got != want {
			t.Errorf("quoteLiteral(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestSummarizeList(t *testing.T) {
	for _, tt := range []struct {
		items []string
		want  string
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b", "c"}, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e"}, "a, b, c and 2 more tables"},
	} {
		if got := summarizeList(tt.items, 3); got != tt.want {
			t.Errorf("summarizeList(%v) = %q, want %q", tt.items, got, tt.want)
		}
	}
}
