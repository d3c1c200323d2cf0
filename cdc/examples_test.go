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

// TestTwentyExample drives a scripted day of Twenty activity through schema/examples/twenty
// — uuid keys, camelCase columns, deletedAt soft deletes and restores, note and task
// targets with one nullable foreign key per parent kind — and asserts exactly the events.
func TestTwentyExample(t *testing.T) {
	sql, yml := example(t, "twenty")
	c := newCustomCRM(t, sql, yml)
	h := newCollector()
	startReader(t, c, h, nil)
	const (
		ws     = `SET LOCAL search_path TO "workspace_1wgvd1injqtife6y4rvfbu3h5";`
		tim    = "20202020-0687-4c41-b707-ed1bfca972a7"
		phil   = "20202020-77d5-4cb6-b60a-f4a835a85d61"
		acme   = "0c000000-0000-4000-8000-000000000001"
		wile   = "0e000000-0000-4000-8000-000000000001"
		deal   = "0d000000-0000-4000-8000-000000000001"
		note   = "0a000000-0000-4000-8000-000000000001"
		nt     = "0a000000-0000-4000-8000-0000000000f1"
		task   = "07000000-0000-4000-8000-000000000001"
		target = "07000000-0000-4000-8000-0000000000f1"
	)
	runSteps(t, c, h, []step{
		{"company created", ws + `INSERT INTO "company" ("id", "name", "accountOwnerId") VALUES ('` + acme + `', 'Acme', '` + tim + `')`,
			[]gotEvent{{"Account.Create", "Account", acme}}},
		{"person created at the company", ws + `INSERT INTO "person" ("id", "nameFirstName", "nameLastName", "companyId") VALUES ('` + wile + `', 'Wile', 'Coyote', '` + acme + `')`,
			[]gotEvent{{"Contact.Create", "Contact", wile}}},
		{"opportunity created", ws + `INSERT INTO "opportunity" ("id", "name", "amountAmountMicros", "amountCurrencyCode", "companyId", "ownerId")
			VALUES ('` + deal + `', 'Anvils', 12000000000, 'USD', '` + acme + `', '` + tim + `')`,
			[]gotEvent{{"Opportunity.Create", "Opportunity", deal}}},
		{"note on the opportunity: the note, then its target", ws + `INSERT INTO "note" ("id", "title") VALUES ('` + note + `', 'Call');
			INSERT INTO "noteTarget" ("id", "noteId", "opportunityId") VALUES ('` + nt + `', '` + note + `', '` + deal + `')`,
			[]gotEvent{{"Opportunity.Comment", "Opportunity", deal}}},
		{"note edited: the note is no event", ws + `UPDATE "note" SET "bodyV2Markdown" = 'They want 40', "updatedAt" = now() WHERE "id" = '` + note + `'`, nil},
		{"task on the company", ws + `INSERT INTO "task" ("id", "title", "assigneeId") VALUES ('` + task + `', 'Send quote', '` + tim + `');
			INSERT INTO "taskTarget" ("id", "taskId", "companyId") VALUES ('` + target + `', '` + task + `', '` + acme + `')`,
			[]gotEvent{{"Task.Create", "Task", task}, {"Account.TaskLinked", "Account", acme}}},
		{"task target re-pointed from the company to the person", ws + `UPDATE "taskTarget" SET "companyId" = NULL, "personId" = '` + wile + `' WHERE "id" = '` + target + `'`,
			[]gotEvent{{"Contact.TaskLinked", "Contact", wile}}},
		{"stage moved", ws + `UPDATE "opportunity" SET "stage" = 'MEETING', "updatedAt" = now() WHERE "id" = '` + deal + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", deal}, {"Opportunity.Move", "Opportunity", deal}}},
		{"won", ws + `UPDATE "opportunity" SET "stage" = 'CUSTOMER', "updatedAt" = now() WHERE "id" = '` + deal + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", deal}, {"Opportunity.Move", "Opportunity", deal}, {"Opportunity.Won", "Opportunity", deal}}},
		{"account owner changed", ws + `UPDATE "company" SET "accountOwnerId" = '` + phil + `', "updatedAt" = now() WHERE "id" = '` + acme + `'`,
			[]gotEvent{{"Account.Update", "Account", acme}, {"Account.OwnerChanged", "Account", acme}}},
		{"note target deleted", ws + `UPDATE "noteTarget" SET "deletedAt" = now() WHERE "id" = '` + nt + `'`, nil},
		{"note target restored: linked again", ws + `UPDATE "noteTarget" SET "deletedAt" = NULL WHERE "id" = '` + nt + `'`,
			[]gotEvent{{"Opportunity.Comment", "Opportunity", deal}}},
		{"task done", ws + `UPDATE "task" SET "status" = 'DONE', "updatedAt" = now() WHERE "id" = '` + task + `'`,
			[]gotEvent{{"Task.Update", "Task", task}}},
		{"person deleted", ws + `UPDATE "person" SET "deletedAt" = now() WHERE "id" = '` + wile + `'`,
			[]gotEvent{{"Contact.Delete", "Contact", wile}}},
		{"person restored", ws + `UPDATE "person" SET "deletedAt" = NULL WHERE "id" = '` + wile + `'`,
			[]gotEvent{{"Contact.Update", "Contact", wile}}},
		{"opportunity deleted", ws + `UPDATE "opportunity" SET "deletedAt" = now() WHERE "id" = '` + deal + `'`,
			[]gotEvent{{"Opportunity.Delete", "Opportunity", deal}}},
		{"opportunity destroyed (cascading to its note targets): nothing more", ws + `DELETE FROM "opportunity" WHERE "id" = '` + deal + `'`, nil},
	})
}
