package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/schema/sample"
)

// TestSetupCommandTwice runs "walhook setup" twice on the sample CRM: the first run
// applies every step, the second has nothing to do, and then walhook run's check passes.
func TestSetupCommandTwice(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	const slot = "walhook_cmd_setup"
	t.Cleanup(func() { dropSlot(t, dsn, slot) })
	env := envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": dsn, "WALHOOK_SLOT": slot})

	var results [2]map[string]string
	for i := range results {
		var stdout, stderr bytes.Buffer
		if err := setup(ctx, nil, env, &stdout, &stderr); err != nil {
			t.Fatalf("setup run %d: %v\n%s", i+1, err, stderr.String())
		}
		results[i] = testlog.SetupSteps(t, stderr.String())
	}
	if len(results[0]) == 0 {
		t.Fatal("first setup logged no steps")
	}
	for step, result := range results[0] {
		if result != "applied" {
			t.Errorf("first setup: step %q: %s, want applied", step, result)
		}
		if r := results[1][step]; r != "nothing to do" {
			t.Errorf("second setup: step %q: %q, want nothing to do", step, r)
		}
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m, err := mapping.Load("")
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Check(ctx, conn, m, schema.Options{Slot: slot}); err != nil {
		t.Errorf("Check after walhook setup: %v", err)
	}
}

func TestSetupCommandPrintSQLNeedsNoDatabase(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := setup(context.Background(), []string{"--print-sql"}, envconfig.MapLookuper(nil), &stdout, &stderr); err != nil {
		t.Fatalf("setup --print-sql: %v", err)
	}
	for _, want := range []string{"BEGIN;", "CREATE PUBLICATION", "REPLICA IDENTITY FULL", "COMMIT;", "pg_create_logical_replication_slot('walhook', 'pgoutput')"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("printed SQL lacks %q", want)
		}
	}
}

func TestSetupCommandNeedsDatabaseURL(t *testing.T) {
	err := setup(context.Background(), nil, envconfig.MapLookuper(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "WALHOOK_DATABASE_URL is required") {
		t.Fatalf("setup without WALHOOK_DATABASE_URL = %v", err)
	}
}

func dropSlot(t *testing.T, dsn, slot string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Logf("drop slot %s: %v", slot, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot); err != nil {
		t.Logf("drop slot %s: %v", slot, err)
	}
}

// TestSetupSaysSlotCreationWaits: with a transaction open that has written, "walhook
// setup" says that creating the slot waits for it, and finishes once it ends.
func TestSetupSaysSlotCreationWaits(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	const slot = "walhook_cmd_setup_waits"
	t.Cleanup(func() { dropSlot(t, dsn, slot) })
	blocker, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close(ctx)
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.txid_current()"); err != nil { // takes an xid
		t.Fatal(err)
	}

	var stderr testlog.Buffer
	env := envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": dsn, "WALHOOK_SLOT": slot})
	done := make(chan error, 1)
	go func() { done <- setup(ctx, nil, env, &bytes.Buffer{}, &stderr) }()
	testwait.Until(t, 30*time.Second, "setup to say it waits for the open transaction", func() (bool, string, error) {
		select {
		case err := <-done:
			return false, "", fmt.Errorf("setup ended (%v) without saying it waits for the open transaction:\n%s", err, stderr.String())
		default:
		}
		return strings.Contains(stderr.String(), "waits for open transactions"), "setup's log so far:\n" + stderr.String(), nil
	})
	if !strings.Contains(stderr.String(), `"open_transactions":1`) {
		t.Errorf("the warning does not count one open transaction:\n%s", stderr.String())
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("setup: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("setup still waits 30s after the transaction ended:\n%s", stderr.String())
	}
}
