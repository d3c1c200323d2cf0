package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/internal/pgtest"
)

// TestMappingInitThenCheck runs "walhook mapping init" on the SuiteCRM example schema and
// "walhook mapping check" on the example's own mapping, then on a broken one.
func TestMappingInitThenCheck(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join("..", "..", "schema", "examples", "suitecrm")
	sql, err := os.ReadFile(filepath.Join(dir, "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	dsn := pgtest.NewDatabase(t, string(sql))
	out := filepath.Join(t.TempDir(), "starter.yaml")
	env := envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": dsn})
	if err := mappingCmd(ctx, []string{"init", "-schemas", "suite", "-o", out}, env, &bytes.Buffer{}); err != nil {
		t.Fatalf("mapping init: %v", err)
	}
	starter, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  Account:   # guessed from the table name accounts", "soft_delete: {field: deleted, value: 1}",
		"owner: assigned_user_id", "#   - {action: Won, field: sales_stage, to: FIXME}"} {
		if !strings.Contains(string(starter), want) {
			t.Errorf("starter lacks %q", want)
		}
	}

	var stdout bytes.Buffer
	env = envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": dsn, "WALHOOK_MAPPING_FILE": filepath.Join(dir, "mapping.yaml")})
	if err := mappingCmd(ctx, []string{"check"}, env, &stdout); err != nil {
		t.Fatalf("mapping check: %v", err)
	}
	for _, want := range []string{
		"suite.opportunities:\n  entity Opportunity (key id): INSERT → Opportunity.Create; UPDATE → Opportunity.Update, + Opportunity.OwnerChanged when assigned_user_id changes, + Opportunity.Move when sales_stage changes, + Opportunity.Won when sales_stage changes to Closed Won",
		"suite.notes:\n  entity Note (key id): raises nothing",
		"mapping OK: 9 entities, 3 links, 9 tables\n",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout.String())
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("entities:\n  Opportunity:\n    table: suite.opportunities\n    key: name\n    transitions: [{action: Wonn, field: sales_stage, to: Closed Won}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env = envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": dsn, "WALHOOK_MAPPING_FILE": bad})
	err = mappingCmd(ctx, []string{"check"}, env, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `unknown action "Wonn"; did you mean Won?`) {
		t.Errorf("check of a typo = %v", err)
	}
	if err := mappingCmd(ctx, nil, env, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "want a subcommand") {
		t.Errorf("mapping without a subcommand = %v", err)
	}
}
