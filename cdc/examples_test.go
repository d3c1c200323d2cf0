package cdc

import (
	"os"
	"path/filepath"
	"testing"
)

// example reads schema/examples/<name>/{schema.sql,mapping.yaml}.
func example(t *testing.T, name string) (sql, mappingYAML string) {
	t.Helper()
	dir := filepath.Join("..", "schema", "examples", name)
	s, err := os.ReadFile(filepath.Join(dir, "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := os.ReadFile(filepath.Join(dir, "mapping.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(s), string(m)
}

// TestSuiteCRMExample drives a scripted day of SuiteCRM activity, written as SuiteCRM's ORM
// writes it (ids chosen by the application, deleted flags, relationship rows revived by
// UPDATE), through schema/examples/suitecrm and asserts exactly the events raised.
func TestSuiteCRMExample(t *testing.T) {
	sql, yml := example(t, "suitecrm")
	c := newCustomCRM(t, sql, yml)
	h := newCollector()
	startReader(t, c, h, nil)
	const (
		acme  = "a0000000-0000-0000-0000-0000000000a1"
		wile  = "c0000000-0000-0000-0000-0000000000c1"
		lead  = "1e000000-0000-0000-0000-0000000000e1"
		deal  = "0b000000-0000-0000-0000-0000000000b1"
		task  = "7a000000-0000-0000-0000-0000000000a7"
		doc   = "d0000000-0000-0000-0000-000000000001"
		sally = "seed_sally_id"
	)
	runSteps(t, c, h, []step{
		{"account created", `INSERT INTO suite.accounts (id, name, date_entered, date_modified, assigned_user_id, account_type)
			VALUES ('` + acme + `', 'Acme', now(), now(), '` + sally + `', 'Customer')`,
			[]gotEvent{{"Account.Create", "Account", acme}}},
		{"contact created and related to the account", `INSERT INTO suite.contacts (id, first_name, last_name, assigned_user_id, date_modified)
			VALUES ('` + wile + `', 'Wile E.', 'Coyote', '` + sally + `', now());
			INSERT INTO suite.accounts_contacts (id, contact_id, account_id, date_modified) VALUES ('ac-1', '` + wile + `', '` + acme + `', now())`,
			[]gotEvent{{"Contact.Create", "Contact", wile}, {"Account.ContactLinked", "Account", acme}}},
		{"lead created", `INSERT INTO suite.leads (id, last_name, status, assigned_user_id) VALUES ('` + lead + `', 'Runner', 'New', '` + sally + `')`,
			[]gotEvent{{"Lead.Create", "Lead", lead}}},
		{"lead dead", `UPDATE suite.leads SET status = 'Dead' WHERE id = '` + lead + `'`,
			[]gotEvent{{"Lead.Update", "Lead", lead}, {"Lead.Lost", "Lead", lead}}},
		{"opportunity created with its account relationship (an unmapped table)", `INSERT INTO suite.opportunities (id, name, amount, sales_stage, probability, assigned_user_id, date_modified)
			VALUES ('` + deal + `', 'Anvils', 12000, 'Prospecting', 10, '` + sally + `', now());
			INSERT INTO suite.accounts_opportunities (id, opportunity_id, account_id) VALUES ('ao-1', '` + deal + `', '` + acme + `')`,
			[]gotEvent{{"Opportunity.Create", "Opportunity", deal}}},
		{"stage moved", `UPDATE suite.opportunities SET sales_stage = 'Proposal/Price Quote', probability = 65, date_modified = now() WHERE id = '` + deal + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", deal}, {"Opportunity.Move", "Opportunity", deal}}},
		{"note on the opportunity", `INSERT INTO suite.notes (id, name, parent_type, parent_id, date_entered) VALUES ('n-1', 'Call notes', 'Opportunities', '` + deal + `', now())`,
			[]gotEvent{{"Opportunity.Comment", "Opportunity", deal}}},
		{"document related to the account", `INSERT INTO suite.documents_accounts (id, date_modified, document_id, account_id) VALUES ('da-1', now(), '` + doc + `', '` + acme + `')`,
			[]gotEvent{{"Account.DocumentLinked", "Account", acme}}},
		{"document relationship removed", `UPDATE suite.documents_accounts SET deleted = 1, date_modified = now() WHERE id = 'da-1'`, nil},
		{"document related again: the row is revived", `UPDATE suite.documents_accounts SET deleted = 0, date_modified = now() WHERE id = 'da-1'`,
			[]gotEvent{{"Account.DocumentLinked", "Account", acme}}},
		{"closed won", `UPDATE suite.opportunities SET sales_stage = 'Closed Won', probability = 100, date_modified = now() WHERE id = '` + deal + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", deal}, {"Opportunity.Move", "Opportunity", deal}, {"Opportunity.Won", "Opportunity", deal}}},
		{"account reassigned", `UPDATE suite.accounts SET assigned_user_id = 'seed_max_id', date_modified = now() WHERE id = '` + acme + `'`,
			[]gotEvent{{"Account.Update", "Account", acme}, {"Account.OwnerChanged", "Account", acme}}},
		{"task on the account, and a note on the task", `INSERT INTO suite.tasks (id, name, status, parent_type, parent_id, assigned_user_id)
			VALUES ('` + task + `', 'Send invoice', 'Not Started', 'Accounts', '` + acme + `', '` + sally + `');
			INSERT INTO suite.notes (id, name, parent_type, parent_id) VALUES ('n-2', 'Sent', 'Tasks', '` + task + `')`,
			[]gotEvent{{"Task.Create", "Task", task}, {"Task.Comment", "Task", task}}},
		{"note on an unmapped module", `INSERT INTO suite.notes (id, name, parent_type, parent_id) VALUES ('n-3', 'Bug', 'Cases', 'case-1')`, nil},
		{"note deleted", `UPDATE suite.notes SET deleted = 1 WHERE id = 'n-1'`, nil},
		{"contact unrelated, then related again", `UPDATE suite.accounts_contacts SET deleted = 1 WHERE id = 'ac-1';
			UPDATE suite.accounts_contacts SET deleted = 0 WHERE id = 'ac-1'`,
			[]gotEvent{{"Account.ContactLinked", "Account", acme}}},
		{"account deleted", `UPDATE suite.accounts SET deleted = 1, date_modified = now() WHERE id = '` + acme + `'`,
			[]gotEvent{{"Account.Delete", "Account", acme}}},
		{"an admin purges deleted rows: nothing more", `DELETE FROM suite.accounts WHERE deleted = 1`, nil},
	})
}
