package main

// End-to-end tests of the real walhook binary: built from this package, run as a child
// process against a test database, driven through its HTTP API and by CRM writes, and
// observed through webhook receivers (see e2e_helpers_test.go).

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/schema/sample"
)

// TestRunRefusesWithoutSetup checks that walhook run fails fast, with one line naming the
// fix, on a database that was never set up, and on bad configuration.
func TestRunRefusesWithoutSetup(t *testing.T) {
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	env := e2eEnv(dsn)
	env["WALHOOK_LISTEN_ADDR"] = freeAddr(t)

	t.Run("no setup", func(t *testing.T) {
		code, stderr := runWalhook(t, env, "run")
		if code == 0 {
			t.Fatalf("walhook run on a database without setup: exit code 0; stderr:\n%s", stderr)
		}
		line := checkOneLine(t, stderr)
		t.Logf("stderr: %s", line)
		if !strings.HasPrefix(line, "walhook run: ") || !strings.Contains(line, "walhook setup") {
			t.Errorf("stderr %q does not say that walhook setup is the fix", line)
		}
	})

	t.Run("bundled mapping on another database", func(t *testing.T) {
		other := e2eEnv(pgtest.NewDatabase(t, `CREATE TABLE public.customers (id bigint PRIMARY KEY, name text)`))
		other["WALHOOK_LISTEN_ADDR"] = env["WALHOOK_LISTEN_ADDR"]
		code, stderr := runWalhook(t, other, "run")
		if code == 0 {
			t.Fatalf("walhook run with the sample mapping on another schema: exit code 0; stderr:\n%s", stderr)
		}
		line := checkOneLine(t, stderr)
		t.Logf("stderr: %s", line)
		if !strings.Contains(line, "bundled sample CRM mapping does not fit") || !strings.Contains(line, "set WALHOOK_MAPPING_FILE") {
			t.Errorf("stderr %q does not say that the bundled mapping is in use and how to give one", line)
		}
	})

	t.Run("bad config", func(t *testing.T) {
		bad := e2eEnv(dsn)
		bad["WALHOOK_LOG_LEVEL"] = "loud"
		code, stderr := runWalhook(t, bad, "run")
		if code != 1 {
			t.Errorf("walhook run with WALHOOK_LOG_LEVEL=loud: exit code %d, want 1", code)
		}
		line := checkOneLine(t, stderr)
		t.Logf("stderr: %s", line)
		if !strings.Contains(line, "WALHOOK_LOG_LEVEL") {
			t.Errorf("stderr %q does not name WALHOOK_LOG_LEVEL", line)
		}
	})
}

// checkOneLine returns stderr's one line, failing the test if there are more.
func checkOneLine(t testing.TB, stderr string) string {
	t.Helper()
	line := strings.TrimSuffix(stderr, "\n")
	if line == "" || strings.Contains(line, "\n") {
		t.Errorf("stderr is not one line:\n%s", stderr)
	}
	return line
}

const (
	oppty1 = "0f000000-0000-4000-8000-000000000001" // sample CRM, status Open
	oppty2 = "0f000000-0000-4000-8000-000000000002" // sample CRM, status Open
	// probeTask is the sample task that waitSubscribed updates; its events are not
	// counted among a test's expected events.
	probeTask = "2"
)

// itemKeys are the keys of every delivery item (DESIGN.md §5, and truncated: README, Bounds).
var itemKeys = []string{"id", "event", "entity", "entity_id", "committed_at", "lsn", "xid", "data", "previous", "changed_fields", "related_entity", "truncated"}

var (
	microsRFC3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$`)
	lsnText       = regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`)
)

// TestRunDeliversEndToEnd sets walhook up with its own setup command, runs it, registers
// two signed webhooks through its API, makes CRM writes, checks every delivery the
// receivers get, and stops walhook with SIGTERM.
func TestRunDeliversEndToEnd(t *testing.T) {
	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	all := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000a11a")
	won := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000b0bb")
	p := startWalhook(t, env)
	p.waitReady(t)

	// The webhook for every event is created last, so once it gets the probe, the
	// matcher has loaded both.
	wonID := registerWebhook(t, p.base, map[string]any{"url": won.URL(), "events": []string{"Opportunity.Won"}, "signature": won.secret})
	allID := registerWebhook(t, p.base, map[string]any{"url": all.URL(), "events": []string{"*"}, "signature": all.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, all, p)
	// walhook names its pooled sessions, so that a DBA tells its load from the CRM's (and
	// the bench counts their CPU); the API has used the pool by now.
	var named int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND backend_type = 'client backend' AND datname = current_database()`,
		event.ApplicationName).Scan(&named); err != nil || named == 0 {
		t.Errorf("sessions named walhook in pg_stat_activity: %d (%v)", named, err)
	}

	var newTask string
	for _, sql := range []string{
		`UPDATE crm.lead_oppty SET status = 'Won' WHERE id = '` + oppty1 + `'`,
		`UPDATE crm.lead_oppty SET status = 'Lost' WHERE id = '` + oppty2 + `'`,
		`INSERT INTO crm.task_comments (task_id, body) VALUES (1, 'e2e comment')`,
		`UPDATE crm.lead_oppty SET status = 'Won' WHERE id = '` + oppty2 + `'`,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := conn.QueryRow(ctx, `INSERT INTO crm.tasks (subject) VALUES ('e2e task') RETURNING id::text`).Scan(&newTask); err != nil {
		t.Fatalf("insert task: %v", err)
	}

	wantAll := []string{
		"Opportunity.Lost " + oppty2, "Opportunity.Update " + oppty1, "Opportunity.Update " + oppty2,
		"Opportunity.Update " + oppty2, "Opportunity.Won " + oppty1, "Opportunity.Won " + oppty2,
		"Task.Comment 1", "Task.Create " + newTask,
	}
	slices.Sort(wantAll)
	wantWon := []string{"Opportunity.Won " + oppty1, "Opportunity.Won " + oppty2}
	waitEvents(t, all, p, len(wantAll))
	waitEvents(t, won, p, len(wantWon))
	if diff := cmp.Diff(wantAll, eventNames(all)); diff != "" {
		t.Errorf("events of the * webhook (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantWon, eventNames(won)); diff != "" {
		t.Errorf("events of the Opportunity.Won webhook (-want +got):\n%s", diff)
	}
	for _, r := range []*receiver{all, won} {
		if _, dups := r.stats(); dups != 0 {
			t.Errorf("receiver %s: %d item copies delivered twice, without any crash", r.srv.URL, dups)
		}
	}
	checkDeliveries(t, all, allID)
	checkDeliveries(t, won, wonID)
	all.checkNoProblems(t)
	won.checkNoProblems(t)

	if code := p.terminate(t, 30*time.Second); code != 0 {
		t.Errorf("walhook run after SIGTERM: exit code %d, want 0; stderr:\n%s", code, tail(p.stderr.String(), 16<<10))
	}
	if !strings.Contains(p.stderr.String(), `"msg":"walhook stopped"`) {
		t.Errorf("walhook run did not log that it stopped; stderr:\n%s", tail(p.stderr.String(), 16<<10))
	}
}

// waitSubscribed updates the probe task until r has received its Task.Update: from then
// on the running walhook's matcher knows r's webhook (and every one created before it).
func waitSubscribed(t testing.TB, conn *pgx.Conn, r *receiver, p *walhookProc) {
	t.Helper()
	n := 0
	testwait.Until(t, 30*time.Second, "the webhook to take effect", func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		if len(r.entityIDs("Task.Update")[probeTask]) > 0 {
			return true, "", nil
		}
		n++
		if _, err := conn.Exec(context.Background(), `UPDATE crm.tasks SET description = $1 WHERE id = `+probeTask, fmt.Sprintf("probe %d", n)); err != nil {
			return false, "", fmt.Errorf("probe update: %w", err)
		}
		return false, fmt.Sprintf("%d probe updates made, none received", n), nil
	})
}

// waitEvents waits until r has seen n distinct events besides the probe task's.
func waitEvents(t testing.TB, r *receiver, p *walhookProc, n int) {
	t.Helper()
	testwait.Until(t, time.Minute, fmt.Sprintf("%d events at %s", n, r.srv.URL), func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		got := eventNames(r)
		return len(got) >= n, fmt.Sprintf("received %q", got), nil
	})
}

// eventNames returns "event entity_id" of each distinct event r has seen, without the
// probe task's, sorted.
func eventNames(r *receiver) []string {
	var out []string
	for _, ev := range r.events() {
		if ev.head.Entity == "Task" && ev.head.EntityID == probeTask {
			continue
		}
		out = append(out, ev.head.Event+" "+ev.head.EntityID)
	}
	slices.Sort(out)
	return out
}

// checkDeliveries checks the bodies r accepted against DESIGN.md §5: webhook and
// delivery ids, every item key present, and the values each kind of event carries.
func checkDeliveries(t testing.TB, r *receiver, webhookID string) {
	t.Helper()
	ds := r.deliveryList()
	if len(ds) == 0 {
		t.Fatalf("receiver %s: no deliveries", r.srv.URL)
	}
	for _, d := range ds {
		if d.webhookID != webhookID {
			t.Errorf("delivery %s: webhook_id %q, want %q", d.deliveryID, d.webhookID, webhookID)
		}
		if d.deliveryID == "" {
			t.Errorf("delivery with an empty delivery_id: %s", d.body)
		}
		for _, it := range d.items {
			checkItem(t, it)
		}
	}
}

// checkItem checks one delivery item.
func checkItem(t testing.TB, raw json.RawMessage) {
	t.Helper()
	var it map[string]json.RawMessage
	if err := json.Unmarshal(raw, &it); err != nil {
		t.Errorf("item %s: %v", raw, err)
		return
	}
	for _, k := range itemKeys {
		if _, ok := it[k]; !ok {
			t.Errorf("item lacks %q: %s", k, raw)
		}
	}
	var v struct {
		Event         string         `json:"event"`
		Entity        string         `json:"entity"`
		CommittedAt   string         `json:"committed_at"`
		LSN           string         `json:"lsn"`
		XID           *uint32        `json:"xid"`
		Data          map[string]any `json:"data"`
		Previous      map[string]any `json:"previous"`
		ChangedFields []string       `json:"changed_fields"`
		Related       *struct {
			Entity, ID string
			Data       map[string]any
		} `json:"related_entity"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Errorf("item %s: %v", raw, err)
		return
	}
	if !microsRFC3339.MatchString(v.CommittedAt) {
		t.Errorf("item committed_at %q is not RFC 3339 with microseconds: %s", v.CommittedAt, raw)
	}
	if !lsnText.MatchString(v.LSN) {
		t.Errorf("item lsn %q is not an LSN: %s", v.LSN, raw)
	}
	if v.XID == nil || *v.XID == 0 {
		t.Errorf("item xid missing or zero: %s", raw)
	}
	if v.Data == nil {
		t.Errorf("item without data: %s", raw)
	}
	_, action, _ := strings.Cut(v.Event, ".")
	switch action {
	case "Update", "Won", "Lost":
		if len(v.ChangedFields) == 0 || len(v.Previous) != len(v.ChangedFields) {
			t.Errorf("%s item: changed_fields %q and previous %v should name the changed fields: %s", v.Event, v.ChangedFields, v.Previous, raw)
		}
		if v.Entity == "Opportunity" && (!slices.Contains(v.ChangedFields, "status") || v.Previous["status"] == nil) {
			t.Errorf("%s item: changed_fields %q, previous %v, want the old status: %s", v.Event, v.ChangedFields, v.Previous, raw)
		}
	default:
		if v.Previous != nil || v.ChangedFields != nil {
			t.Errorf("%s item: previous and changed_fields should be null: %s", v.Event, raw)
		}
	}
	if (action == "Won" || action == "Lost") && v.Data["status"] != action {
		t.Errorf("%s item: data.status %v: %s", v.Event, v.Data["status"], raw)
	}
	if action == "Comment" {
		if v.Related == nil || v.Related.Entity != "TaskComment" || v.Related.ID == "" || v.Related.Data["body"] != "e2e comment" {
			t.Errorf("Task.Comment item: related_entity should be the comment: %s", raw)
		}
	} else if v.Related != nil {
		t.Errorf("%s item: related_entity should be null: %s", v.Event, raw)
	}
}

// TestCrashLosesNothing kills walhook with SIGKILL three times while CRM transactions
// stream in, restarting it each time on the same slot, and checks DESIGN.md §6's
// at-least-once guarantee end to end: every inserted row reaches the receiver as exactly
// one event id, and every replayed copy of an event is byte-identical to the first.
func TestCrashLosesNothing(t *testing.T) {
	const (
		rows   = 20000
		perTxn = 100
		// pace spaces the writer's transactions, so the kills below fall while it writes.
		pace = 50 * time.Millisecond
	)
	killAt := []int{3000, 9000, 15000} // distinct Task.Create events received
	start := time.Now()
	deadline := start.Add(4 * time.Minute) // the whole test, whatever goes wrong
	within := func(d time.Duration) time.Duration { return min(d, time.Until(deadline)) }

	ctx := context.Background()
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, "c4a5e000-0000-4000-8000-00000000c4a5")
	p := startWalhook(t, env)
	p.waitReady(t)
	registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Task.*"}, "signature": r.secret})
	conn := crmConn(t, dsn)
	waitSubscribed(t, conn, r, p)

	w := startTaskWriter(t, dsn, rows, perTxn, pace)
	for i, at := range killAt {
		testwait.Until(t, within(time.Minute), fmt.Sprintf("%d Task.Create events before kill %d", at, i+1), func() (bool, string, error) {
			if err := p.checkRunning(); err != nil {
				return false, "", err
			}
			if err := w.failure(); err != nil {
				return false, "", err
			}
			n := r.countEvent("Task.Create")
			return n >= at, fmt.Sprintf("%d received, %d rows written", n, w.written.Load()), nil
		})
		backlog := i%2 == 0
		if backlog {
			killWithBacklog(t, p, r, w, within(time.Minute))
		} else {
			p.kill(t)
		}
		t.Logf("kill %d (backlog %t): SIGKILL at %d Task.Create events received, %d of %d rows written",
			i+1, backlog, r.countEvent("Task.Create"), w.written.Load(), rows)
		p = startWalhook(t, env)
		p.waitReady(t)
	}
	testwait.Until(t, within(2*time.Minute), "the writer to finish", func() (bool, string, error) {
		select {
		case <-w.done:
			return true, "", w.err
		default:
			return false, fmt.Sprintf("%d rows written", w.written.Load()), nil
		}
	})
	// Wait for every row's event, or until walhook is done: its slot confirms the end of
	// the writer's WAL (all delivered or queued) and its queue has nothing pending. Then
	// whatever the receiver lacks is lost. The end is the insert position: with
	// synchronous_commit off, pg_current_wal_lsn (the write position) can be short of the
	// last commit, and a prompt confirmation then passed it before that commit was read.
	var endLSN string
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&endLSN); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, within(3*time.Minute), fmt.Sprintf("%d Task.Create events", rows), func() (bool, string, error) {
		if err := p.checkRunning(); err != nil {
			return false, "", err
		}
		n := r.countEvent("Task.Create")
		if n >= rows {
			return true, "", nil
		}
		var confirmed string
		var caughtUp bool
		var pending int
		err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, confirmed_flush_lsn >= $2::pg_lsn,
				(SELECT count(*) FROM walhook.delivery_queue WHERE state = 'pending')
			FROM pg_replication_slots WHERE slot_name = $1`, env["WALHOOK_SLOT"], endLSN).Scan(&confirmed, &caughtUp, &pending)
		if err != nil {
			return false, "", fmt.Errorf("read the slot and the queue: %w", err)
		}
		return caughtUp && pending == 0, fmt.Sprintf("%d received; slot confirmed %s (writer ended at %s); %d chunks pending in the queue",
			n, confirmed, endLSN, pending), nil
	})

	if n := r.countEvent("Task.Create"); n != rows {
		t.Errorf("%d distinct Task.Create event ids, want %d", n, rows)
	}
	got := r.entityIDs("Task.Create")
	qrows, err := conn.Query(ctx, `SELECT id::text FROM crm.tasks WHERE subject LIKE 'crash %'`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(qrows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != rows {
		t.Fatalf("%d crash rows in crm.tasks, want %d", len(want), rows)
	}
	var missing []string
	for _, id := range want {
		if len(got[id]) == 0 {
			missing = append(missing, id)
		}
		delete(got, id)
	}
	if len(missing) > 0 {
		t.Errorf("%d rows never delivered as Task.Create, e.g. %q", len(missing), missing[:min(len(missing), 10)])
		logDeliveryLog(t, conn, 10)
	}
	if len(got) > 0 {
		t.Errorf("Task.Create for %d entity ids that are not crash rows: %v", len(got), got)
	}
	for id, ids := range r.entityIDs("Task.Create") {
		if len(ids) != 1 {
			t.Errorf("task %s raised Task.Create under %d event ids: %q", id, len(ids), ids)
		}
	}
	var dead int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM walhook.delivery_queue WHERE state = 'dead'`).Scan(&dead); err != nil {
		t.Fatal(err)
	}
	if dead != 0 {
		t.Errorf("%d dead letters", dead)
	}
	r.checkNoProblems(t)
	deliveries, dups := r.stats()
	t.Logf("%d rows in %d transactions, %d kills: %d distinct events in %d deliveries, %d duplicate item copies (all byte-identical unless reported above), %s",
		rows, rows/perTxn, len(killAt), r.distinctIDs(), deliveries, dups, time.Since(start).Round(time.Millisecond))
}

// logDeliveryLog logs walhook's last n delivery attempts, to tell a failure's story.
func logDeliveryLog(t testing.TB, conn *pgx.Conn, n int) {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT attempted_at::text, delivery_id::text, attempt, items, outcome,
		coalesce(status, 0), coalesce(error, '') FROM walhook.delivery_log ORDER BY id DESC LIMIT $1`, n)
	if err != nil {
		t.Logf("read the delivery log: %v", err)
		return
	}
	for rows.Next() {
		var at, id, outcome, msg string
		var attempt, items, status int
		if err := rows.Scan(&at, &id, &attempt, &items, &outcome, &status, &msg); err != nil {
			t.Logf("read the delivery log: %v", err)
			return
		}
		t.Logf("delivery log: %s %s attempt %d, %d items: %s %d %s", at, id, attempt, items, outcome, status, msg)
	}
}

// killWithBacklog kills p while it holds events it has read but not delivered: the
// receiver holds its requests, p raises at least 500 more Task events (which it cannot
// deliver meanwhile) and sends its position to the server twice, then p is killed and
// the receiver released. A reader that confirmed those events' LSN before delivering
// them would lose them here.
func killWithBacklog(t testing.TB, p *walhookProc, r *receiver, w *taskWriter, timeout time.Duration) {
	t.Helper()
	const raised, updates = `walhook_events_raised_total{entity="Task"}`, "walhook_standby_status_updates_total"
	r.hold()
	e0, err := p.metric(raised)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, timeout, "500 Task events raised while the receiver holds", func() (bool, string, error) {
		e, err := p.metric(raised)
		if err != nil {
			return false, "", err
		}
		if e-e0 >= 500 {
			return true, "", nil
		}
		select {
		case <-w.done:
			return false, "", fmt.Errorf("the writer stopped first (%v), after %.0f events", w.err, e-e0)
		default:
			return false, fmt.Sprintf("%.0f raised", e-e0), nil
		}
	})
	s0, err := p.metric(updates)
	if err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, timeout, "two standby status updates", func() (bool, string, error) {
		s, err := p.metric(updates)
		return s-s0 >= 2, fmt.Sprintf("%.0f sent", s-s0), err
	})
	p.kill(t)
	r.release()
}

// taskWriter inserts crm.tasks rows ("crash 1" … "crash N") in transactions of a fixed
// size, one transaction per tick.
type taskWriter struct {
	written atomic.Int64
	done    chan struct{} // closed when the writer has stopped; err is set then
	err     error
}

// startTaskWriter starts a taskWriter; it is stopped and waited for when the test ends.
func startTaskWriter(tb testing.TB, dsn string, rows, perTxn int, pace time.Duration) *taskWriter {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cancel()
		tb.Fatalf("connect the writer: %v", err)
	}
	w := &taskWriter{done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer conn.Close(context.Background())
		w.err = w.write(ctx, conn, rows, perTxn, pace)
	}()
	tb.Cleanup(func() {
		cancel()
		<-w.done
	})
	return w
}

func (w *taskWriter) write(ctx context.Context, conn *pgx.Conn, rows, perTxn int, pace time.Duration) error {
	tick := time.NewTicker(pace)
	defer tick.Stop()
	for first := 1; first <= rows; first += perTxn {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		last := min(first+perTxn-1, rows)
		if _, err := conn.Exec(ctx, `INSERT INTO crm.tasks (subject) SELECT 'crash ' || g FROM generate_series($1::int, $2::int) g`, first, last); err != nil {
			return fmt.Errorf("insert crash rows %d to %d: %w", first, last, err)
		}
		w.written.Store(int64(last))
	}
	return nil
}

// failure returns the writer's error once it has stopped with one.
func (w *taskWriter) failure() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}
