package matcher

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
)

// TestExpandPolymorphicLeavesSoftDeletedOut expands a SuiteCRM account's notes: a
// polymorphic one-to-many relation (parent_type = 'Accounts'), without the soft-deleted
// note and without another module's note that has the same parent_id. On the old code
// the relation's where did not parse, expansions included soft-deleted rows, and a
// char(36) key was cast to char(1) (format_type without modifier), so nothing was found.
func TestExpandPolymorphicLeavesSoftDeletedOut(t *testing.T) {
	dir := filepath.Join("..", "schema", "examples", "suitecrm")
	sql, err := os.ReadFile(filepath.Join(dir, "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	yml, err := os.ReadFile(filepath.Join(dir, "mapping.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, string(sql)+`
INSERT INTO suite.accounts (id, name) VALUES ('acc-1', 'Acme');
INSERT INTO suite.notes (id, name, parent_type, parent_id, deleted) VALUES
  ('n-1', 'Kept', 'Accounts', 'acc-1', 0),
  ('n-2', 'Deleted', 'Accounts', 'acc-1', 1),
  ('n-3', 'Another module', 'Contacts', 'acc-1', 0),
  ('n-4', 'Also kept', 'Accounts', 'acc-1', 0);`)
	m, err := mapping.Parse(yml)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := m.Validate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	mt := New(Config{DB: newPool(t, dsn, nil), Mapping: m})
	wh := webhook("w", []string{"Account.Update"}, `{"entity": {"Account": {"expand": ["notes"], "load-only": ["id", "notes.name"]}}}`)
	if err := mt.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	row := event.Row{{Name: "id", Value: event.Value{Kind: event.KindText, Raw: []byte("acc-1")}}}
	ev := &event.Event{Name: "Account.Update", Entity: "Account", Action: event.ActionUpdate, EntityID: "acc-1", New: row, Old: row}
	items, err := mt.Render(ctx, compiled(t, mt, wh), []*event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	var item struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(items[0], &item); err != nil {
		t.Fatal(err)
	}
	want := `{"id":"acc-1","notes":[{"name":"Kept"},{"name":"Also kept"}]}`
	if diff := cmp.Diff(want, string(item.Data)); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
}

// TestLoadOverSeveralTables reads an entity mapped over two tables (meetings and calls as
// Appointment) from both: link parents of either kind are found and filtered.
func TestLoadOverSeveralTables(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, `
CREATE SCHEMA crm;
CREATE TABLE crm.meetings (id int PRIMARY KEY, subject text, owner_id int);
CREATE TABLE crm.calls (id int PRIMARY KEY, subject text, owner_id int, direction text);
INSERT INTO crm.meetings VALUES (1, 'Kick-off', 7);
INSERT INTO crm.calls VALUES (2, 'Follow-up', 8, 'out'), (3, 'Call back', 7, 'in');
CREATE TABLE crm.notes (id int PRIMARY KEY, activity_id int, body text);`)
	m, err := mapping.Parse([]byte(`entities:
  Appointment: {table: [crm.meetings, crm.calls], key: id, owner: owner_id}
  Note: {table: crm.notes, key: id, events: false}
links:
  - {table: crm.notes, action: Comment, parent: {entity: Appointment, field: activity_id}, related: {entity: Note}}
`))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := m.Validate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	mt := New(Config{DB: newPool(t, dsn, nil), Mapping: m})
	wh := webhook("w", []string{"Appointment.Comment"}, `{"entity": {"Appointment": {"filter": {"owner_id": 7}}}}`)
	if err := mt.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	var ms []Match
	for _, id := range []string{"1", "2", "3", "4"} {
		ms = append(ms, Match{Webhook: wh, Sub: compiled(t, mt, wh), Event: &event.Event{Name: "Appointment.Comment", Entity: "Appointment", EntityID: id,
			Action: event.ActionComment, Related: &event.Related{Entity: "Note", ID: id}}})
	}
	kept, err := mt.KeepLinkParents(ctx, ms)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kept {
		got = append(got, k.Event.EntityID)
	}
	if diff := cmp.Diff([]string{"1", "3"}, got); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	if e := m.Entity("Appointment"); !e.HasField("direction") || !e.HasField("subject") {
		t.Errorf("fields of both tables: direction %v, subject %v", e.HasField("direction"), e.HasField("subject"))
	}
}
