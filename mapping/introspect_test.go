package mapping_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
)

const introSQL = `
CREATE SCHEMA crm;
CREATE TABLE crm.users (id char(36) PRIMARY KEY, user_name text);
CREATE TABLE crm.accounts (id char(36) PRIMARY KEY, name text, assigned_user_id char(36) REFERENCES crm.users, deleted boolean NOT NULL DEFAULT false);
CREATE TABLE crm.contacts (id char(36) PRIMARY KEY, last_name text, "deletedAt" timestamptz);
CREATE TABLE crm.opportunities (id char(36) PRIMARY KEY, name text, sales_stage text);
CREATE TABLE crm.accounts_contacts (account_id char(36) REFERENCES crm.accounts, contact_id char(36) REFERENCES crm.contacts,
  PRIMARY KEY (account_id, contact_id));
CREATE TABLE crm.notes (id char(36) PRIMARY KEY, parent_type text, parent_id char(36), description text);
`

// TestIntrospectWritesAValidStarter introspects a small SuiteCRM-like schema: the starter
// names Pipeliner entities, keys (composite too), owner and both kinds of soft delete,
// comments out the stage transitions and the polymorphic link, and validates as written.
func TestIntrospectWritesAValidStarter(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewDatabase(t, introSQL))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	text, err := mapping.Introspect(ctx, conn, []string{"crm"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  Account:   # guessed from the table name accounts\n    table: crm.accounts\n    key: id   # the primary key\n",
		"    owner: assigned_user_id   # guess: a change raises Account.OwnerChanged\n",
		"    soft_delete: {field: deleted, value: true}   # guess: the boolean column flags deleted rows\n",
		"    soft_delete: {field: deletedAt, not_null: true}",
		"  AccountsContact:   # guessed from the table name accounts_contacts\n    table: crm.accounts_contacts\n    key: [account_id, contact_id]",
		"    #   - {action: Won, field: sales_stage, to: FIXME}\n",
		"  - table: crm.accounts_contacts\n",
		"    parent: {entity: Account, field: account_id}\n    related: {entity: Contact, field: contact_id}\n",
		"  # - table: crm.notes\n",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("starter lacks %q:\n%s", want, text)
		}
	}
	m, err := mapping.Parse(text)
	if err != nil {
		t.Fatalf("the starter does not parse: %v\n%s", err, text)
	}
	if err := m.Validate(ctx, conn); err != nil {
		t.Fatalf("the starter does not validate: %v", err)
	}
	desc := strings.Join(m.Describe(), "\n")
	for _, want := range []string{
		"crm.accounts:\n  entity Account (key id): INSERT → Account.Create; UPDATE → Account.Update, + Account.OwnerChanged when assigned_user_id changes; UPDATE making deleted = true → Account.Delete (only); DELETE → Account.Delete (nothing when already soft-deleted)",
		"crm.accounts_contacts:\n  entity AccountsContact (key [account_id, contact_id]): raises nothing (lookup entity: expand and related_entity only)\n  link: INSERT → Account.DocumentLinked on the parent Account (by account_id); related entity Contact; an UPDATE that makes a row a link raises it too",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe lacks %q:\n%s", want, desc)
		}
	}
}
