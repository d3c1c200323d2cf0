package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walhook/walhook/mapping"
)

// Plan returns every setup step for the mapping, in order: the migrations, the
// publication, REPLICA IDENTITY FULL per mapped table, and the slot (last; it must run
// outside the transaction of the others). Each step's SQL is guarded, so the list is the
// same whatever the database's state, and running it twice changes nothing.
func Plan(m *mapping.Mapping, opts Options) ([]Step, error) {
	p, err := newPlan(m, opts)
	if err != nil {
		return nil, err
	}
	return p.steps, nil
}

// plan is Plan's result with what Setup and Check need besides the steps.
type plan struct {
	opts   Options // with defaults
	tables []mapping.Table
	latest int // the newest embedded migration version
	// want are the migration versions this target needs.
	want  []int
	steps []Step
}

func newPlan(m *mapping.Mapping, opts Options) (*plan, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("plan setup: %w", err)
	}
	tables, err := mappedTables(m)
	if err != nil {
		return nil, fmt.Errorf("plan setup: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("plan setup: %w", err)
	}
	p := &plan{opts: opts, tables: tables, latest: ms[len(ms)-1].version}
	for _, mg := range ms {
		if mg.runsOn(opts.Target) {
			p.want = append(p.want, mg.version)
			p.steps = append(p.steps, migrationStep(mg))
		}
	}
	if opts.Target == TargetState {
		return p, nil
	}
	p.steps = append(p.steps, publicationStep(opts.Publication, tables))
	for _, t := range tables {
		p.steps = append(p.steps, replicaIdentityStep(t))
	}
	if opts.RecreateLostSlot {
		p.steps = append(p.steps, dropLostSlotStep(opts.Slot))
	}
	p.steps = append(p.steps, slotStep(opts.Slot))
	return p, nil
}

func migrationStep(mg migration) Step {
	v := strconv.Itoa(mg.version)
	sql := `DO $walhook_migration$
DECLARE
    walhook_applied_ boolean := false;
BEGIN
    IF to_regclass('walhook.schema_migrations') IS NOT NULL THEN
        walhook_applied_ := EXISTS (SELECT FROM walhook.schema_migrations WHERE version = ` + v + `);
    END IF;
    IF walhook_applied_ THEN
        RETURN;
    END IF;
` + strings.TrimRight(mg.body, "\n") + `
    INSERT INTO walhook.schema_migrations (version, applied_at) VALUES (` + v + `, now());
END
$walhook_migration$`
	return Step{
		Name:    "migration " + mg.name,
		SQL:     sql,
		pending: func(st *state) bool { return !st.applied[mg.version] },
	}
}

// publishOptions are the publication parameters walhook relies on: every kind of change
// (TRUNCATE is logged and counted), and changes to partitions published under the
// partitioned table's name, which is the name the mapping uses.
const publishOptions = `publish = 'insert, update, delete, truncate', publish_via_partition_root = true`

func publicationStep(pub string, tables []mapping.Table) Step {
	idents := make([]string, len(tables))
	oids := make([]string, len(tables))
	for i, t := range tables {
		idents[i] = pgx.Identifier{t.Schema, t.Name}.Sanitize()
		oids[i] = quoteLiteral(idents[i]) + "::regclass::oid"
	}
	name := pgx.Identifier{pub}.Sanitize()
	list := "\n            " + strings.Join(idents, ",\n            ")
	sql := `DO $walhook$
DECLARE
    want oid[] := ARRAY[
        ` + strings.Join(oids, ",\n        ") + `];
    have oid[];
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = ` + quoteLiteral(pub) + `) THEN
        CREATE PUBLICATION ` + name + ` FOR TABLE` + list + `
            WITH (` + publishOptions + `);
        RETURN;
    END IF;
    have := ARRAY(
        SELECT c.oid
        FROM pg_catalog.pg_publication_tables pt
        JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname
        JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename
        WHERE pt.pubname = ` + quoteLiteral(pub) + `);
    IF NOT (have @> want AND want @> have) THEN
        ALTER PUBLICATION ` + name + ` SET TABLE` + list + `;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = ` + quoteLiteral(pub) + `
               AND NOT (pubinsert AND pubupdate AND pubdelete AND pubtruncate AND pubviaroot)) THEN
        ALTER PUBLICATION ` + name + ` SET (` + publishOptions + `);
    END IF;
END
$walhook$`
	return Step{
		Name:    "publication " + pub,
		SQL:     sql,
		pending: func(st *state) bool { return len(st.publicationProblems(pub, tables)) > 0 },
	}
}

func replicaIdentityStep(t mapping.Table) Step {
	ident := pgx.Identifier{t.Schema, t.Name}.Sanitize()
	sql := `DO $walhook$
BEGIN
    IF (SELECT relreplident FROM pg_catalog.pg_class WHERE oid = ` + quoteLiteral(ident) + `::regclass) <> 'f' THEN
        ALTER TABLE ` + ident + ` REPLICA IDENTITY FULL;
    END IF;
END
$walhook$`
	return Step{
		Name:    "replica identity " + t.String(),
		SQL:     sql,
		pending: func(st *state) bool { return st.replident[t] != "f" },
	}
}

func slotStep(slot string) Step {
	sql := `SELECT slot_name, lsn FROM pg_catalog.pg_create_logical_replication_slot(` + quoteLiteral(slot) + `, 'pgoutput')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_replication_slots WHERE slot_name = ` + quoteLiteral(slot) + `)`
	return Step{
		Name:      "slot " + slot,
		SQL:       sql,
		pending:   func(st *state) bool { return st.slot == nil || st.slot.lost() },
		outsideTx: true,
	}
}

// dropLostSlotStep drops the slot only while the server reports it lost: a lost slot can
// never stream again, and only a new one lets walhook go on. It is planned only with
// Options.RecreateLostSlot.
func dropLostSlotStep(slot string) Step {
	sql := `SELECT pg_catalog.pg_drop_replication_slot(slot_name) FROM pg_catalog.pg_replication_slots
WHERE slot_name = ` + quoteLiteral(slot) + ` AND wal_status = 'lost'`
	return Step{
		Name:      "drop lost slot " + slot,
		SQL:       sql,
		pending:   func(st *state) bool { return st.slot != nil && st.slot.lost() },
		outsideTx: true,
	}
}

// quoteLiteral quotes s as an SQL string literal, as PostgreSQL's quote_literal does, so
// that it reads the same whatever standard_conforming_strings says.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// PrintSQL writes the setup as a script for psql (psql -v ON_ERROR_STOP=1 -f FILE) that
// also runs as one multi-statement simple query: the guarded steps in one transaction,
// then the slot.
func PrintSQL(w io.Writer, m *mapping.Mapping, opts Options) error {
	p, err := newPlan(m, opts)
	if err != nil {
		return err
	}
	opts, steps := p.opts, p.steps
	var b strings.Builder
	fmt.Fprintf(&b, "-- walhook setup: schema walhook, publication %q, slot %q.\n", opts.Publication, opts.Slot)
	b.WriteString("-- Run as a superuser, or as the mapped tables' owner with the REPLICATION attribute\n")
	b.WriteString("-- and CREATE on the database:  psql -v ON_ERROR_STOP=1 -f setup.sql\n")
	b.WriteString("-- Every step checks the catalog first: running this again changes nothing.\n\n")
	b.WriteString("BEGIN;\n")
	fmt.Fprintf(&b, "SELECT pg_catalog.pg_advisory_xact_lock(%d);\n", advisoryLockKey)
	inTx := true
	for _, s := range steps {
		if s.outsideTx && inTx {
			b.WriteString("\nCOMMIT;\n")
			b.WriteString("\n-- A logical slot cannot be created in a transaction that has written.\n")
			inTx = false
		}
		fmt.Fprintf(&b, "\n-- %s\n%s;\n", s.Name, s.SQL)
	}
	if inTx {
		b.WriteString("\nCOMMIT;\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("print setup sql: %w", err)
	}
	return nil
}

// Setup brings the database up to date for the mapping: it runs each step of Plan whose
// work is still pending and logs every step with its outcome ("applied" or "nothing to
// do"). It refuses, before changing anything, when something setup cannot fix is in the
// way (wal_level, a foreign slot of the same name, a newer walhook schema).
func Setup(ctx context.Context, conn *pgx.Conn, m *mapping.Mapping, opts Options, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := newPlan(m, opts)
	if err != nil {
		return err
	}
	opts, steps := p.opts, p.steps
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.pg_advisory_lock($1)", advisoryLockKey); err != nil {
		return fmt.Errorf("setup: take advisory lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_catalog.pg_advisory_unlock($1)", advisoryLockKey)

	st, err := inspect(ctx, conn, p.tables, opts)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	ps := st.problems(p, opts)
	if opts.RecreateLostSlot {
		ps = slices.DeleteFunc(ps, func(p problem) bool { return p.lostSlot })
	}
	if hasBlockers(ps) {
		return fmt.Errorf("setup: %s", describe(blockers(ps)))
	}
	applied := 0
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, s := range steps {
			if s.outsideTx {
				continue
			}
			n, err := runStep(ctx, tx, s, st, log)
			applied += n
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	for _, s := range steps {
		if !s.outsideTx {
			continue
		}
		if s.pending(st) {
			warnOpenTransactions(ctx, conn, s.Name, log)
		}
		n, err := runStep(ctx, conn, s, st, log)
		applied += n
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	if st.slot != nil && st.slot.lost() {
		if err := reportRecreated(ctx, conn, opts.Slot, st.slot, log); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	log.Info("setup complete", "steps", len(steps), "applied", applied,
		"slot", opts.Slot, "publication", opts.Publication)
	return nil
}

// reportRecreated says how much history a recreated lost slot left behind: the changes
// between the lost slot's confirmed position and the new slot's start were never read.
func reportRecreated(ctx context.Context, q querier, slot string, lost *slotState, log *slog.Logger) error {
	var start string
	var gone int64
	err := q.QueryRow(ctx, `SELECT confirmed_flush_lsn::text, coalesce(confirmed_flush_lsn - $2::pg_lsn, 0)::bigint
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, slot, lost.confirmedOrZero()).Scan(&start, &gone)
	if err != nil {
		return fmt.Errorf("read recreated slot %q: %w", slot, err)
	}
	log.Warn("recreated the lost replication slot: changes committed between its last confirmed position and the new slot's start "+
		"were never read and will not be delivered; backfill the affected webhooks to resync",
		"slot", slot, "lost_confirmed_lsn", lost.confirmed, "new_start_lsn", start, "wal_bytes_gone", gone)
	return nil
}

// warnOpenTransactions logs, before the slot is created, that creation waits for the
// transactions open now (in any database of the cluster) that have written, when there
// are any: PostgreSQL builds the slot's starting snapshot only after they end, so an idle
// session left in a transaction makes setup hang without a word. Sessions of other roles
// are visible only to superusers and pg_read_all_stats, so the count is a lower bound.
func warnOpenTransactions(ctx context.Context, conn *pgx.Conn, step string, log *slog.Logger) {
	var n, oldestPID int
	var oldestAge float64
	err := conn.QueryRow(ctx, `SELECT count(*)::int, coalesce((array_agg(pid ORDER BY xact_start))[1], 0),
    coalesce(extract(epoch FROM now() - min(xact_start)), 0)::float8
FROM pg_catalog.pg_stat_activity
WHERE backend_xid IS NOT NULL AND pid <> pg_catalog.pg_backend_pid()`).Scan(&n, &oldestPID, &oldestAge)
	if err != nil {
		log.Debug("setup: cannot list open transactions", "err", err)
		return
	}
	if n > 0 {
		log.Warn("setup step waits for open transactions to end (creating a logical slot waits for every transaction that has written)",
			"step", step, "open_transactions", n, "oldest_pid", oldestPID,
			"oldest_age", time.Duration(oldestAge*float64(time.Second)).Round(time.Millisecond))
	}
}

// executor is what runStep needs of a connection or transaction.
type executor interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// runStep runs s if the inspected state calls for it and reports whether it did.
func runStep(ctx context.Context, db executor, s Step, st *state, log *slog.Logger) (int, error) {
	if !s.pending(st) {
		log.Info("setup step", "step", s.Name, "result", "nothing to do")
		return 0, nil
	}
	if _, err := db.Exec(ctx, s.SQL); err != nil {
		var pgErr *pgconn.PgError
		// Someone created the slot since the inspection: Setups are serialised, but a
		// psql run of the printed script or another tool is not.
		if s.outsideTx && errors.As(err, &pgErr) && pgErr.Code == "42710" {
			log.Info("setup step", "step", s.Name, "result", "nothing to do")
			return 0, nil
		}
		return 0, fmt.Errorf("%s: %w", s.Name, err)
	}
	log.Info("setup step", "step", s.Name, "result", "applied")
	return 1, nil
}
