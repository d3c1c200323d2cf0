package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/walhook/walhook/internal/testwait"
)

// webhookOp POSTs to …/Webhooks/{id}/{op} (pause, resume) and returns the webhook's
// status as answered.
func webhookOp(tb testing.TB, base, id, op string) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+webhooksPath+"/"+id+"/"+op, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", op, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Success bool
		Data    struct{ Status string }
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &env) != nil || !env.Success {
		tb.Fatalf("POST …/%s/%s: %s: %s", id, op, resp.Status, body)
	}
	return env.Data.Status
}

// TestPauseHoldsEventsAndSlotAdvances runs the binary: while a webhook is paused, CRM
// writes reach it not at all, are held in the durable queue, and the slot's confirmed
// position moves past them (a paused webhook never pins WAL); after resume every held
// event arrives, in commit order.
func TestPauseHoldsEventsAndSlotAdvances(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-0000000a05ed")
	p := startWalhook(t, env)
	p.waitReady(t)
	id := registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)

	if st := webhookOp(t, p.base, id, "pause"); st != "paused" {
		t.Fatalf("pause answered status %q", st)
	}
	queued := func() (rows, items int) {
		if err := conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(items), 0) FROM walhook.delivery_queue
			WHERE webhook_id = $1 AND state = 'pending'`, id).Scan(&rows, &items); err != nil {
			t.Fatalf("count queued chunks: %v", err)
		}
		return rows, items
	}
	// Probe until the running matcher has the pause: the probe's event is then held.
	n := 0
	testwait.Until(t, 30*time.Second, "the pause to take effect", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		if rows, _ := queued(); rows > 0 {
			return true, "", nil
		}
		n++
		_, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("pause probe %d", n))
		return false, fmt.Sprintf("%d probes, none held", n), err
	})
	_, heldBefore := queued()

	// Paused: a new task and 20 updates of it, one transaction each.
	var task string
	if err := conn.QueryRow(ctx, `INSERT INTO crm.tasks (subject) VALUES ('held task') RETURNING id::text`).Scan(&task); err != nil {
		t.Fatal(err)
	}
	const updates = 20
	for k := range updates {
		if _, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = $1 WHERE id = $2`, fmt.Sprintf("held %d", k), task); err != nil {
			t.Fatal(err)
		}
	}
	var end pglogrepl.LSN
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()`).Scan(&end); err != nil {
		t.Fatal(err)
	}
	slot := env["WALHOOK_SLOT"]
	testwait.Until(t, time.Minute, "the held events queued and the slot past them", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		var confirmed pglogrepl.LSN
		if err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&confirmed); err != nil {
			return false, "", err
		}
		_, items := queued()
		return confirmed >= end && items >= heldBefore+1+updates,
			fmt.Sprintf("confirmed_flush_lsn %s, want ≥ %s; %d items queued, want %d", confirmed, end, items, heldBefore+1+updates), nil
	})
	if got := r.entityIDs("Task.Update")[task]; len(got) != 0 || len(r.entityIDs("Task.Create")[task]) != 0 {
		t.Fatalf("paused webhook received %d events of the held task", len(got))
	}

	if st := webhookOp(t, p.base, id, "resume"); st != "active" {
		t.Fatalf("resume answered status %q", st)
	}
	testwait.Until(t, time.Minute, "every held event", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		got := len(r.entityIDs("Task.Update")[task])
		return got >= updates, fmt.Sprintf("%d of %d updates received", got, updates), nil
	})
	var order []string // the held task's events, in order of receipt
	for _, ev := range r.events() {
		if ev.head.EntityID == task {
			order = append(order, ev.head.ID)
		}
	}
	// Event ids begin with the commit LSN in fixed-width hex: sorted is commit order.
	if len(order) != updates+1 || !slices.IsSorted(order) || !strings.HasSuffix(order[0], "Task.Create") {
		t.Errorf("held task's events in order of receipt:\n%s\nwant its Create and %d updates, in commit order", strings.Join(order, "\n"), updates)
	}
	if _, dups := r.stats(); dups != 0 {
		t.Errorf("%d item copies delivered twice", dups)
	}
	r.checkNoProblems(t)
}
