package mapping_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
)

// TestParseNamesMistakesWithTheFix pins the message of each mistake §11 lists: action
// typos with the closest valid word, and YAML shapes that yaml.v3 alone reports as
// "cannot unmarshal !!seq into string". The old code accepted the typos silently (they
// became events Opportunity.Wonn) and printed the bare yaml.v3 message for the shapes.
func TestParseNamesMistakesWithTheFix(t *testing.T) {
	const base = "entities:\n  Opportunity:\n    table: crm.deals\n    key: id\n"
	tests := []struct {
		name, doc string
		want      []string
	}{
		{"transition typo", base + "    transitions: [{action: Wonn, field: status, to: Won}]\n",
			[]string{`entity Opportunity: transitions[0].action: unknown action "Wonn"; did you mean Won? (a new word must be declared under the top-level actions: list)`}},
		{"link typo", base + "  Note: {table: crm.notes, key: id, events: false}\nlinks:\n  - {table: crm.notes, action: Coment, parent: {entity: Opportunity, field: deal_id}, related: {entity: Note}}\n",
			[]string{`link crm.notes: action: unknown action "Coment"; did you mean Comment? (a new word must be declared under the top-level actions: list)`}},
		{"case typo", base + "    transitions: [{action: backtolead, from: Lead}]\n",
			[]string{`unknown action "backtolead"; did you mean BackToLead?`}},
		{"new word not declared", base + "    transitions: [{action: Escalate, field: priority}]\n",
			[]string{`entity Opportunity: transitions[0].action: unknown action "Escalate" (known: Move, Won, Lost, Qualify, BackToLead, DocumentLinked, Comment); declare a new word under the top-level actions: list`}},
		{"declared twice", "actions: [Escalate, Escalate]\n" + base,
			[]string{`actions[1]: Escalate is declared twice`}},
		{"declaring a known word", "actions: [Won]\n" + base,
			[]string{`actions[0]: Won is already a known action; declare only new words`}},
		{"key as a mapping", "entities:\n  AccountContact:\n    table: crm.accounts_contacts\n    key: {columns: [account_id, contact_id]}\n",
			[]string{"entity AccountContact: key: want one name here, got a mapping; composite keys are written as a list under `key:` (key: [account_id, contact_id]) (line 4)"}},
		{"discriminator over two columns in one field", base + "    discriminator: {field: [is_company, partner_share], value: [false, true]}\n",
			[]string{"entity Opportunity: field: want one name here, got a list; one column per condition; a condition over several columns is a list of conditions under the key (discriminator: [{field: a, value: x}, {field: b, value: y}]) (line 5)"}},
		{"tables as a mapping", "entities:\n  Appointment:\n    table: {meetings: crm.meetings}\n    key: id\n",
			[]string{"entity Appointment: table: want one name here, got a mapping; one table, or a list of tables for an entity over several (table: [crm.meetings, crm.calls]) (line 3)"}},
		{"a table listed twice", "entities:\n  Appointment:\n    table: [crm.calls, crm.calls]\n    key: id\n",
			[]string{"entity Appointment: table: crm.calls is listed twice"}},
		{"exclude as a scalar", base + "    exclude: internal_notes\n",
			[]string{"entity Opportunity: exclude: want a list, got a single value; write exclude: [value] (or a list of several) (line 5)"}},
		{"link parent entity list", base + "links:\n  - table: crm.notes\n    action: Comment\n    parent: {entity: [Opportunity, Account], field: deal_id}\n    related: {entity: Opportunity}\n",
			[]string{"link crm.notes: entity: want one name here, got a list; a link names one parent entity; a polymorphic parent is written with type_field, field and types (line 8)"}},
		{"not_null with a value", base + "    soft_delete: {field: deleted_at, not_null: true, value: x}\n",
			[]string{"entity Opportunity: soft_delete: not_null excludes value and is_null"}},
		{"when with field", base + "    transitions: [{action: Lost, field: active, when: {field: active, value: false}}]\n",
			[]string{"entity Opportunity: transitions[0]: when excludes field, to, from and lookup"}},
		{"lookup without when", base + "    transitions: [{action: Won, field: stage_id, lookup: {table: crm.stages, key: id}}]\n",
			[]string{"entity Opportunity: transitions[0].lookup.when: required"}},
		{"one_of with field", base + "links:\n  - {table: crm.targets, action: Comment, parent: {one_of: {deal_id: Opportunity}, field: deal_id}, related: {entity: Opportunity}}\n",
			[]string{"link crm.targets: parent.one_of excludes entity, field, type_field and types"}},
		{"one_of naming an unknown entity", base + "links:\n  - {table: crm.targets, action: Comment, parent: {one_of: {person_id: Contakt}}, related: {entity: Opportunity}}\n",
			[]string{`link crm.targets: parent.one_of.person_id: unknown entity "Contakt"`}},
		{"via with field", base + "    transitions: [{action: Qualify, field: x, via: {entity: Lead, field: opp_id}}]\n",
			[]string{"entity Opportunity: transitions[0]: via excludes field, to, from, when and lookup"}},
		{"via an unknown entity", base + "    transitions: [{action: Qualify, via: {entity: Leed, field: opp_id}}]\n",
			[]string{`entity Opportunity: transitions[0].via.entity: unknown entity "Leed"`}},
		{"composite key listed twice", "entities:\n  L: {table: crm.l, key: [a, a]}\n",
			[]string{"entity L: key: column a is listed twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapping.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want problems %q", tt.want)
			}
			probs := problemsOf(t, err)
			for _, w := range tt.want {
				if !containsAny(probs, w) {
					t.Errorf("problems %q lack %q", probs, w)
				}
			}
		})
	}
}

func containsAny(probs []string, want string) bool {
	for _, p := range probs {
		if strings.Contains(p, want) {
			return true
		}
	}
	return false
}

// TestParseDeclaredActionsAndNewShapes accepts what the messages above point to.
func TestParseDeclaredActionsAndNewShapes(t *testing.T) {
	m := mustParse(t, `
actions: [Escalate]
entities:
  Opportunity:
    table: crm.deals
    key: id
    discriminator: [{field: is_company, value: false}, {field: kind, value: [null, deal]}]
    soft_delete: {field: deleted_at, not_null: true}
    transitions:
      - {action: Escalate, field: priority, from: [low, null], to: high}
      - {action: Lost, when: [{field: active, value: false}, {field: probability, value: 0}]}
      - {action: Won, field: stage_id, lookup: {table: crm.stages, key: id, when: {field: is_won, value: true}}}
  AccountContact: {table: crm.accounts_contacts, key: [account_id, contact_id]}
`)
	e := m.Entity("Opportunity")
	want := &mapping.Condition{Clauses: []mapping.Clause{
		{Field: "is_company", Values: []string{"false"}},
		{Field: "kind", Values: []string{"deal"}, Null: true},
	}}
	if diff := cmp.Diff(want, e.Discriminator); diff != "" {
		t.Errorf("discriminator (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&mapping.Condition{Clauses: []mapping.Clause{{Field: "deleted_at", NotNull: true}}}, e.SoftDelete); diff != "" {
		t.Errorf("soft_delete (-want +got):\n%s", diff)
	}
	tr := e.Transitions[0]
	if tr.Action != "Escalate" || !tr.FromNull || !cmp.Equal(tr.FromValues, []string{"low"}) || !cmp.Equal(tr.To, []string{"high"}) {
		t.Errorf("transition 0 = %+v", tr)
	}
	if lk := e.Transitions[2].Lookup; lk == nil || lk.Table.String() != "crm.stages" || lk.Key != "id" {
		t.Errorf("transition 2 lookup = %+v", lk)
	}
	if got := m.Entity("AccountContact").Keys; !cmp.Equal(got, []string{"account_id", "contact_id"}) {
		t.Errorf("composite key = %q", got)
	}
	if diff := cmp.Diff([]mapping.Table{{Schema: "crm", Name: "accounts_contacts"}, {Schema: "crm", Name: "deals"}, {Schema: "crm", Name: "stages"}}, m.Tables()); diff != "" {
		t.Errorf("Tables() (-want +got):\n%s", diff)
	}
}

const keysSQL = `
CREATE SCHEMA crm;
CREATE TABLE crm.deals (id bigint PRIMARY KEY, code text UNIQUE, ref text NOT NULL UNIQUE, name text, kind text, stage_id int);
CREATE TABLE crm.accounts_contacts (account_id int NOT NULL, contact_id int NOT NULL, role text, PRIMARY KEY (account_id, contact_id));
CREATE TABLE crm.nokey (a int, b int);
INSERT INTO crm.deals VALUES (1, 'a', 'r1', 'One', 'deal', 1), (2, 'b', 'r2', 'Two', 'lead', 1);
`

func keysConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.NewDatabase(t, keysSQL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestValidateKeys requires a key to be the primary key or a unique not-null index, named
// with the keys the table has. The old code accepted any existing column as key.
func TestValidateKeys(t *testing.T) {
	conn := keysConn(t)
	tests := []struct {
		name, doc, want string
	}{
		{"primary key", "entities: {D: {table: crm.deals, key: id}}", ""},
		{"unique not null", "entities: {D: {table: crm.deals, key: ref}}", ""},
		{"composite primary key in another order", "entities: {L: {table: crm.accounts_contacts, key: [contact_id, account_id]}}", ""},
		{"plain column", "entities: {D: {table: crm.deals, key: name}}",
			"mapping: entity D: key: name is not the primary key or a unique not-null index of crm.deals; use primary key id or unique not-null index ref"},
		{"nullable unique", "entities: {D: {table: crm.deals, key: code}}",
			"mapping: entity D: key: code is unique but nullable in crm.deals; make its columns NOT NULL or choose another key"},
		{"half a composite key", "entities: {L: {table: crm.accounts_contacts, key: account_id}}",
			"mapping: entity L: key: account_id is not the primary key or a unique not-null index of crm.accounts_contacts; use primary key [account_id, contact_id]"},
		{"no key at all", "entities: {N: {table: crm.nokey, key: a}}",
			"mapping: entity N: key: a is not the primary key or a unique not-null index of crm.nokey; the table has no primary key or unique not-null index; add one"},
		{"several tables: each has the key", "entities: {D: {table: [crm.deals, crm.accounts_contacts], key: id}}",
			"mapping: unknown column crm.accounts_contacts.id (entity D, key)"},
		{"unknown composite column", "entities: {L: {table: crm.accounts_contacts, key: [account_id, contakt_id]}}",
			"mapping: unknown column crm.accounts_contacts.contakt_id (entity L, key)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.doc)
			err := m.Validate(context.Background(), conn)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate = %q\nwant       %q", got, tt.want)
			}
		})
	}
}

// TestWarningsNameAbsentDiscriminatorValues warns, with the values present, about a
// discriminator value that no row has ("opportunity" where the table says "deal").
func TestWarningsNameAbsentDiscriminatorValues(t *testing.T) {
	conn := keysConn(t)
	m := mustParse(t, `
entities:
  Lead: {table: crm.deals, key: id, discriminator: {field: kind, value: lead}}
  Opportunity: {table: crm.deals, key: id, discriminator: {field: kind, value: [opportunity, null]}}
`)
	ctx := context.Background()
	if err := m.Validate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	got, err := m.Warnings(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`entity Opportunity: discriminator kind = "opportunity" matches no row of crm.deals (values present: "deal", "lead")`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}
