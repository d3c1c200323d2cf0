package schema_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/schema/sample"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var slotSeq atomic.Int64

// env is one test's database, connection, mapping and uniquely named slot.
type env struct {
	dsn  string
	conn *pgx.Conn
	m    *mapping.Mapping
	opts schema.Options
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dsn := pgtest.NewDatabase(t, sample.CRMSQL)
	m, err := mapping.Load("")
	if err != nil {
		t.Fatalf("load bundled mapping: %v", err)
	}
	e := &env{dsn: dsn, m: m, opts: schema.Options{Slot: fmt.Sprintf("walhook_t%d", slotSeq.Add(1))}}
	dropSlotAtEnd(t, dsn, e.opts.Slot)
	e.conn = connect(t, dsn)
	return e
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// dropSlotAtEnd drops the slot when the test ends (slots are cluster-wide and pin their
// database).
func dropSlotAtEnd(t *testing.T, dsn, slot string) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Logf("drop slot %s: %v", slot, err)
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
		if err != nil {
			t.Logf("drop slot %s: %v", slot, err)
		}
	})
}

func (e *env) setup(t *testing.T, log *slog.Logger) {
	t.Helper()
	if err := schema.Setup(context.Background(), e.conn, e.m, e.opts, log); err != nil {
		t.Fatalf("Setup: %v", err)
	}
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func (e *env) check() error { return schema.Check(context.Background(), e.conn, e.m, e.opts) }

func TestSetupThenCheckPasses(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	if err := e.check(); err != nil {
		t.Fatalf("Check after Setup: %v", err)
	}
}

// TestSetupTwiceIsNoop compares the catalog before and after a second Setup, including
// the xmin of every row Setup could have rewritten: a guarded step that ran anyway
// would show up as a new xmin even if it wrote the same values.
func TestSetupTwiceIsNoop(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	before := e.snapshot(t)

	var logBuf bytes.Buffer
	e.setup(t, slog.New(slog.NewJSONHandler(&logBuf, nil)))
	after := e.snapshot(t)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("second Setup changed the catalog (-before +after):\n%s", diff)
	}

	steps, err := schema.Plan(e.m, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	results := testlog.SetupSteps(t, logBuf.String())
	if len(results) != len(steps) {
		t.Errorf("second Setup logged %d steps, Plan has %d", len(results), len(steps))
	}
	for name, result := range results {
		if result != "nothing to do" {
			t.Errorf("second Setup: step %q: %s, want nothing to do", name, result)
		}
	}
}

// stepResults reads the "setup step" records of a JSON log.

// snapshot is the catalog state Setup manages, with row versions.
type snapshot struct {
	Publication     []string
	PublicationRels []string
	Tables          []string
	Slot            []string
	Migrations      []string
	Function        []string
}

func (e *env) snapshot(t *testing.T) snapshot {
	t.Helper()
	return snapshot{
		Publication: e.strings(t, `SELECT p.xmin::text || ' ' || p.pubviaroot || ' ' || coalesce(string_agg(pt.schemaname || '.' || pt.tablename, ',' ORDER BY pt.schemaname, pt.tablename), '')
			FROM pg_publication p LEFT JOIN pg_publication_tables pt ON pt.pubname = p.pubname
			WHERE p.pubname = 'walhook' GROUP BY p.xmin::text, p.pubviaroot`),
		PublicationRels: e.strings(t, `SELECT pr.prrelid::regclass::text || ' ' || pr.xmin::text
			FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
			WHERE p.pubname = 'walhook' ORDER BY 1`),
		Tables: e.strings(t, `SELECT c.relname || ' ' || c.relreplident::text || ' ' || c.xmin::text
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname IN ('crm', 'walhook') AND c.relkind IN ('r', 'p') ORDER BY 1`),
		Slot: e.strings(t, `SELECT concat_ws(' ', slot_name, plugin, database, restart_lsn, confirmed_flush_lsn, catalog_xmin)
			FROM pg_replication_slots WHERE slot_name = '`+e.opts.Slot+`'`),
		Migrations: e.strings(t, `SELECT version || ' ' || applied_at || ' ' || xmin::text FROM walhook.schema_migrations ORDER BY version`),
		Function:   e.strings(t, `SELECT oid::text || ' ' || xmin::text FROM pg_proc WHERE oid = 'walhook.skip_key(text)'::regprocedure`),
	}
}

func (e *env) strings(t *testing.T, sql string) []string {
	t.Helper()
	rows, _ := e.conn.Query(context.Background(), sql)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}

func TestCheckNamesTheProblem(t *testing.T) {
	tests := []struct {
		name     string
		setup    bool   // run Setup before breaking
		breakSQL string // {slot} is the slot name
		want     []string
		// repairable: a later Setup fixes it and Check passes again.
		repairable bool
	}{{
		name: "no setup at all",
		want: []string{"walhook schema is missing", `publication "walhook" does not exist`,
			`replication slot "{slot}" does not exist`, `run "walhook setup"`},
		repairable: true,
	}, {
		name: "table dropped from publication", setup: true,
		breakSQL:   `ALTER PUBLICATION walhook DROP TABLE crm.contacts`,
		want:       []string{`publication "walhook" lacks mapped tables crm.contacts`, `run "walhook setup"`},
		repairable: true,
	}, {
		name: "unmapped table in publication", setup: true,
		breakSQL:   `CREATE TABLE crm.walhook_extra (id int PRIMARY KEY); ALTER PUBLICATION walhook ADD TABLE crm.walhook_extra`,
		want:       []string{`publication "walhook" has unmapped tables crm.walhook_extra`},
		repairable: true,
	}, {
		name: "replica identity reset", setup: true,
		breakSQL:   `ALTER TABLE crm.contacts REPLICA IDENTITY DEFAULT`,
		want:       []string{"REPLICA IDENTITY is not FULL on crm.contacts (DEFAULT)", `run "walhook setup"`},
		repairable: true,
	}, {
		name: "slot dropped", setup: true,
		breakSQL:   `SELECT pg_drop_replication_slot('{slot}')`,
		want:       []string{`replication slot "{slot}" does not exist`, `run "walhook setup"`},
		repairable: true,
	}, {
		name: "stale migration", setup: true,
		breakSQL:   `DELETE FROM walhook.schema_migrations WHERE version = (SELECT max(version) FROM walhook.schema_migrations)`,
		want:       []string{"the walhook schema is at version", "missing migrations", `run "walhook setup"`},
		repairable: true,
	}, {
		name: "slot with another plugin", setup: true,
		breakSQL: `SELECT pg_drop_replication_slot('{slot}'); SELECT pg_create_logical_replication_slot('{slot}', 'test_decoding')`,
		want:     []string{`replication slot "{slot}" uses plugin "test_decoding", not "pgoutput"`, "pg_drop_replication_slot('{slot}')"},
	}, {
		name: "newer walhook schema", setup: true,
		breakSQL: `INSERT INTO walhook.schema_migrations VALUES (9999, now())`,
		want:     []string{"newer than this walhook's", "upgrade walhook"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.setup {
				e.setup(t, nil)
			}
			if tt.breakSQL != "" {
				e.exec(t, strings.ReplaceAll(tt.breakSQL, "{slot}", e.opts.Slot))
			}
			err := e.check()
			if !errors.Is(err, schema.ErrSetupNeeded) {
				t.Fatalf("Check = %v, want an error wrapping ErrSetupNeeded", err)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "{slot}", e.opts.Slot); !strings.Contains(err.Error(), w) {
					t.Errorf("Check error %q does not contain %q", err, w)
				}
			}
			serr := schema.Setup(context.Background(), e.conn, e.m, e.opts, nil)
			if !tt.repairable {
				if serr == nil {
					t.Fatal("Setup succeeded on a database it cannot fix")
				}
				return
			}
			if serr != nil {
				t.Fatalf("Setup to repair: %v", serr)
			}
			if err := e.check(); err != nil {
				t.Fatalf("Check after repairing Setup: %v", err)
			}
		})
	}
}

func TestSkipKeyEmitsTransactionalMessage(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	ctx := context.Background()
	// A second slot to peek with, so the test reads exactly what walhook's decoder would.
	peek := e.opts.Slot + "_peek"
	dropSlotAtEnd(t, e.dsn, peek)
	e.exec(t, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, peek)

	// The app role has only what the README grants it.
	app := fmt.Sprintf("walhook_app_%s", e.opts.Slot)
	e.exec(t, fmt.Sprintf(`CREATE ROLE %[1]s; GRANT USAGE ON SCHEMA walhook TO %[1]s;
		GRANT EXECUTE ON FUNCTION walhook.skip_key(text) TO %[1]s`, app))
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, e.dsn)
		if err == nil {
			c.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, app))
			c.Close(ctx)
		}
	})
	// Commits flush WAL at once, so the SQL decoding functions below see them.
	e.exec(t, "SET synchronous_commit = on; SET ROLE "+app)
	for _, sql := range []string{
		`BEGIN; SELECT walhook.skip_key('gmail_sync'); COMMIT`,
		`BEGIN; SELECT walhook.skip_key('rolled_back'); ROLLBACK`,
		`BEGIN; SELECT walhook.skip_key(NULL); COMMIT`,
	} {
		e.exec(t, sql)
	}
	e.exec(t, "RESET ROLE")

	rows, _ := e.conn.Query(ctx, `SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL,
		'proto_version', '1', 'publication_names', 'walhook', 'messages', 'true')`, peek)
	datas, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatalf("read changes: %v", err)
	}
	type message struct {
		Transactional bool
		Prefix        string
		Content       string
	}
	var got []message
	for _, d := range datas {
		msg, err := pglogrepl.Parse(d)
		if err != nil {
			t.Fatalf("parse pgoutput message: %v", err)
		}
		if m, ok := msg.(*pglogrepl.LogicalDecodingMessage); ok {
			got = append(got, message{m.Transactional, m.Prefix, string(m.Content)})
		}
	}
	want := []message{{Transactional: true, Prefix: event.SkipKeyPrefix, Content: "gmail_sync"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded messages (-want +got):\n%s", diff)
	}
}

func TestSkipKeyNotExecutableByPublic(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	role := fmt.Sprintf("walhook_nobody_%s", e.opts.Slot)
	e.exec(t, fmt.Sprintf(`CREATE ROLE %[1]s; GRANT USAGE ON SCHEMA walhook TO %[1]s`, role))
	t.Cleanup(func() {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, e.dsn); err == nil {
			c.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role))
			c.Close(ctx)
		}
	})
	_, err := e.conn.Exec(context.Background(), fmt.Sprintf(`SET ROLE %s; SELECT walhook.skip_key('x')`, role))
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("skip_key as a role without EXECUTE: %v, want permission denied", err)
	}
}

// TestPrintSQLRunsAsScript runs the printed script as one multi-statement simple query,
// as psql would run the file, twice, and checks the result.
func TestPrintSQLRunsAsScript(t *testing.T) {
	e := newEnv(t)
	var script bytes.Buffer
	if err := schema.PrintSQL(&script, e.m, e.opts); err != nil {
		t.Fatalf("PrintSQL: %v", err)
	}
	var snaps []snapshot
	for run := 1; run <= 2; run++ {
		if _, err := e.conn.Exec(context.Background(), script.String()); err != nil {
			t.Fatalf("run %d of the printed script: %v", run, err)
		}
		if err := e.check(); err != nil {
			t.Fatalf("Check after run %d of the printed script: %v", run, err)
		}
		snaps = append(snaps, e.snapshot(t))
	}
	if diff := cmp.Diff(snaps[0], snaps[1]); diff != "" {
		t.Errorf("second run of the script changed the catalog (-first +second):\n%s", diff)
	}
	// Setup agrees that nothing is left to do.
	var logBuf bytes.Buffer
	e.setup(t, slog.New(slog.NewJSONHandler(&logBuf, nil)))
	for name, result := range testlog.SetupSteps(t, logBuf.String()) {
		if result != "nothing to do" {
			t.Errorf("Setup after the printed script: step %q: %s", name, result)
		}
	}
}

func TestPlanQuotesIdentifiers(t *testing.T) {
	m, err := mapping.Load("")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := schema.Plan(m, schema.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range m.Tables() {
		quoted := pgx.Identifier{tb.Schema, tb.Name}.Sanitize()
		found := false
		for _, s := range steps {
			if s.Name == "replica identity "+tb.String() {
				found = strings.Contains(s.SQL, "ALTER TABLE "+quoted+" REPLICA IDENTITY FULL")
			}
		}
		if !found {
			t.Errorf("no replica identity step altering %s", quoted)
		}
	}
	if last := steps[len(steps)-1]; last.Name != "slot walhook" {
		t.Errorf("last step is %q, want the slot", last.Name)
	}
}

func TestPlanRejectsBadOptions(t *testing.T) {
	m, err := mapping.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []schema.Options{{Slot: "Walhook"}, {Slot: "a-b"}, {Slot: strings.Repeat("s", 64)}, {Publication: strings.Repeat("p", 64)}} {
		if _, err := schema.Plan(m, opts); err == nil {
			t.Errorf("Plan(%+v) succeeded", opts)
		}
	}
	if _, err := schema.Plan(nil, schema.Options{}); err == nil {
		t.Error("Plan(nil mapping) succeeded")
	}
}

// TestReadmeRunRoleSuffices gives a role exactly the README's grants for "walhook run"
// and checks that it can run Check and stream the slot.
func TestReadmeRunRoleSuffices(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	ctx := context.Background()
	role := "walhook_run_" + e.opts.Slot
	var mapped []string
	for _, tb := range e.m.Tables() {
		mapped = append(mapped, pgx.Identifier{tb.Schema, tb.Name}.Sanitize())
	}
	e.exec(t, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN REPLICATION;
		GRANT CONNECT ON DATABASE %[2]s TO %[1]s;
		GRANT USAGE ON SCHEMA crm TO %[1]s;
		GRANT SELECT ON %[3]s TO %[1]s;
		GRANT USAGE ON SCHEMA walhook TO %[1]s;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA walhook TO %[1]s;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA walhook TO %[1]s;
		REVOKE CONNECT ON DATABASE %[2]s FROM PUBLIC`,
		role, pgx.Identifier{e.conn.Config().Database}.Sanitize(), strings.Join(mapped, ", ")))
	t.Cleanup(func() {
		if c, err := pgx.Connect(ctx, e.dsn); err == nil {
			c.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %[1]s; DROP ROLE %[1]s`, role))
			c.Close(ctx)
		}
	})
	roleDSN := strings.Replace(e.dsn, "postgres://postgres@", "postgres://"+role+"@", 1)

	conn := connect(t, roleDSN)
	if err := schema.Check(ctx, conn, e.m, e.opts); err != nil {
		t.Fatalf("Check as the run role: %v", err)
	}

	repl, err := pgconn.Connect(ctx, roleDSN+"&replication=database")
	if err != nil {
		t.Fatalf("replication connection as the run role: %v", err)
	}
	defer repl.Close(ctx)
	err = pglogrepl.StartReplication(ctx, repl, e.opts.Slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names 'walhook'", "messages 'true'"},
	})
	if err != nil {
		t.Fatalf("start replication as the run role: %v", err)
	}
	e.exec(t, `SET synchronous_commit = on; BEGIN; SELECT walhook.skip_key('k'); COMMIT`)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		msg, err := repl.ReceiveMessage(rctx)
		if err != nil {
			t.Fatalf("receive as the run role: %v", err)
		}
		if cd, ok := msg.(*pgproto3.CopyData); ok && cd.Data[0] == pglogrepl.XLogDataByteID {
			return // the role decodes the stream
		}
	}
}

// TestDeliveryLogIndexesSkipPendingList checks migration 0011: a chunk record's ids go
// into the GIN indexes at once, not to a pending list that a later insert merges in a
// burst (issue 16's live p99).
func TestDeliveryLogIndexesSkipPendingList(t *testing.T) {
	e := newEnv(t)
	e.setup(t, nil)
	e.exec(t, `INSERT INTO walhook.delivery_chunks (webhook_id, delivery_id, formed_at, items, lane, pos_lsn,
			pos_seq, committed_at, event_ids, entities, entity_ids)
		SELECT gen_random_uuid(), gen_random_uuid(), now(), 100, 0, '0/1', g, now(),
			array(SELECT g || '-' || i || '-Task.Create' FROM generate_series(1, 100) i),
			array_fill('Task'::text, ARRAY[100]), array(SELECT (g * 100 + i)::text FROM generate_series(1, 100) i)
		FROM generate_series(1, 10) g`)
	for _, index := range []string{"walhook.delivery_chunks_event_ids", "walhook.delivery_chunks_entity_ids"} {
		// gin_clean_pending_list merges the pending list and returns its pages.
		var pending int64
		if err := e.conn.QueryRow(context.Background(), "SELECT gin_clean_pending_list($1::regclass)", index).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending != 0 {
			t.Errorf("%s: %d pages in the pending list, want none (fastupdate off)", index, pending)
		}
	}
}
