package mapping_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema/sample"
)

const leadOppty = `
entities:
  Lead:
    table: crm.lead_oppty
    key: id
    discriminator: {field: record_type, value: lead}
  Opportunity:
    table: crm.lead_oppty
    key: id
    discriminator: {field: record_type, value: opportunity}
    transitions:
      - {action: Qualify, from: Lead}
  Task:
    table: crm.tasks
    key: id
  TaskComment:
    table: crm.task_comments
    key: id
    events: false
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings, each in its own problem
	}{
		{"unknown key", "entities:\n  Account:\n    table: crm.accounts\n    key: id\n    tabel: x\n",
			[]string{`entity Account: unknown key "tabel" (line 5)`}},
		{"unknown top-level key", "entitys:\n  Account: {table: crm.accounts, key: id}\n",
			[]string{`unknown key "entitys" (line 1)`}},
		{"unknown link key", leadOppty + "links:\n  - table: crm.task_comments\n    acton: Comment\n",
			[]string{`link crm.task_comments: unknown key "acton"`}},
		{"bad from", strings.Replace(leadOppty, "from: Lead", "from: Leed", 1),
			[]string{`entity Opportunity: transitions[0].from: unknown entity "Leed"`}},
		{"from another table", strings.Replace(leadOppty, "from: Lead", "from: Task", 1),
			[]string{`entity Opportunity: transitions[0].from: entity Task is stored in crm.tasks, not crm.lead_oppty`}},
		{"shared table without discriminator", strings.Replace(leadOppty, "    discriminator: {field: record_type, value: lead}\n", "", 1),
			[]string{"entity Lead: discriminator: required, because table crm.lead_oppty also holds Opportunity"}},
		{"overlapping discriminators", strings.Replace(leadOppty, "value: opportunity", "value: [opportunity, lead]", 1),
			[]string{"entities Lead and Opportunity: discriminator record_type = lead matches both"}},
		{"missing key and table", "entities:\n  Account: {owner: owner_id}\n",
			[]string{"entity Account: table: required", "entity Account: key: required"}},
		{"empty entity", "entities:\n  Account:\n", []string{"entity Account: empty definition"}},
		{"bad entity name", "entities:\n  1Account: {table: crm.accounts, key: id}\n",
			[]string{"entity 1Account: the name must be an identifier"}},
		{"reserved entity name", "entities:\n  CustomEntity: {table: crm.ce_bids, key: id}\n",
			[]string{"entity CustomEntity: the name is reserved"}},
		{"quoted table", "entities:\n  Unit: {table: 'crm.\"SalesUnit\"', key: id}\n",
			[]string{`entity Unit: table: parse table "crm.\"SalesUnit\"": write identifiers without quotes`}},
		{"null value", "entities:\n  A: {table: t, key: id, soft_delete: {field: d, value: ~}}\n",
			[]string{"entity A: soft_delete.value: required"}},
		{"mapping as value", "entities:\n  A: {table: t, key: id, soft_delete: {field: d, value: {x: 1}}}\n",
			[]string{"entity A: want a scalar or a list of scalars (line 2)"}},
		{"owner names a renamed column", "entities:\n  A: {table: t, key: id, owner: ownerId, fields: {owner_id: ownerId}}\n",
			[]string{"entity A: owner: ownerId is a column renamed to owner_id; use the API name"}},
		{"condition on an excluded column", "entities:\n  A: {table: t, key: id, exclude: [d], soft_delete: {field: d, value: true}}\n",
			[]string{"entity A: soft_delete.field: d is an excluded column"}},
		{"excluded key", "entities:\n  A: {table: t, key: id, exclude: [id]}\n",
			[]string{"entity A: exclude: the key column id cannot be excluded"}},
		{"transition with a row action", "entities:\n  A: {table: t, key: id, transitions: [{action: Update, field: x}]}\n",
			[]string{"entity A: transitions[0].action: Update is raised by every row change"}},
		{"transition without field", "entities:\n  A: {table: t, key: id, transitions: [{action: Won}]}\n",
			[]string{"entity A: transitions[0]: field, when or from required"}},
		{"transitions on a lookup", "entities:\n  A: {table: t, key: id, events: false, transitions: [{action: Won, field: s}]}\n",
			[]string{"entity A: transitions: a lookup entity (events: false) raises no events"}},
		{"unknown relation target", "entities:\n  A: {table: t, key: id, relations: {b: {entity: B, column: b_id}}}\n",
			[]string{`entity A: relations.b.entity: unknown entity "B"`}},
		{"unknown link parent", leadOppty + "links:\n  - {table: crm.task_comments, action: Comment, parent: {entity: Tsk, field: task_id}, related: {entity: TaskComment}}\n",
			[]string{`link crm.task_comments: parent.entity: unknown entity "Tsk"`}},
		{"unknown link type entity", leadOppty + "links:\n  - {table: crm.document_links, action: DocumentLinked, parent: {type_field: t, field: i, types: {lead: Lead, bid: CE_Bd}}, related: {entity: Task, field: task_id}}\n",
			[]string{`link crm.document_links: parent.types.bid: unknown entity "CE_Bd"`}},
		{"lookup link parent", leadOppty + "links:\n  - {table: crm.task_comments, action: Comment, parent: {entity: TaskComment, field: id}, related: {entity: TaskComment}}\n",
			[]string{"parent.entity: entity TaskComment is a lookup entity (events: false) and raises nothing"}},
		{"unknown link related", leadOppty + "links:\n  - {table: crm.task_comments, action: Comment, parent: {entity: Task, field: task_id}, related: {entity: Coment}}\n",
			[]string{`link crm.task_comments: related.entity: unknown entity "Coment"`}},
		{"related row elsewhere", leadOppty + "links:\n  - {table: crm.task_notes, action: Comment, parent: {entity: Task, field: task_id}, related: {entity: TaskComment}}\n",
			[]string{"link crm.task_notes: related: without field the link row is the related row, so entity TaskComment must be stored in crm.task_notes"}},
		{"link parent both ways", leadOppty + "links:\n  - {table: x, action: Comment, parent: {entity: Task, type_field: t, field: f}, related: {entity: Task, field: f}}\n",
			[]string{"link x: parent: entity and type_field exclude each other"}},
		{"two links on one table", leadOppty + "links:\n  - {table: x, action: A, parent: {entity: Task, field: f}, related: {entity: Task, field: f}}\n  - {table: x, action: B, parent: {entity: Task, field: f}, related: {entity: Task, field: f}}\n",
			[]string{"link x: table: public.x already has a link"}},
		{"duplicate entity", "entities:\n  A: {table: t, key: id}\n  A: {table: u, key: id}\n",
			[]string{`mapping key "A" already defined at line 2`}},
		{"no entities", "links: []\n", []string{"entities: at least one entity is required"}},
		{"empty document", "# nothing\n", []string{"empty document"}},
		{"not a mapping", "- a\n- b\n", []string{"line 1: the document must be a mapping"}},
		{"syntax error", "entities: {A: [\n", []string{"line"}},
		{"two documents", "entities:\n  A: {table: t, key: id}\n---\nentities: {}\n", []string{"single YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mapping.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse succeeded, want problems %q", tt.want)
			}
			got := problemsOf(t, err)
			for _, want := range tt.want {
				if !containsSubstring(got, want) {
					t.Errorf("problems %q lack %q", got, want)
				}
			}
		})
	}
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestParseReportsEveryProblem(t *testing.T) {
	doc := "entities:\n  A: {table: t}\n  B: {key: id, tabel: x}\n  C: {table: u, key: id, transitions: [{action: Qualify, from: Z}]}\n"
	_, err := mapping.Parse([]byte(doc))
	// Unknown keys are found by the decoder, before the rest is checked.
	if diff := cmp.Diff([]string{`entity B: unknown key "tabel" (line 3)`}, problemsOf(t, err)); diff != "" {
		t.Errorf("decoder problems mismatch (-want +got):\n%s", diff)
	}
	doc = strings.Replace(doc, ", tabel: x", "", 1)
	_, err = mapping.Parse([]byte(doc))
	want := []string{
		"entity A: key: required (a column, or a list of columns for a composite key)",
		"entity B: table: required",
		`entity C: transitions[0].from: unknown entity "Z"`,
	}
	if diff := cmp.Diff(want, problemsOf(t, err)); diff != "" {
		t.Errorf("problems mismatch (-want +got):\n%s", diff)
	}
}

func TestParseConditionValuesAreCanonical(t *testing.T) {
	m := mustParse(t, `
entities:
  A:
    table: Sales.Deals
    key: dealId
    soft_delete: {field: state, value: [true, False, "true", 1.50, 007, yes, Lost]}
    discriminator: {field: kind, value: 2}
    transitions:
      - {action: Won, field: state, to: Won}
      - {action: Move, field: step}
`)
	e := m.Entity("A")
	want := &mapping.Entity{
		Name:          "A",
		Events:        true,
		Table:         mapping.Table{Schema: "Sales", Name: "Deals"},
		Tables:        []mapping.Table{{Schema: "Sales", Name: "Deals"}},
		Key:           "dealId",
		Keys:          []string{"dealId"},
		SoftDelete:    &mapping.Condition{Clauses: []mapping.Clause{{Field: "state", Values: []string{"true", "false", "true", "1.50", "007", "yes", "Lost"}}}},
		Discriminator: &mapping.Condition{Clauses: []mapping.Clause{{Field: "kind", Values: []string{"2"}}}},
		Fields:        map[string]string{},
		Transitions: []mapping.Transition{
			{Action: "Won", Field: "state", To: []string{"Won"}},
			{Action: "Move", Field: "step"},
		},
		Relations: map[string]*mapping.Relation{},
	}
	if diff := cmp.Diff(want, e, cmpopts.IgnoreUnexported(mapping.Entity{})); diff != "" {
		t.Errorf("entity mismatch (-want +got):\n%s", diff)
	}
}

func TestParseKeepsEntityOrder(t *testing.T) {
	m := mustParse(t, "entities:\n  Zeta: {table: z, key: id}\n  Alpha: {table: a, key: id}\n  Mid: {table: m, key: id}\n")
	var got []string
	for _, e := range m.Entities {
		got = append(got, e.Name)
	}
	if diff := cmp.Diff([]string{"Zeta", "Alpha", "Mid"}, got); diff != "" {
		t.Errorf("entity order mismatch (-want +got):\n%s", diff)
	}
}

func TestDefaultMapping(t *testing.T) {
	m := mapping.Default()
	if len(m.Entities) == 0 || len(m.Links) != 3 {
		t.Fatalf("Default() has %d entities and %d links", len(m.Entities), len(m.Links))
	}
	if m2 := mapping.Default(); m2 == m || m2.Entity("Account") == m.Entity("Account") {
		t.Error("Default() returned a shared mapping, want a fresh copy")
	}
}

func TestLoad(t *testing.T) {
	m, err := mapping.Load("")
	if err != nil || m.Entity("CE_Bid") == nil {
		t.Fatalf(`Load("") = %v, %v; want the sample mapping`, m, err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, sample.MappingYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mapping.Load(good); err != nil {
		t.Errorf("Load(%s): %v", good, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("entities:\n  A: {table: t}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = mapping.Load(bad)
	if want := "mapping " + bad + ": entity A: key: required (a column, or a list of columns for a composite key)"; err == nil || err.Error() != want {
		t.Errorf("Load(bad) = %v, want %q", err, want)
	}
	_, err = mapping.Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || errors.Is(err, mapping.ErrInvalid) {
		t.Errorf("Load(missing) = %v, want a not-exist error that is not ErrInvalid", err)
	}
}

func TestParseTable(t *testing.T) {
	tests := []struct {
		in      string
		want    mapping.Table
		wantErr bool
	}{
		{"crm.accounts", mapping.Table{Schema: "crm", Name: "accounts"}, false},
		{"accounts", mapping.Table{Schema: "public", Name: "accounts"}, false},
		{"crm.SalesUnit", mapping.Table{Schema: "crm", Name: "SalesUnit"}, false},
		{"crm.odd.name", mapping.Table{Schema: "crm", Name: "odd.name"}, false},
		{"", mapping.Table{}, true},
		{"crm.", mapping.Table{}, true},
		{".accounts", mapping.Table{}, true},
		{`crm."SalesUnit"`, mapping.Table{}, true},
		{" crm.accounts", mapping.Table{}, true},
	}
	for _, tt := range tests {
		got, err := mapping.ParseTable(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseTable(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestEventNames(t *testing.T) {
	names := mapping.Default().EventNames()
	for _, want := range []string{
		"Opportunity.Won", "Opportunity.Move", "Opportunity.Qualify", "Opportunity.Lost",
		"Lead.BackToLead", "Lead.Lost", "Task.Comment", "Appointment.Comment",
		"Account.DocumentLinked", "Email.DocumentLinked", "Lead.DocumentLinked",
		"CustomEntity.Create", "CustomEntity.DocumentLinked", "CustomEntity.OwnerChanged", "CustomEntity.*",
		"Account.*", "Account.OwnerChanged", "OpptyProductRelation.Update", "Product.Delete",
	} {
		if !contains(names, want) {
			t.Errorf("EventNames() lacks %s", want)
		}
	}
	for _, absent := range []string{
		"Email.OwnerChanged", "Product.OwnerChanged", "Document.Create", "TaskComment.Create",
		"Client.*", "CE_Bid.Create", "Account.Comment", "*",
	} {
		if contains(names, absent) {
			t.Errorf("EventNames() has %s", absent)
		}
	}
}

func TestLookups(t *testing.T) {
	m := mapping.Default()
	leadOppty := mapping.Table{Schema: "crm", Name: "lead_oppty"}
	var names []string
	for _, e := range m.EntitiesFor(leadOppty) {
		names = append(names, e.Name)
	}
	if diff := cmp.Diff([]string{"Lead", "Opportunity"}, names); diff != "" {
		t.Errorf("EntitiesFor(%s) mismatch (-want +got):\n%s", leadOppty, diff)
	}
	comments := mapping.Table{Schema: "crm", Name: "task_comments"}
	if l := m.LinkFor(comments); l == nil || l.Action != event.ActionComment || l.Parent.Entity != "Task" {
		t.Errorf("LinkFor(%s) = %+v, want the Task.Comment link", comments, l)
	}
	if len(m.EntitiesFor(comments)) != 1 {
		t.Errorf("EntitiesFor(%s) = %v, want TaskComment", comments, m.EntitiesFor(comments))
	}
	audit := mapping.Table{Schema: "crm", Name: "audit_log"}
	if m.LinkFor(audit) != nil || m.EntitiesFor(audit) != nil || contains(tableNames(m.Tables()), "crm.audit_log") {
		t.Errorf("crm.audit_log is mapped, want it left out")
	}
	if m.Entity("Nope") != nil {
		t.Error(`Entity("Nope") != nil`)
	}
}

func tableNames(ts []mapping.Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func TestFieldsAndEvents(t *testing.T) {
	m := mapping.Default()
	opp, acc, bid := m.Entity("Opportunity"), m.Entity("Account"), m.Entity("CE_Bid")
	checks := []struct {
		name      string
		got, want any
	}{
		{"FieldName(closingDate)", pair(opp.FieldName("closingDate")), "closing_date true"},
		{"FieldName(status)", pair(opp.FieldName("status")), "status true"},
		{"FieldName(internal_notes)", pair(acc.FieldName("internal_notes")), " false"},
		{"Column(closing_date)", opp.Column("closing_date"), "closingDate"},
		{"Column(closingDate)", opp.Column("closingDate"), ""},
		{"Column(value)", opp.Column("value"), "value"},
		{"Column(internal_notes)", acc.Column("internal_notes"), ""},
		{"EventName(Won)", opp.EventName("Won"), "Opportunity.Won"},
		{"EventName custom", bid.EventName(event.ActionCreate), "CustomEntity.Create"},
		{"Lead owner column", m.Entity("Lead").Column(m.Entity("Lead").Owner), "owner_id"},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", c.name, diff)
		}
	}
}

func pair(s string, ok bool) string {
	if ok {
		return s + " true"
	}
	return s + " false"
}
