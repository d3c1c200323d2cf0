package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/walhook/walhook/internal/testwait"
)

// backfillState is GET …/{id}/backfill's data.
type backfillState struct {
	ID         string   `json:"id"`
	State      string   `json:"state"`
	Entities   []string `json:"entities"`
	RowsDone   int64    `json:"rows_done"`
	RowsTotal  int64    `json:"rows_total"`
	RowsReread int64    `json:"rows_reread"`
}

// backfillCall calls …/Webhooks/{id}/backfill with method and body ("" for none) and
// returns the status and, when the call succeeded, the backfill.
func backfillCall(tb testing.TB, base, id, method, body string) (int, backfillState, string) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, base+webhooksPath+"/"+id+"/backfill", rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		tb.Fatalf("%s backfill: %v", method, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var env struct {
		Success bool
		Data    backfillState
	}
	if resp.StatusCode < 300 {
		if err := json.Unmarshal(msg, &env); err != nil || !env.Success {
			tb.Fatalf("%s backfill: %s: %s (%v)", method, resp.Status, msg, err)
		}
	}
	return resp.StatusCode, env.Data, string(msg)
}

// insertBackfillTasks inserts n tasks in one transaction and returns the ids of every live task.
func insertBackfillTasks(tb testing.TB, dsn string, n int) map[string]bool {
	tb.Helper()
	ctx := context.Background()
	conn := crmConn(tb, dsn)
	if _, err := conn.Exec(ctx, `INSERT INTO crm.tasks (subject, description)
		SELECT 'backfill ' || i, 'original ' || i FROM generate_series(1, $1) AS i`, n); err != nil {
		tb.Fatal(err)
	}
	rows, _ := conn.Query(ctx, `SELECT id::text FROM crm.tasks WHERE NOT is_deleted`)
	ids := map[string]bool{}
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			tb.Fatal(err)
		}
		ids[id] = true
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return ids
}

// itemData is the part of an item's data the backfill tests read.
type itemData struct {
	Data struct {
		Description *string `json:"description"`
	} `json:"data"`
}

// lastItems returns, per Task id, the description in the last item the receiver got for
// it (in order of receipt), and the ids that got a Task.Backfill item.
func lastItems(tb testing.TB, r *receiver) (last map[string]string, backfilled map[string]bool) {
	tb.Helper()
	last, backfilled = map[string]string{}, map[string]bool{}
	for _, ev := range r.events() {
		if ev.head.Entity != "Task" {
			continue
		}
		var it itemData
		if err := json.Unmarshal(ev.raw, &it); err != nil {
			tb.Fatalf("item %s: %v", ev.head.ID, err)
		}
		if it.Data.Description != nil {
			last[ev.head.EntityID] = *it.Data.Description
		}
		if ev.head.Event == "Task.Backfill" {
			backfilled[ev.head.EntityID] = true
		}
	}
	return last, backfilled
}

// TestBackfillConsistentWithLiveStream (DESIGN.md §14): 2,000 existing tasks are
// backfilled to a webhook that also gets the live stream, while 200 updates of them run,
// many of them just ahead of the backfill's cursor. Every task arrives as a Task.Backfill
// item, and for every updated task the last item received carries the new value: no
// backfill row reaches the receiver stale after its newer live event.
func TestBackfillConsistentWithLiveStream(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, map[string]string{"WALHOOK_BACKFILL_CHUNK_ROWS": "40"})
	ids := insertBackfillTasks(t, dsn, 2000)
	var minID int64 = 1 << 62
	for id := range ids {
		n, _ := strconv.ParseInt(id, 10, 64)
		minID = min(minID, n)
	}
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-0000000bf111")
	p := startWalhook(t, env)
	p.waitReady(t)
	id := registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)

	status, b, msg := backfillCall(t, p.base, id, http.MethodPost, `{"entities": ["Task"], "rate": 250}`)
	if status != http.StatusAccepted || b.State != "running" {
		t.Fatalf("POST backfill: %d %s", status, msg)
	}
	if status, _, msg := backfillCall(t, p.base, id, http.MethodPost, `{"entities": ["Task"]}`); status != http.StatusConflict {
		t.Fatalf("second POST backfill while one runs: %d %s, want 409", status, msg)
	}

	// Updates while it runs, one transaction each, until it is done: mostly of the rows
	// just past its cursor (the chunk being read, so that they land inside its window),
	// some anywhere.
	want := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	var cursor int64
	for k := 0; ; k++ {
		var state string
		var after []string
		if err := conn.QueryRow(ctx, `SELECT state, after_key FROM walhook.backfills WHERE id = $1`, b.ID).Scan(&state, &after); err != nil {
			t.Fatal(err)
		}
		if state != "running" || k == 20000 {
			break
		}
		if len(after) == 1 {
			cursor, _ = strconv.ParseInt(after[0], 10, 64)
		} else {
			cursor = minID - 1
		}
		target := cursor + 1 + rng.Int64N(40)
		if k%4 == 0 {
			target = minID + rng.Int64N(2000)
		}
		tid := strconv.FormatInt(target, 10)
		if !ids[tid] {
			continue
		}
		val := fmt.Sprintf("updated %d", k)
		if _, err := conn.Exec(ctx, `UPDATE crm.tasks SET description = $1 WHERE id = $2`, val, target); err != nil {
			t.Fatal(err)
		}
		want[tid] = val
	}
	if len(want) < 200 {
		t.Fatalf("only %d tasks were updated while the backfill ran; the test needs 200", len(want))
	}

	testwait.Until(t, 2*time.Minute, "the backfill done and every task received", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		_, cur, _ := backfillCall(t, p.base, id, http.MethodGet, "")
		last, backfilled := lastItems(t, r)
		stale := 0
		for tid, v := range want {
			if last[tid] != v {
				stale++
			}
		}
		return cur.State == "done" && len(backfilled) == len(ids) && stale == 0,
			fmt.Sprintf("backfill %s %d/%d rows (%d reread); %d of %d tasks backfilled; %d updated tasks without their new value last",
				cur.State, cur.RowsDone, cur.RowsTotal, cur.RowsReread, len(backfilled), len(ids), stale), nil
	})
	last, backfilled := lastItems(t, r)
	for tid := range backfilled {
		if !ids[tid] {
			t.Errorf("task %s was backfilled but is not a live task", tid)
		}
	}
	for tid, v := range want {
		if last[tid] != v {
			t.Errorf("task %s: last item carries description %q, want the update's %q", tid, last[tid], v)
		}
	}
	_, done, _ := backfillCall(t, p.base, id, http.MethodGet, "")
	if done.RowsDone != int64(len(ids)) || done.RowsTotal != int64(len(ids)) {
		t.Errorf("backfill progress %d/%d, want %d/%d", done.RowsDone, done.RowsTotal, len(ids), len(ids))
	}
	left, _ := p.metric("walhook_backfill_rows_left_out_total")
	t.Logf("%d tasks backfilled, %d updated during it; %v rows left out of their chunk and read again (%d reread)",
		len(backfilled), len(want), left, done.RowsReread)
	if left == 0 {
		t.Errorf("no row changed inside a chunk's window: the test did not exercise the watermarks")
	}
	r.checkNoProblems(t)
	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Errorf("walhook run after SIGTERM: exit code %d", code)
	}
}

// TestBackfillResumesAfterSIGKILL: a backfill interrupted by SIGKILL goes on when walhook
// starts again, from its cursor, and completes: every task arrives.
func TestBackfillResumesAfterSIGKILL(t *testing.T) {
	dsn, env := setupE2E(t, map[string]string{"WALHOOK_BACKFILL_CHUNK_ROWS": "50"})
	ids := insertBackfillTasks(t, dsn, 2000)
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-0000000bf222")
	p := startWalhook(t, env)
	p.waitReady(t)
	id := registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.Delete"}, "signature": r.secret})

	if status, _, msg := backfillCall(t, p.base, id, http.MethodPost, `{"entities": ["Task"], "rate": 1000}`); status != http.StatusAccepted {
		t.Fatalf("POST backfill: %d %s", status, msg)
	}
	testwait.Until(t, time.Minute, "a quarter of the backfill read", func() (bool, string, error) {
		_, cur, _ := backfillCall(t, p.base, id, http.MethodGet, "")
		return cur.RowsDone >= 500, fmt.Sprintf("%d rows read", cur.RowsDone), p.checkRunning()
	})
	p.kill(t)
	var state string
	var done, total int64
	if err := crmConn(t, dsn).QueryRow(context.Background(), `SELECT state, rows_done, rows_total FROM walhook.backfills
		WHERE webhook_id = $1`, id).Scan(&state, &done, &total); err != nil {
		t.Fatal(err)
	}
	if state != "running" || done >= int64(len(ids)) {
		t.Fatalf("after SIGKILL the backfill is %s at %d/%d rows: it was not interrupted", state, done, total)
	}
	p2 := startWalhook(t, env)
	p2.waitReady(t)
	testwait.Until(t, 2*time.Minute, "the resumed backfill done and every task received", func() (bool, string, error) {
		_, backfilled := lastItems(t, r)
		_, cur, _ := backfillCall(t, p2.base, id, http.MethodGet, "")
		return cur.State == "done" && len(backfilled) == len(ids),
			fmt.Sprintf("backfill %s %d/%d; %d of %d tasks received", cur.State, cur.RowsDone, cur.RowsTotal, len(backfilled), len(ids)), p2.checkRunning()
	})
	t.Logf("killed at %d of %d rows read; resumed and completed", done, total)
	r.checkNoProblems(t)
}

// TestBackfillDoneButUndeliveredSurvivesSIGKILL: a backfill whose every chunk the reader
// has taken is done, while its rows still wait for a receiver that holds every request;
// walhook is killed then. The restarted walhook delivers every row: a chunk's low
// watermark is acknowledged with the chunk's delivery, not when the chunk is read, so the
// slot restarts before the window, never between it and its chunk.
func TestBackfillDoneButUndeliveredSurvivesSIGKILL(t *testing.T) {
	dsn, env := setupE2E(t, map[string]string{"WALHOOK_BACKFILL_CHUNK_ROWS": "50"})
	ids := insertBackfillTasks(t, dsn, 200)
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-0000000bf333")
	p := startWalhook(t, env)
	p.waitReady(t)
	id := registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.Delete"}, "signature": r.secret})
	r.hold()
	if status, _, msg := backfillCall(t, p.base, id, http.MethodPost, `{"entities": ["Task"], "rate": 100000}`); status != http.StatusAccepted {
		t.Fatalf("POST backfill: %d %s", status, msg)
	}
	testwait.Until(t, time.Minute, "the backfill done while its rows wait for the receiver", func() (bool, string, error) {
		_, cur, _ := backfillCall(t, p.base, id, http.MethodGet, "")
		return cur.State == "done" && r.heldNow() > 0, fmt.Sprintf("backfill %s, %d requests held", cur.State, r.heldNow()), p.checkRunning()
	})
	p.kill(t)
	r.release()
	p2 := startWalhook(t, env)
	p2.waitReady(t)
	testwait.Until(t, 2*time.Minute, "every task received after the restart", func() (bool, string, error) {
		_, backfilled := lastItems(t, r)
		return len(backfilled) == len(ids), fmt.Sprintf("%d of %d tasks received", len(backfilled), len(ids)), p2.checkRunning()
	})
	r.checkNoProblems(t)
}
