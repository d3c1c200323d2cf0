package main

// Fault tests of DESIGN.md §6 "never skip silently", "few duplicates" and the standby
// takeover, with the real binary against clusters of their own where the test replaces or
// starves the server.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgcluster"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/schema/sample"
)

// ownCluster starts a cluster for one test, with the sample CRM in database "crm", and
// returns it with the CRM's DSN. It is stopped when the test ends.
func ownCluster(tb testing.TB, opts pgcluster.Options) (*pgcluster.Cluster, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("start a cluster of the test's own: %v", err)
	}
	tb.Cleanup(func() { c.Stop() })
	pgtest.Exec(tb, c.DSN("postgres"), `CREATE DATABASE crm`)
	pgtest.Exec(tb, c.DSN("crm"), sample.CRMSQL)
	return c, c.DSN("crm")
}

// pgTool runs one of PostgreSQL's client programs and fails the test if it fails.
func pgTool(tb testing.TB, name string, args ...string) {
	tb.Helper()
	bin, err := pgcluster.BinDir()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, name), args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// walLSN returns the WAL insert position as text and as a number: the end of every commit
// made so far (pg_current_wal_lsn is the write position, which with synchronous_commit off
// can lag behind the last commit).
func walLSN(tb testing.TB, conn *pgx.Conn) (string, int64) {
	tb.Helper()
	var s string
	var n int64
	if err := conn.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()::text, (pg_current_wal_insert_lsn() - '0/0')::bigint`).Scan(&s, &n); err != nil {
		tb.Fatal(err)
	}
	return s, n
}

// insertTasks inserts crm.tasks rows named prefix 1 … prefix n, one per transaction, and
// returns their ids.
func insertTasks(tb testing.TB, conn *pgx.Conn, prefix string, n int) []string {
	tb.Helper()
	ids := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		var id string
		if err := conn.QueryRow(context.Background(), `INSERT INTO crm.tasks (subject) VALUES ($1) RETURNING id::text`,
			fmt.Sprintf("%s %d", prefix, i)).Scan(&id); err != nil {
			tb.Fatalf("insert task %s %d: %v", prefix, i, err)
		}
		ids = append(ids, id)
	}
	return ids
}

// waitTasks waits until r has received Task.Create for every id.
func waitTasks(tb testing.TB, r *receiver, p *walhookProc, ids []string, timeout time.Duration) {
	tb.Helper()
	testwait.Until(tb, timeout, fmt.Sprintf("Task.Create for %d tasks", len(ids)), func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		got := r.entityIDs("Task.Create")
		var missing []string
		for _, id := range ids {
			if len(got[id]) == 0 {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d of %d missing, e.g. %q", len(missing), len(ids), missing[:min(len(missing), 5)]), nil
	})
}

// readyz returns the status code and body of p's /readyz.
func (p *walhookProc) readyz() (int, string, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.base + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// TestRestoredDatabaseIsNotSkipped replaces the CRM database under a running walhook, as
// an operator restoring a dump into a fresh cluster on the same address does, and checks
// that every write on the new database is delivered: walhook's remembered position (far
// past the new server's WAL end) must not be used there, nor confirmed to the new slot.
func TestRestoredDatabaseIsNotSkipped(t *testing.T) {
	ctx := context.Background()
	a, dsn := ownCluster(t, pgcluster.Options{})
	env := e2eEnv(dsn)
	setupWalhook(t, env)
	r := newReceiver(t, "5e570e00-0000-4000-8000-0000000005e5")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)

	// Move the old server's WAL well past where a fresh cluster's will be, and let walhook
	// confirm it.
	for i := range 4 {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO crm.tasks (subject) VALUES ('filler %d'); SELECT pg_switch_wal()`, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitTasks(t, r, p, insertTasks(t, conn, "before", 5), time.Minute)
	oldEnd, oldEndN := walLSN(t, conn)
	dump := filepath.Join(t.TempDir(), "crm.sql")
	pgTool(t, "pg_dump", "--dbname", dsn, "--file", dump)
	conn.Close(ctx)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}

	// The restore: a new cluster on the same port, the dump, setup again.
	ctx2, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	b, err := pgcluster.Start(ctx2, pgcluster.Options{Port: a.Port})
	if err != nil {
		t.Fatalf("start the replacement cluster on port %d: %v", a.Port, err)
	}
	t.Cleanup(func() { b.Stop() })
	pgtest.Exec(t, b.DSN("postgres"), `CREATE DATABASE crm`)
	pgTool(t, "psql", "--dbname", dsn, "--quiet", "-v", "ON_ERROR_STOP=1", "--file", dump)
	setupWalhook(t, env)
	conn = crmConn(t, dsn)
	newEnd, newEndN := walLSN(t, conn)
	if newEndN >= oldEndN {
		t.Fatalf("precondition: the new server's WAL end %s should be before the old one's %s", newEnd, oldEnd)
	}

	after := insertTasks(t, conn, "after", 20)
	waitTasks(t, r, p, after, time.Minute)
	if !strings.Contains(p.stderr.String(), "not valid on this server") {
		t.Errorf("walhook did not log that its remembered position is not valid on the new server; stderr:\n%s", tail(p.stderr.String(), 8<<10))
	}
	var past bool
	if err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn > pg_current_wal_insert_lsn() FROM pg_replication_slots WHERE slot_name = $1`,
		env["WALHOOK_SLOT"]).Scan(&past); err != nil {
		t.Fatal(err)
	}
	if past {
		t.Errorf("the new slot's confirmed position is past the new server's WAL end")
	}
}

// TestLostSlotIsLoud lets the server invalidate walhook's slot (max_slot_wal_keep_size
// exceeded while walhook is stopped) and checks DESIGN.md §6: a running walhook fails
// /readyz naming the slot, the cause and the fix, exports the state and logs an ERROR;
// setup refuses to pass over the lost slot and, told to recreate it, says how much is
// gone; then walhook goes on by itself.
func TestLostSlotIsLoud(t *testing.T) {
	ctx := context.Background()
	_, dsn := ownCluster(t, pgcluster.Options{Settings: map[string]string{"max_slot_wal_keep_size": "64MB"}})
	env := e2eEnv(dsn)
	slot := env["WALHOOK_SLOT"]
	setupWalhook(t, env)
	r := newReceiver(t, "105e5107-0000-4000-8000-0000000105e5")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)
	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Fatalf("walhook exit code %d after SIGTERM", code)
	}

	// About 200 MB of WAL while walhook is stopped, then a checkpoint, which invalidates
	// slots that fell more than max_slot_wal_keep_size behind.
	for i := range 14 {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`INSERT INTO crm.tasks (subject) VALUES ('while stopped %d'); SELECT pg_switch_wal()`, i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	var status string
	if err := conn.QueryRow(ctx, `SELECT coalesce(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != "lost" {
		t.Fatalf("precondition: slot %s has wal_status %q, want lost", slot, status)
	}

	p = startWalhook(t, env)
	testwait.Until(t, time.Minute, "/readyz to report the lost slot", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		code, body, err := p.readyz()
		if err != nil {
			return false, err.Error(), nil
		}
		return code == http.StatusServiceUnavailable && strings.Contains(body, slot) &&
				strings.Contains(body, "max_slot_wal_keep_size") && strings.Contains(body, "walhook setup --recreate-lost-slot"),
			fmt.Sprintf("GET /readyz: %d %s", code, body), nil
	})
	if v, err := p.metric(`walhook_reader_state{state="slot_lost"}`); err != nil || v != 1 {
		t.Errorf(`walhook_reader_state{state="slot_lost"} = %v (%v), want 1`, v, err)
	}
	if v, err := p.metric(`walhook_replication_lag_bytes`); err != nil || v < 100<<20 {
		t.Errorf(`walhook_replication_lag_bytes = %v (%v), want the ~200 MB the slot lost`, v, err)
	}
	if line := findLogLine(p.stderr.String(), "ERROR", "replication slot lost"); !strings.Contains(line, slot) || !strings.Contains(line, "--recreate-lost-slot") {
		t.Errorf("no ERROR line naming slot %s and the fix; got %q", slot, line)
	}

	code, stderr := runWalhook(t, env, "setup")
	if code == 0 || !strings.Contains(stderr, "--recreate-lost-slot") || !strings.Contains(stderr, "lost") {
		t.Fatalf("walhook setup on a lost slot: exit code %d, want non-zero naming --recreate-lost-slot; stderr:\n%s", code, stderr)
	}
	code, stderr = runWalhook(t, env, "setup", "--recreate-lost-slot")
	if code != 0 {
		t.Fatalf("walhook setup --recreate-lost-slot: exit code %d; stderr:\n%s", code, stderr)
	}
	if line := findLogLine(stderr, "WARN", "recreated the lost replication slot"); !strings.Contains(line, "wal_bytes_gone") {
		t.Errorf("setup --recreate-lost-slot did not say how much history is gone; stderr:\n%s", stderr)
	}

	p.waitReady(t)
	waitTasks(t, r, p, insertTasks(t, conn, "after recreate", 5), time.Minute)
}

// findLogLine returns the first JSON log line at level that contains msg, or "".
func findLogLine(log, level, msg string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"level":"`+level+`"`) && strings.Contains(line, msg) {
			return line
		}
	}
	return ""
}

// TestCrashReplaysOnlyInFlight checks DESIGN.md §6 "few duplicates" at default settings:
// 5,000 rows at 500 rows/s and one SIGKILL replay no more than 5% of the rows, because
// the confirmed position reaches the server promptly, not once per standby interval.
func TestCrashReplaysOnlyInFlight(t *testing.T) {
	const (
		rows, perTxn = 5000, 50
		pace         = 100 * time.Millisecond // 500 rows/s
		maxDups      = rows * 5 / 100
	)
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	env := e2eEnv(dsn)
	delete(env, "WALHOOK_STANDBY_INTERVAL") // the default, as users run it
	t.Cleanup(func() { dropSlot(t, dsn, env["WALHOOK_SLOT"]) })
	setupWalhook(t, env)
	r := newReceiver(t, "d0b1e000-0000-4000-8000-00000000d0b1")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.Create"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitCreateSubscribed(t, conn, r)
	base := r.countEvent("Task.Create")

	w := startTaskWriter(t, dsn, rows, perTxn, pace)
	testwait.Until(t, time.Minute, "half the rows delivered", func() (bool, string, error) {
		if err := w.failure(); err != nil {
			return false, "", err
		}
		n := r.countEvent("Task.Create") - base
		return n >= rows/2, fmt.Sprintf("%d received", n), p.checkRunning()
	})
	_, dupsBefore := r.stats()
	p.kill(t)
	p = startWalhook(t, env)
	p.waitReady(t)
	testwait.Until(t, 2*time.Minute, fmt.Sprintf("%d crash rows delivered", rows), func() (bool, string, error) {
		if err := w.failure(); err != nil {
			return false, "", err
		}
		n := r.countEvent("Task.Create") - base
		return n >= rows, fmt.Sprintf("%d received, %d written", n, w.written.Load()), p.checkRunning()
	})
	r.checkNoProblems(t)
	_, dups := r.stats()
	t.Logf("%d rows at %d rows/s, one SIGKILL, default WALHOOK_STANDBY_INTERVAL: %d duplicate item copies (%.1f%%)",
		rows, int(time.Second/pace)*perTxn, dups-dupsBefore, 100*float64(dups-dupsBefore)/rows)
	if dups-dupsBefore > maxDups {
		t.Errorf("%d duplicate deliveries after one SIGKILL, want at most %d (5%% of %d)", dups-dupsBefore, maxDups, rows)
	}
}

// TestStandbysShareTheQueue runs three instances on one slot and one queue, SIGKILLs the
// one that streams, and checks DESIGN.md §6: another takes over reading, both survivors
// work the durable queue, and nothing is lost.
func TestStandbysShareTheQueue(t *testing.T) {
	const tasks = 60
	ctx := context.Background()
	dsn, env := setupE2E(t, map[string]string{
		// One queue worker per instance: two requests held at once come from two instances.
		"WALHOOK_QUEUE_WORKERS":     "1",
		"WALHOOK_REQUEST_TIMEOUT":   "2s", // a killed instance's leases run out soon
		"WALHOOK_RETRY_MAX_BACKOFF": "200ms", "WALHOOK_BREAKER_THRESHOLD": "1000000",
	})
	procs := []*walhookProc{startWalhook(t, env), startWalhook(t, env), startWalhook(t, env)}
	for _, p := range procs {
		p.waitReady(t)
	}
	var rs []*receiver
	for i := range 3 {
		r := newReceiver(t, fmt.Sprintf("5ba7e000-0000-4000-8000-00000000000%d", i))
		registerWebhook(t, procs[0].base, map[string]any{"url": r.URL(), "events": []string{"Task.Create"}, "signature": r.secret})
		rs = append(rs, r)
	}
	conn := crmConn(t, dsn)
	waitCreateSubscribed(t, conn, rs...)
	streamer := streaming(t, procs)

	// Every receiver fails: each webhook's chunks go to the durable queue.
	for _, r := range rs {
		r.failFast(true)
	}
	ids := insertTasks(t, conn, "standby", tasks)
	end, _ := walLSN(t, conn)
	testwait.Until(t, time.Minute, "every webhook's chunks queued and the slot confirmed", func() (bool, string, error) {
		var hooks int
		var confirmed bool
		err := conn.QueryRow(ctx, `SELECT (SELECT count(DISTINCT webhook_id) FROM walhook.delivery_queue WHERE state = 'pending'),
			(SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1)`,
			env["WALHOOK_SLOT"], end).Scan(&hooks, &confirmed)
		return hooks == 3 && confirmed, fmt.Sprintf("%d webhooks with queued chunks, slot confirmed: %t", hooks, confirmed), err
	})
	procs[streamer].kill(t)
	survivors := append(append([]*walhookProc{}, procs[:streamer]...), procs[streamer+1:]...)

	for _, r := range rs {
		r.hold()
		r.failFast(false)
	}
	testwait.Until(t, time.Minute, "two queued chunks in flight at once, one from each survivor", func() (bool, string, error) {
		n := 0
		for _, r := range rs {
			n += r.heldNow()
		}
		return n >= 2, fmt.Sprintf("%d requests in flight", n), nil
	})
	for _, r := range rs {
		r.release()
	}
	for _, r := range rs {
		waitTasks(t, r, survivors[0], ids, time.Minute)
	}
	testwait.Until(t, time.Minute, "a survivor to take over the slot", func() (bool, string, error) {
		n := 0
		for _, p := range survivors {
			if v, err := p.metric(`walhook_reader_state{state="streaming"}`); err != nil {
				return false, "", err
			} else if v == 1 {
				n++
			}
		}
		return n == 1, fmt.Sprintf("%d survivors streaming", n), nil
	})
	more := insertTasks(t, conn, "after takeover", 3)
	for _, r := range rs {
		waitTasks(t, r, survivors[0], more, time.Minute)
		r.checkNoProblems(t)
	}
}

// waitCreateSubscribed waits until Task.Create webhooks just registered for rs have taken
// effect (within a second, on every instance): it inserts a probe task per poll until each
// receiver has one.
func waitCreateSubscribed(tb testing.TB, conn *pgx.Conn, rs ...*receiver) {
	tb.Helper()
	probes := 0
	testwait.Until(tb, 30*time.Second, "the webhooks to take effect", func() (bool, string, error) {
		got := 0
		for _, r := range rs {
			if r.countEvent("Task.Create") > 0 {
				got++
			}
		}
		if got == len(rs) {
			return true, "", nil
		}
		probes++
		insertTasks(tb, conn, fmt.Sprintf("probe %d", probes), 1)
		return false, fmt.Sprintf("%d of %d receivers got a probe after %d probes", got, len(rs), probes), nil
	})
}

// streaming returns the index of the one process whose reader streams.
func streaming(tb testing.TB, procs []*walhookProc) int {
	tb.Helper()
	var at []int
	for i, p := range procs {
		v, err := p.metric(`walhook_reader_state{state="streaming"}`)
		if err != nil {
			tb.Fatal(err)
		}
		if v == 1 {
			at = append(at, i)
		}
	}
	if len(at) != 1 {
		tb.Fatalf("%d instances streaming (%v), want exactly 1", len(at), at)
	}
	return at[0]
}

// TestLinkEventFiltersOnParent checks DESIGN.md §4 through the real pipeline: an
// owner-filtered Account webhook receives Account.DocumentLinked only for documents linked
// to its owner's accounts; the filter is evaluated on the parent account's row.
func TestLinkEventFiltersOnParent(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, "11c0ffee-0000-4000-8000-0000000011c0")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "signature": r.secret,
		"events":  []string{"Account.DocumentLinked", "Account.Update"},
		"options": map[string]any{"entity": map[string]any{"Account": map[string]any{"filter": map[string]any{"owner_id": "9900cce6-bcd6-412a-bcd1-1904556c949a"}}}}})
	conn := crmConn(t, dsn)
	// Subscribed once an update of Jana's account arrives.
	n := 0
	testwait.Until(t, 30*time.Second, "the webhook to take effect", func() (bool, string, error) {
		if len(r.entityIDs("Account.Update")["ac000000-0000-4000-8000-000000000001"]) > 0 {
			return true, "", nil
		}
		n++
		_, err := conn.Exec(ctx, `UPDATE crm.accounts SET phone = $1 WHERE id = 'ac000000-0000-4000-8000-000000000001'`, fmt.Sprint(n))
		return false, fmt.Sprintf("%d probes", n), err
	})
	var doc string
	if err := conn.QueryRow(ctx, `INSERT INTO crm.documents (name, url) VALUES ('contract', 'https://files.example/c') RETURNING id::text`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	// Globex (Tom's) first, then Acme (Jana's): when Acme's arrives, Globex's would have too.
	for _, acc := range []string{"ac000000-0000-4000-8000-000000000002", "ac000000-0000-4000-8000-000000000001"} {
		if _, err := conn.Exec(ctx, `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ($1, 'account', $2)`, doc, acc); err != nil {
			t.Fatal(err)
		}
	}
	testwait.Until(t, 30*time.Second, "Acme's DocumentLinked", func() (bool, string, error) {
		got := r.entityIDs("Account.DocumentLinked")
		return len(got["ac000000-0000-4000-8000-000000000001"]) > 0, fmt.Sprintf("%v", got), p.checkRunning()
	})
	if got := r.entityIDs("Account.DocumentLinked")["ac000000-0000-4000-8000-000000000002"]; len(got) > 0 {
		t.Errorf("Globex (another owner's account) raised DocumentLinked at an owner-filtered webhook: %v", got)
	}
	r.checkNoProblems(t)
}

// TestStateDatabase runs walhook with its own tables in a separate database
// (WALHOOK_STATE_DATABASE_URL): setup puts only the skip-key helper, the publication and the
// slot in the CRM database, the webhooks and the queue in the state database, and changes
// are delivered as usual.
func TestStateDatabase(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	stateDSN := pgtest.NewDatabase(t, "")
	env := e2eEnv(dsn)
	env["WALHOOK_STATE_DATABASE_URL"] = stateDSN
	t.Cleanup(func() { dropSlot(t, dsn, env["WALHOOK_SLOT"]) })
	setupWalhook(t, env)
	crm, state := crmConn(t, dsn), crmConn(t, stateDSN)
	for _, c := range []struct {
		conn *pgx.Conn
		db   string
		rel  string
		want bool
	}{
		{crm, "CRM", "walhook.webhooks", false}, {crm, "CRM", "walhook.delivery_queue", false},
		{state, "state", "walhook.webhooks", true}, {state, "state", "walhook.delivery_queue", true},
	} {
		var exists bool
		if err := c.conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, c.rel).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if exists != c.want {
			t.Errorf("%s in the %s database: exists %t, want %t", c.rel, c.db, exists, c.want)
		}
	}
	var helper bool
	if err := crm.QueryRow(ctx, `SELECT to_regprocedure('walhook.skip_key(text)') IS NOT NULL`).Scan(&helper); err != nil || !helper {
		t.Errorf("the skip-key helper is not in the CRM database (%v)", err)
	}
	r := newReceiver(t, "57a7e000-0000-4000-8000-0000000057a7")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	waitSubscribed(t, crm, r, p)
	waitTasks(t, r, p, insertTasks(t, crm, "state db", 3), 30*time.Second)
	var stored int
	if err := state.QueryRow(ctx, `SELECT count(*) FROM walhook.webhooks`).Scan(&stored); err != nil || stored != 1 {
		t.Errorf("%d webhooks in the state database (%v), want 1", stored, err)
	}
	// Run refuses a state database that was not set up, naming the variable.
	bare := e2eEnv(dsn)
	bare["WALHOOK_STATE_DATABASE_URL"] = pgtest.NewDatabase(t, "")
	bare["WALHOOK_LISTEN_ADDR"] = freeAddr(t)
	if code, stderr := runWalhook(t, bare, "run"); code == 0 || !strings.Contains(stderr, "WALHOOK_STATE_DATABASE_URL") || !strings.Contains(stderr, "walhook setup") {
		t.Errorf("run against a state database without setup: exit %d, stderr %s", code, stderr)
	}
}

// TestSecretKeyEndToEnd runs walhook with WALHOOK_SECRET_KEY: a signed webhook is stored
// sealed, matched and delivered, and a restarted walhook loads it again.
func TestSecretKeyEndToEnd(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, map[string]string{"WALHOOK_SECRET_KEY": "an e2e key of at least thirty-two bytes"})
	r := newReceiver(t, "5ea1ed00-0000-4000-8000-00000005ea1e")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)
	var sig string
	if err := conn.QueryRow(ctx, `SELECT signature FROM walhook.webhooks`).Scan(&sig); err != nil || !strings.HasPrefix(sig, "enc:v1:") {
		t.Fatalf("stored signature %q (%v), want a sealed value", sig, err)
	}
	p.kill(t)
	p = startWalhook(t, env)
	p.waitReady(t)
	waitTasks(t, r, p, insertTasks(t, conn, "sealed", 2), 30*time.Second)
	r.checkNoProblems(t)
}
