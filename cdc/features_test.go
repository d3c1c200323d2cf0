package cdc

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
)

var customSeq atomic.Int64

// newCustomCRM creates a database from sql, validates mappingYAML against it and sets
// walhook up (publication, replica identities, a slot named for the test).
func newCustomCRM(t testing.TB, sql, mappingYAML string) *crm {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, sql)
	m, err := mapping.Parse([]byte(mappingYAML))
	if err != nil {
		t.Fatalf("parse mapping: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if err := m.Validate(ctx, conn); err != nil {
		t.Fatalf("validate mapping: %v", err)
	}
	c := &crmtest.CRM{DSN: dsn, Slot: fmt.Sprintf("custom_%d", customSeq.Add(1)), Mapping: m, Conn: conn}
	if err := schema.Setup(ctx, conn, m, schema.Options{Slot: c.Slot, Publication: crmtest.Publication}, nil); err != nil {
		t.Fatalf("setup: %v", err)
	}
	return &crm{c}
}

// step is one transaction of a scripted test and the exact events it must raise.
type step struct {
	name string
	sql  string
	want []gotEvent
}

// runSteps executes each step in its own transaction and compares the events raised. A
// step raising nothing is followed by a marker write to an unmapped-but-published table
// is not needed: every step's transaction is committed, and nextTxn waits for it (a
// transaction raising no event still commits through the handler).
func runSteps(t *testing.T, c *crm, h *collector, steps []step) {
	t.Helper()
	for _, st := range steps {
		c.Exec(t, st.sql)
		_, evs := h.nextTxn(t)
		if diff := cmp.Diff(st.want, summarize(evs), cmp.AllowUnexported(gotEvent{}), cmpEmpty); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", st.name, diff)
		}
	}
}

const featuresSQL = `
CREATE SCHEMA crm;
CREATE TABLE crm.stages (id int PRIMARY KEY, name text NOT NULL, is_won boolean NOT NULL DEFAULT false);
INSERT INTO crm.stages VALUES (1, 'New', false), (2, 'Won', true), (3, 'Lost', false);
CREATE TABLE crm.partners (id int PRIMARY KEY, name text, is_company boolean NOT NULL, partner_share boolean, deleted_at timestamptz);
CREATE TABLE crm.leads (id int PRIMARY KEY, name text, type text, stage_id int REFERENCES crm.stages,
  active boolean NOT NULL DEFAULT true, probability int NOT NULL DEFAULT 10, deleted_at timestamp);
CREATE TABLE crm.documents (id int PRIMARY KEY, name text);
INSERT INTO crm.documents VALUES (1, 'Contract');
CREATE TABLE crm.account_documents (account_id int NOT NULL, document_id int NOT NULL, deleted smallint NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, document_id));
CREATE TABLE crm.messages (id int PRIMARY KEY, res_model text, res_id int, message_type text NOT NULL, body text);
`

const featuresMapping = `
actions: [Archive]
entities:
  Account:
    table: crm.partners
    key: id
    discriminator: {field: is_company, value: true}
    soft_delete: {field: deleted_at, not_null: true}
  Contact:
    table: crm.partners
    key: id
    discriminator: [{field: is_company, value: false}, {field: partner_share, value: [true, null]}]
    soft_delete: {field: deleted_at, not_null: true}
  Opportunity:
    table: crm.leads
    key: id
    discriminator: {field: type, value: opportunity}
    soft_delete: {field: deleted_at, not_null: true}
    transitions:
      - {action: Won, field: stage_id, lookup: {table: crm.stages, key: id, when: {field: is_won, value: true}}}
      - {action: Lost, when: [{field: active, value: false}, {field: probability, value: 0}]}
      - {action: Archive, field: active, from: true, to: false}
  Lead:
    table: crm.leads
    key: id
    discriminator: {field: type, is_null: true}
  Document: {table: crm.documents, key: id, events: false}
  AccountDocument: {table: crm.account_documents, key: [account_id, document_id]}
  Message: {table: crm.messages, key: id, events: false}
links:
  - table: crm.account_documents
    action: DocumentLinked
    parent: {entity: Account, field: account_id}
    related: {entity: Document, field: document_id}
    soft_delete: {field: deleted, value: 1}
  - table: crm.messages
    action: Comment
    parent: {type_field: res_model, field: res_id, types: {crm.lead: crm.leads, res.partner: Account}}
    related: {entity: Message}
    when: {field: message_type, value: comment}
`

// TestMappingFeatures drives real writes through each §11 construct and checks the exact
// events: multi-column discriminators with NULL and lists, soft delete by timestamp (and
// no second Delete on the later hard DELETE), multi-condition and from/to transitions,
// transitions through a lookup table kept current from the stream (a won stage added
// later works), composite keys, a many-to-many link table whose INSERT raises a link
// event and whose revived soft-deleted row raises it again, conditions on link rows and
// links that become valid by UPDATE. On the old code the mapping does not even parse.
func TestMappingFeatures(t *testing.T) {
	c := newCustomCRM(t, featuresSQL, featuresMapping)
	h := newCollector()
	r, _ := startReader(t, c, h, nil)
	runSteps(t, c, h, []step{
		{"company", `INSERT INTO crm.partners VALUES (1, 'Acme', true, NULL, NULL)`,
			[]gotEvent{{"Account.Create", "Account", "1"}}},
		{"person sharing (NULL is one of the values)", `INSERT INTO crm.partners VALUES (2, 'Wile', false, NULL, NULL)`,
			[]gotEvent{{"Contact.Create", "Contact", "2"}}},
		{"person not shared: no entity", `INSERT INTO crm.partners VALUES (3, 'Internal', false, false, NULL)`, nil},
		{"shared now: becomes a Contact", `UPDATE crm.partners SET partner_share = true WHERE id = 3`,
			[]gotEvent{{"Contact.Update", "Contact", "3"}}},
		{"lead with a NULL type", `INSERT INTO crm.leads (id, name, stage_id) VALUES (10, 'Tunnel', 1), (11, 'Rocket', 1)`,
			[]gotEvent{{"Lead.Create", "Lead", "10"}, {"Lead.Create", "Lead", "11"}}},
		{"lead becomes an opportunity", `UPDATE crm.leads SET type = 'opportunity' WHERE id IN (10, 11)`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "10"}, {"Opportunity.Update", "Opportunity", "11"}}},
		{"won through the lookup read at start", `UPDATE crm.leads SET stage_id = 2 WHERE id = 10`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "10"}, {"Opportunity.Won", "Opportunity", "10"}}},
		{"a new won stage: the lookup table's own change", `INSERT INTO crm.stages VALUES (4, 'Won big', true)`, nil},
		{"won through the new stage", `UPDATE crm.leads SET stage_id = 4 WHERE id = 11`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "11"}, {"Opportunity.Won", "Opportunity", "11"}}},
		{"moving between won stages is not won again", `UPDATE crm.leads SET stage_id = 2 WHERE id = 11`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "11"}}},
		{"stage no longer won", `UPDATE crm.stages SET is_won = false WHERE id = 4; UPDATE crm.leads SET stage_id = 4 WHERE id = 10`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "10"}}},
		{"from/to: archived", `UPDATE crm.leads SET active = false WHERE id = 11`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "11"}, {"Opportunity.Archive", "Opportunity", "11"}}},
		{"both conditions now hold: lost", `UPDATE crm.leads SET probability = 0 WHERE id = 11`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "11"}, {"Opportunity.Lost", "Opportunity", "11"}}},
		{"still lost: not again", `UPDATE crm.leads SET name = 'Rocket 2' WHERE id = 11`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", "11"}}},
		{"soft delete by timestamp", `UPDATE crm.leads SET deleted_at = now() WHERE id = 11`,
			[]gotEvent{{"Opportunity.Delete", "Opportunity", "11"}}},
		{"hard delete of a soft-deleted row raises nothing", `DELETE FROM crm.leads WHERE id = 11`, nil},
		{"many-to-many link row", `INSERT INTO crm.account_documents VALUES (1, 1, 0)`,
			[]gotEvent{{"Account.DocumentLinked", "Account", "1"}}},
		{"link row soft-deleted", `UPDATE crm.account_documents SET deleted = 1 WHERE account_id = 1`,
			[]gotEvent{{"AccountDocument.Update", "AccountDocument", "1,1"}}},
		{"link row revived raises the link again", `UPDATE crm.account_documents SET deleted = 0 WHERE account_id = 1`,
			[]gotEvent{{"Account.DocumentLinked", "Account", "1"}, {"AccountDocument.Update", "AccountDocument", "1,1"}}},
		{"a message that is no comment", `INSERT INTO crm.messages VALUES (100, 'crm.lead', 10, 'notification', 'Stage changed')`, nil},
		{"a comment on the opportunity", `INSERT INTO crm.messages VALUES (101, 'crm.lead', 10, 'comment', 'Call them')`,
			[]gotEvent{{"Opportunity.Comment", "Opportunity", "10"}}},
		{"a comment on an unmapped model", `INSERT INTO crm.messages VALUES (102, 'res.users', 1, 'comment', 'Hi')`, nil},
		{"the shared table's other entity: a Lead", `INSERT INTO crm.leads (id, name) VALUES (12, 'Fresh');
			INSERT INTO crm.messages VALUES (104, 'crm.lead', 12, 'comment', 'New lead')`,
			[]gotEvent{{"Lead.Create", "Lead", "12"}, {"Lead.Comment", "Lead", "12"}}},
		{"a parent that does not exist raises nothing (counted)", `INSERT INTO crm.messages VALUES (105, 'crm.lead', 11, 'comment', 'Gone')`, nil},
		{"a comment posted without its parent", `INSERT INTO crm.messages VALUES (103, 'crm.lead', NULL, 'comment', 'Draft')`, nil},
		{"re-pointed at its parent: the link is valid now", `UPDATE crm.messages SET res_id = 10 WHERE id = 103`,
			[]gotEvent{{"Opportunity.Comment", "Opportunity", "10"}}},
		{"edited comment: no new link", `UPDATE crm.messages SET body = 'Draft 2' WHERE id = 103`, nil},
		{"company soft-deleted", `UPDATE crm.partners SET deleted_at = now() WHERE id = 1`,
			[]gotEvent{{"Account.Delete", "Account", "1"}}},
		{"restored: an Update", `UPDATE crm.partners SET deleted_at = NULL WHERE id = 1`,
			[]gotEvent{{"Account.Update", "Account", "1"}}},
	})
	if got := testutil.ToFloat64(r.met.parentsMissing); got != 1 {
		t.Errorf("walhook_link_parents_missing_total = %v, want 1", got)
	}
}

// TestEntityOverSeveralTables maps meetings and calls as one entity, Appointment: both
// tables raise Appointment events, each saying its table, and a comment on either is an
// Appointment.Comment. On the old code `table:` took one name ("cannot unmarshal !!seq").
func TestEntityOverSeveralTables(t *testing.T) {
	c := newCustomCRM(t, `
CREATE SCHEMA crm;
CREATE TABLE crm.meetings (id uuid PRIMARY KEY, subject text, owner_id int, location text, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE crm.calls (id uuid PRIMARY KEY, subject text, owner_id int, direction text, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE crm.activity_notes (id int PRIMARY KEY, activity_id uuid, body text);
`, `
entities:
  Appointment:
    table: [crm.meetings, crm.calls]
    key: id
    owner: owner_id
    soft_delete: {field: deleted, value: true}
  ActivityNote: {table: crm.activity_notes, key: id, events: false}
links:
  - {table: crm.activity_notes, action: Comment, parent: {entity: Appointment, field: activity_id}, related: {entity: ActivityNote}}
`)
	h := newCollector()
	startReader(t, c, h, nil)
	const meeting, call = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002"
	steps := []struct {
		sql  string
		want []gotEvent
		tbl  []string
	}{
		{`INSERT INTO crm.meetings VALUES ('` + meeting + `', 'Kick-off', 1, 'HQ')`,
			[]gotEvent{{"Appointment.Create", "Appointment", meeting}}, []string{"crm.meetings"}},
		{`INSERT INTO crm.calls VALUES ('` + call + `', 'Follow-up', 1, 'outbound')`,
			[]gotEvent{{"Appointment.Create", "Appointment", call}}, []string{"crm.calls"}},
		{`UPDATE crm.calls SET owner_id = 2 WHERE id = '` + call + `'`,
			[]gotEvent{{"Appointment.Update", "Appointment", call}, {"Appointment.OwnerChanged", "Appointment", call}}, []string{"crm.calls", "crm.calls"}},
		{`INSERT INTO crm.activity_notes VALUES (1, '` + call + `', 'No answer')`,
			[]gotEvent{{"Appointment.Comment", "Appointment", call}}, []string{"crm.activity_notes"}},
		{`UPDATE crm.meetings SET deleted = true WHERE id = '` + meeting + `'`,
			[]gotEvent{{"Appointment.Delete", "Appointment", meeting}}, []string{"crm.meetings"}},
	}
	for _, st := range steps {
		c.Exec(t, st.sql)
		_, evs := h.nextTxn(t)
		if diff := cmp.Diff(st.want, summarize(evs), cmp.AllowUnexported(gotEvent{})); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", st.sql, diff)
		}
		var tables []string
		for _, ev := range evs {
			tables = append(tables, ev.Table)
		}
		if diff := cmp.Diff(st.tbl, tables); diff != "" {
			t.Errorf("%s: tables (-want +got):\n%s", st.sql, diff)
		}
	}
}

// TestTransitionCausedByAnotherTable: a lead converted into an opportunity that lives in
// its own table (the lead's created_opportunity_id is set) raises Opportunity.Qualify on
// the new opportunity, with the lead as related entity. On the old code `via` did not parse.
func TestTransitionCausedByAnotherTable(t *testing.T) {
	c := newCustomCRM(t, `
CREATE SCHEMA crm;
CREATE TABLE crm.opportunities (id int PRIMARY KEY, name text);
CREATE TABLE crm.leads (id int PRIMARY KEY, name text, status text, created_opportunity_id int REFERENCES crm.opportunities);
`, `
entities:
  Lead: {table: crm.leads, key: id}
  Opportunity:
    table: crm.opportunities
    key: id
    transitions:
      - {action: Qualify, via: {entity: Lead, field: created_opportunity_id}}
`)
	h := newCollector()
	startReader(t, c, h, nil)
	runSteps(t, c, h, []step{
		{"lead", `INSERT INTO crm.leads VALUES (1, 'Tunnel', 'New', NULL)`, []gotEvent{{"Lead.Create", "Lead", "1"}}},
		{"converted: the opportunity, then the lead pointing at it", `INSERT INTO crm.opportunities VALUES (10, 'Tunnel');
			UPDATE crm.leads SET status = 'Converted', created_opportunity_id = 10 WHERE id = 1`,
			[]gotEvent{{"Opportunity.Create", "Opportunity", "10"}, {"Lead.Update", "Lead", "1"}, {"Opportunity.Qualify", "Opportunity", "10"}}},
		{"the lead edited later: no second Qualify", `UPDATE crm.leads SET name = 'Tunnel 2' WHERE id = 1`,
			[]gotEvent{{"Lead.Update", "Lead", "1"}}},
		{"unlinked: nothing", `UPDATE crm.leads SET created_opportunity_id = NULL WHERE id = 1`,
			[]gotEvent{{"Lead.Update", "Lead", "1"}}},
	})
}
