package mapping_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema/sample"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// sampleConn connects to a fresh copy of the sample CRM.
func sampleConn(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(tb, sample.CRMSQL))
	if err != nil {
		tb.Fatalf("connect to the sample CRM: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// validatedDefault returns the bundled mapping validated against the sample CRM.
func validatedDefault(tb testing.TB) (*mapping.Mapping, *pgx.Conn) {
	tb.Helper()
	conn := sampleConn(tb)
	m := mapping.Default()
	if err := m.Validate(context.Background(), conn); err != nil {
		tb.Fatalf("Validate(default mapping, sample CRM): %v", err)
	}
	return m, conn
}

func entity(tb testing.TB, m *mapping.Mapping, name string) *mapping.Entity {
	tb.Helper()
	e := m.Entity(name)
	if e == nil {
		tb.Fatalf("mapping has no entity %s", name)
	}
	return e
}

// TestDefaultValidatesAgainstSample also checks that every field the seeds' example
// options use exists in the sample CRM.
func TestDefaultValidatesAgainstSample(t *testing.T) {
	m, _ := validatedDefault(t)
	fields := []struct{ entity, field string }{
		{"Contact", "id"}, {"Contact", "email1"}, {"Contact", "email2"}, {"Contact", "owner_id"},
		{"Contact", "first_name"}, {"Account", "owner_id"}, {"Opportunity", "value"},
		{"Opportunity", "closing_date"}, {"Opportunity", "status"}, {"Lead", "closing_date"},
		{"CE_Bid", "name"}, {"Document", "id"}, {"TaskComment", "id"},
	}
	for _, f := range fields {
		if !entity(t, m, f.entity).HasField(f.field) {
			t.Errorf("%s.HasField(%q) = false, want true", f.entity, f.field)
		}
	}
	absent := []struct{ entity, field string }{
		{"Opportunity", "closingDate"}, {"Account", "internal_notes"}, {"Contact", "emial1"},
	}
	for _, f := range absent {
		if entity(t, m, f.entity).HasField(f.field) {
			t.Errorf("%s.HasField(%q) = true, want false", f.entity, f.field)
		}
	}
	// The related_entity expand "contact" must be valid on every related entity.
	for _, name := range []string{"Document", "TaskComment", "AppointmentComment"} {
		if entity(t, m, name).Relation("contact") == nil {
			t.Errorf("%s has no relation contact", name)
		}
	}
}

func TestDerivedRelations(t *testing.T) {
	m, _ := validatedDefault(t)
	tests := []struct {
		entity, relation string
		want             *mapping.Relation
	}{
		{"Contact", "primary_account", &mapping.Relation{Name: "primary_account", Target: "Account", Column: "primary_account_id", Derived: true}},
		{"Contact", "primary_contact", &mapping.Relation{Name: "primary_contact", Target: "Contact", Column: "primary_contact_id", Derived: true}},
		{"Contact", "task_relations", &mapping.Relation{Name: "task_relations", Target: "ContactTaskRelation", Column: "contact_id", Many: true}},
		{"Contact", "contact_task_relations", &mapping.Relation{Name: "contact_task_relations", Target: "ContactTaskRelation", Column: "contact_id", Many: true, Derived: true}},
		{"Contact", "opportunities", &mapping.Relation{Name: "opportunities", Target: "Opportunity", Column: "contact_id", Many: true, Derived: true}},
		{"Contact", "owner", &mapping.Relation{Name: "owner", Target: "Client", Column: "owner_id", Derived: true}},
		{"ContactTaskRelation", "task", &mapping.Relation{Name: "task", Target: "Task", Column: "task_id", Derived: true}},
		{"Account", "contacts", &mapping.Relation{Name: "contacts", Target: "Contact", Column: "primary_account_id", Many: true, Derived: true}},
		{"Opportunity", "step", &mapping.Relation{Name: "step", Target: "SalesStep", Column: "step_id", Derived: true}},
		{"Opportunity", "currency", &mapping.Relation{Name: "currency", Target: "Currency", Column: "currency", Derived: true}},
		{"Opportunity", "oppty_product_relations", &mapping.Relation{Name: "oppty_product_relations", Target: "OpptyProductRelation", Column: "oppty_id", Many: true, Derived: true}},
		{"Lead", "oppty_product_relations", &mapping.Relation{Name: "oppty_product_relations", Target: "OpptyProductRelation", Column: "oppty_id", Many: true, Derived: true}},
		{"OpptyProductRelation", "oppty", &mapping.Relation{Name: "oppty", Target: "Opportunity", Column: "oppty_id"}},
		{"OpptyProductRelation", "product", &mapping.Relation{Name: "product", Target: "Product", Column: "product_id", Derived: true}},
		{"Pipeline", "sales_steps", &mapping.Relation{Name: "sales_steps", Target: "SalesStep", Column: "pipeline_id", Many: true, Derived: true}},
		{"Client", "sales_unit", &mapping.Relation{Name: "sales_unit", Target: "SalesUnit", Column: "sales_unit_id", Derived: true}},
		{"CE_Campaign", "ce_bids", &mapping.Relation{Name: "ce_bids", Target: "CE_Bid", Column: "campaign_id", Many: true, Derived: true}},
		{"Document", "contact", &mapping.Relation{Name: "contact", Target: "Contact", Column: "contact_id", Derived: true}},
		// document_links is a link table, not an entity: it derives nothing.
		{"Document", "document_links", nil},
	}
	for _, tt := range tests {
		t.Run(tt.entity+"."+tt.relation, func(t *testing.T) {
			got := entity(t, m, tt.entity).Relation(tt.relation)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Relation(%q) mismatch (-want +got):\n%s", tt.relation, diff)
			}
		})
	}
	// The seeds' chained expand: Contact.task_relations.task.
	hop := m.Entity(entity(t, m, "Contact").Relation("task_relations").Target)
	if r := hop.Relation("task"); r == nil || r.Target != "Task" {
		t.Errorf("task_relations.task = %+v, want a relation to Task", r)
	}
}

func TestValidateIsRepeatable(t *testing.T) {
	m, conn := validatedDefault(t)
	first := entity(t, m, "Contact").Relations
	if err := m.Validate(context.Background(), conn); err != nil {
		t.Fatalf("second Validate: %v", err)
	}
	if diff := cmp.Diff(first, entity(t, m, "Contact").Relations); diff != "" {
		t.Errorf("relations changed on a second Validate (-first +second):\n%s", diff)
	}
}

func TestFieldNames(t *testing.T) {
	m, _ := validatedDefault(t)
	want := []string{"id", "name", "owner_id", "email", "phone", "industry", "custom_fields", "tags",
		"is_deleted", "created_at", "modified_at"}
	if diff := cmp.Diff(want, entity(t, m, "Account").FieldNames()); diff != "" {
		t.Errorf("Account.FieldNames() mismatch (-want +got):\n%s", diff)
	}
	opp := entity(t, m, "Opportunity").FieldNames()
	if !contains(opp, "closing_date") || contains(opp, "closingDate") {
		t.Errorf("Opportunity.FieldNames() = %v, want closing_date and not closingDate", opp)
	}
	if got := mapping.Default().Entity("Account").FieldNames(); got != nil {
		t.Errorf("FieldNames before Validate = %v, want nil", got)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSampleSeedsEveryMappedTable(t *testing.T) {
	conn := sampleConn(t)
	for _, table := range mapping.Default().Tables() {
		var n int
		sql := "SELECT count(*) FROM " + pgx.Identifier{table.Schema, table.Name}.Sanitize()
		if err := conn.QueryRow(context.Background(), sql).Scan(&n); err != nil {
			t.Fatalf("count rows of %s: %v", table, err)
		}
		if n == 0 {
			t.Errorf("table %s has no seed rows", table)
		}
	}
}

func TestValidateNamesEveryUnknown(t *testing.T) {
	m := mustParse(t, `
entities:
  Account:
    table: crm.acounts
    key: id
  Contact:
    table: crm.contacts
    key: id
    owner: owner
    fields: {email1: emial1}
    soft_delete: {field: is_delted, value: true}
  Task:
    table: crm.tasks
    key: task_id
    relations:
      notes: {entity: Contact, column: task_note_id, many: true}
links:
  - table: crm.task_comments
    action: Comment
    parent: {entity: Task, field: tsk_id}
    related: {entity: Contact, field: contct_id}
  - table: crm.comments
    action: Comment
    parent: {entity: Task, field: task_id}
    related: {entity: Contact, field: contact_id}
`)
	err := m.Validate(context.Background(), sampleConn(t))
	want := []string{
		"unknown table crm.acounts (entity Account)",
		"unknown column crm.contacts.owner (entity Contact, owner)",
		"unknown column crm.contacts.emial1 (entity Contact, field email1)",
		"unknown column crm.contacts.is_delted (entity Contact, soft_delete field is_delted)",
		"unknown column crm.tasks.task_id (entity Task, key)",
		"unknown column crm.contacts.task_note_id (entity Task, relation notes)",
		"unknown column crm.task_comments.tsk_id (link crm.task_comments, parent.field)",
		"unknown column crm.task_comments.contct_id (link crm.task_comments, related.field)",
		"unknown table crm.comments (link crm.comments)",
	}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("Validate problems mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(err.Error(), "mapping: unknown table crm.acounts (entity Account); unknown column") {
		t.Errorf("Validate error = %q, want it to start with the first problems", err)
	}
}

func TestValidateRejectsNameClashes(t *testing.T) {
	m := mustParse(t, `
entities:
  Account:
    table: crm.accounts
    key: id
    fields: {name: email}
    relations:
      phone: {entity: Account, column: owner_id}
`)
	err := m.Validate(context.Background(), sampleConn(t))
	want := []string{
		"entity Account: API name name names two columns of crm.accounts (name and email); rename or exclude one",
		"entity Account: relations.phone: the name is already the API name of column phone",
	}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("Validate problems mismatch (-want +got):\n%s", diff)
	}
}

// problemsOf returns the problems of a *mapping.ValidationError wrapping ErrInvalid.
func problemsOf(tb testing.TB, err error) []string {
	tb.Helper()
	if !errors.Is(err, mapping.ErrInvalid) {
		tb.Fatalf("error %v does not wrap ErrInvalid", err)
	}
	var ve *mapping.ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("error %v is not a *ValidationError", err)
	}
	return ve.Problems
}

func mustParse(tb testing.TB, doc string) *mapping.Mapping {
	tb.Helper()
	m, err := mapping.Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return m
}
