// Package schema owns walhook's footprint in the CRM database: its own schema "walhook"
// (created and upgraded by embedded, versioned migrations), the publication of exactly the
// mapped tables, REPLICA IDENTITY FULL on them, the skip-key helper walhook.skip_key, and
// the logical replication slot (pgoutput).
//
// Guarantees:
//   - Setup is idempotent. Every step checks the catalog before it acts, so a second run
//     changes nothing and logs "nothing to do" for each step. Concurrent runs are
//     serialised by an advisory lock.
//   - Setup applies the migrations, the publication and the replica identities in one
//     transaction (all or nothing). The slot is created afterwards, outside it, because
//     PostgreSQL refuses to create a logical slot in a transaction that has written.
//   - PrintSQL prints the very statements Setup runs, each guarded in SQL itself, as a
//     script with the same effect under psql or as one multi-statement simple query.
//   - Check only reads the catalog and reports every problem it finds in one error that
//     wraps ErrSetupNeeded and names the fix.
//
// Adding a migration: drop migrations/NNNN_name.sql into the package, numbered one above
// the last (versions are contiguous from 1). A file is the body of a PL/pgSQL block that
// runs when its version is not yet recorded: plain SQL statements ending in semicolons; no
// transaction control, no CONCURRENTLY, no psql meta-commands, and never the dollar-quote
// tag $walhook_migration$. Setup records the version in walhook.schema_migrations in the
// same block; do not insert it yourself. Never edit a migration once released.
package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walhook/walhook/mapping"
)

// DefaultName is the slot and publication name used when Options leaves them empty.
const DefaultName = "walhook"

// ErrSetupNeeded is wrapped by Check's error when the database is not (or no longer) set
// up for this walhook binary.
var ErrSetupNeeded = errors.New("walhook setup is missing or out of date")

// Options names the replication objects walhook uses. Empty fields mean DefaultName.
type Options struct {
	// Slot is the logical replication slot: 1 to 63 of a-z, 0-9 and _.
	Slot string
	// Publication is the publication of the mapped tables.
	Publication string
	// RecreateLostSlot lets Setup drop and recreate a slot that the server invalidated
	// (wal_status lost). Without it Setup refuses to pass over a lost slot.
	RecreateLostSlot bool
}

// Step is one piece of setup, guarded so that it is safe to run any number of times.
type Step struct {
	// Name says what the step ensures, such as "migration 0001_init" or
	// "replica identity crm.account".
	Name string
	// SQL is one statement that does the work when it is still needed and nothing
	// otherwise: it checks the catalog itself. It has no trailing semicolon.
	SQL string

	// pending reports whether the inspected catalog calls for this step, so that Setup
	// can log "nothing to do" without running it.
	pending func(*state) bool
	// outsideTx marks the slot step, which must not run in a transaction that has
	// written.
	outsideTx bool
}

// advisoryLockKey serialises concurrent setups: "walhook" in ASCII.
const advisoryLockKey int64 = 0x77616c686f6f6b

var (
	migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)
	slotName      = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded migration file.
type migration struct {
	version int
	name    string // file name without ".sql"
	body    string
}

// migrations returns the embedded migrations in version order, checking that versions
// are contiguous from 1 and that each body can be wrapped in the guard block.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		sub := migrationName.FindStringSubmatch(e.Name())
		if sub == nil {
			return nil, fmt.Errorf("migration file %q: name is not NNNN_name.sql", e.Name())
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		if strings.Contains(string(body), "$walhook_migration$") {
			return nil, fmt.Errorf("migration %s: uses the reserved dollar-quote tag $walhook_migration$", e.Name())
		}
		v, _ := strconv.Atoi(sub[1])
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), body: string(body)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions are contiguous from 1)", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("no embedded migrations")
	}
	return ms, nil
}

// withDefaults fills empty names and validates them.
func (o Options) withDefaults() (Options, error) {
	if o.Slot == "" {
		o.Slot = DefaultName
	}
	if o.Publication == "" {
		o.Publication = DefaultName
	}
	if !slotName.MatchString(o.Slot) {
		return o, fmt.Errorf("slot name %q: want 1 to 63 of a-z, 0-9 and _", o.Slot)
	}
	if len(o.Publication) > 63 || strings.ContainsRune(o.Publication, 0) {
		return o, fmt.Errorf("publication name %q: want at most 63 bytes", o.Publication)
	}
	return o, nil
}

// mappedTables returns the mapping's tables, sorted and without duplicates.
func mappedTables(m *mapping.Mapping) ([]mapping.Table, error) {
	if m == nil {
		return nil, errors.New("no mapping")
	}
	ts := slices.Clone(m.Tables())
	if len(ts) == 0 {
		return nil, errors.New("mapping has no tables")
	}
	slices.SortFunc(ts, func(a, b mapping.Table) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ts), nil
}

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
	steps  []Step
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
		p.steps = append(p.steps, migrationStep(mg))
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
	ps := st.problems(p.tables, opts, p.latest)
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

// Check verifies that the database is set up for this binary and the mapping: wal_level
// is logical, every embedded migration is applied, the publication lists exactly the
// mapped tables, each mapped table has REPLICA IDENTITY FULL, and the slot exists in this
// database with the pgoutput plugin. Its error wraps ErrSetupNeeded, names every problem
// and says how to fix it. Check only reads.
func Check(ctx context.Context, conn *pgx.Conn, m *mapping.Mapping, opts Options) error {
	p, err := newPlan(m, opts)
	if err != nil {
		return err
	}
	st, err := inspect(ctx, conn, p.tables, p.opts)
	if err != nil {
		return fmt.Errorf("check setup: %w", err)
	}
	ps := slices.DeleteFunc(st.problems(p.tables, p.opts, p.latest), func(p problem) bool { return p.lostSlot })
	if len(ps) > 0 {
		return fmt.Errorf("%w: %s", ErrSetupNeeded, describe(ps))
	}
	return nil
}

// state is what inspect reads from the catalog.
type state struct {
	walLevel string
	database string
	ledger   bool // walhook.schema_migrations exists
	applied  map[int]bool
	pub      *publicationState // nil when missing
	// replident maps each mapped table to pg_class.relreplident ("" when missing).
	replident map[mapping.Table]string
	slot      *slotState // nil when missing
}

type publicationState struct {
	allTables bool
	flagsOK   bool // publishes insert, update, delete, truncate via the partition root
	tables    map[mapping.Table]bool
}

type slotState struct {
	kind, plugin, database string
	walStatus              string // reserved, extended, unreserved or lost
	confirmed              string // confirmed_flush_lsn, "" when NULL
}

// lost reports a slot the server invalidated: it can never stream again.
func (s *slotState) lost() bool { return s.walStatus == "lost" }

func (s *slotState) confirmedOrZero() string {
	if s.confirmed == "" {
		return "0/0"
	}
	return s.confirmed
}

// querier is what inspect needs of a connection or transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inspect reads the catalog state that setup manages.
func inspect(ctx context.Context, q querier, tables []mapping.Table, opts Options) (*state, error) {
	st := &state{applied: map[int]bool{}, replident: map[mapping.Table]string{}}
	err := q.QueryRow(ctx, `SELECT current_setting('wal_level'), current_database(),
		to_regclass('walhook.schema_migrations') IS NOT NULL`).Scan(&st.walLevel, &st.database, &st.ledger)
	if err != nil {
		return nil, fmt.Errorf("read server settings: %w", err)
	}
	if st.ledger {
		rows, _ := q.Query(ctx, `SELECT version FROM walhook.schema_migrations`)
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return nil, fmt.Errorf("read walhook.schema_migrations: %w", err)
		}
		for _, v := range versions {
			st.applied[int(v)] = true
		}
	}
	if st.pub, err = inspectPublication(ctx, q, opts.Publication); err != nil {
		return nil, err
	}
	if err := inspectReplicaIdentity(ctx, q, tables, st.replident); err != nil {
		return nil, err
	}
	var s slotState
	err = q.QueryRow(ctx, `SELECT slot_type, coalesce(plugin, ''), coalesce(database, ''), coalesce(wal_status, ''),
		coalesce(confirmed_flush_lsn::text, '')
		FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`, opts.Slot).Scan(&s.kind, &s.plugin, &s.database, &s.walStatus, &s.confirmed)
	switch {
	case err == nil:
		st.slot = &s
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("read replication slot %q: %w", opts.Slot, err)
	}
	return st, nil
}

func inspectPublication(ctx context.Context, q querier, pub string) (*publicationState, error) {
	p := &publicationState{tables: map[mapping.Table]bool{}}
	err := q.QueryRow(ctx, `SELECT puballtables,
		pubinsert AND pubupdate AND pubdelete AND pubtruncate AND pubviaroot
		FROM pg_catalog.pg_publication WHERE pubname = $1`, pub).Scan(&p.allTables, &p.flagsOK)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read publication %q: %w", pub, err)
	}
	rows, _ := q.Query(ctx, `SELECT schemaname::text, tablename::text
		FROM pg_catalog.pg_publication_tables WHERE pubname = $1`, pub)
	var t mapping.Table
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name}, func() error {
		p.tables[t] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tables of publication %q: %w", pub, err)
	}
	return p, nil
}

func inspectReplicaIdentity(ctx context.Context, q querier, tables []mapping.Table, into map[mapping.Table]string) error {
	schemas := make([]string, len(tables))
	names := make([]string, len(tables))
	for i, t := range tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	rows, _ := q.Query(ctx, `SELECT t.s, t.n, coalesce(c.relreplident::text, '')
		FROM unnest($1::text[], $2::text[]) AS t(s, n)
		LEFT JOIN pg_catalog.pg_namespace ns ON ns.nspname = t.s
		LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid AND c.relname = t.n
			AND c.relkind IN ('r', 'p')`, schemas, names)
	var t mapping.Table
	var ident string
	_, err := pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &ident}, func() error {
		into[t] = ident
		return nil
	})
	if err != nil {
		return fmt.Errorf("read replica identity of mapped tables: %w", err)
	}
	return nil
}

// problem is one finding of Check. fix is empty when "walhook setup" fixes it; otherwise
// it says what the operator must do, and Setup refuses to run until it is done.
type problem struct {
	text string
	fix  string
	// lostSlot marks the lost-slot problem: Setup fixes it only with
	// Options.RecreateLostSlot, and Check passes over it because the running reader
	// reports it itself (its /readyz fails, the log says the fix), while the rest of
	// walhook (the API, the durable queue) keeps working.
	lostSlot bool
}

// problems lists what is wrong with st for the mapped tables, latest being the binary's
// migration version.
func (st *state) problems(tables []mapping.Table, opts Options, latest int) []problem {
	var ps []problem
	if st.walLevel != "logical" {
		ps = append(ps, problem{text: fmt.Sprintf("wal_level is %q, not \"logical\"", st.walLevel),
			fix: "set wal_level = logical in postgresql.conf and restart PostgreSQL"})
	}
	ps = append(ps, st.migrationProblems(latest)...)
	for _, text := range st.publicationProblems(opts.Publication, tables) {
		p := problem{text: text}
		if st.pub != nil && st.pub.allTables {
			p.fix = fmt.Sprintf("drop publication %q or set WALHOOK_PUBLICATION to another name", opts.Publication)
		}
		ps = append(ps, p)
	}
	var notFull []string
	for _, t := range tables {
		switch id := st.replident[t]; id {
		case "f":
		case "":
			ps = append(ps, problem{text: fmt.Sprintf("mapped table %s does not exist", t), fix: "fix the mapping"})
		default:
			notFull = append(notFull, fmt.Sprintf("%s (%s)", t, identityName(id)))
		}
	}
	if len(notFull) > 0 {
		ps = append(ps, problem{text: "REPLICA IDENTITY is not FULL on " + summarizeList(notFull, 3)})
	}
	return append(ps, st.slotProblems(opts.Slot)...)
}

// summarizeList names the first n items and counts the rest, so one line stays readable
// when every mapped table has the same problem.
func summarizeList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more tables", strings.Join(items[:n], ", "), len(items)-n)
}

func (st *state) migrationProblems(latest int) []problem {
	if !st.ledger {
		return []problem{{text: "the walhook schema is missing (no table walhook.schema_migrations)"}}
	}
	var missing []string
	newest := 0
	for v := 1; v <= latest; v++ {
		if !st.applied[v] {
			missing = append(missing, strconv.Itoa(v))
		}
	}
	for v := range st.applied {
		newest = max(newest, v)
	}
	if newest > latest {
		return []problem{{text: fmt.Sprintf("the walhook schema is at version %d, newer than this walhook's %d", newest, latest),
			fix: "upgrade walhook"}}
	}
	if len(missing) > 0 {
		return []problem{{text: fmt.Sprintf("the walhook schema is at version %d, this walhook needs %d (missing migrations %s)",
			newest, latest, strings.Join(missing, ", "))}}
	}
	return nil
}

// publicationProblems lists how the publication differs from what walhook needs.
func (st *state) publicationProblems(pub string, tables []mapping.Table) []string {
	if st.pub == nil {
		return []string{fmt.Sprintf("publication %q does not exist", pub)}
	}
	if st.pub.allTables {
		return []string{fmt.Sprintf("publication %q is FOR ALL TABLES, not for the mapped tables", pub)}
	}
	var ps, missing, extra []string
	want := map[mapping.Table]bool{}
	for _, t := range tables {
		want[t] = true
		if !st.pub.tables[t] {
			missing = append(missing, t.String())
		}
	}
	for t := range st.pub.tables {
		if !want[t] {
			extra = append(extra, t.String())
		}
	}
	slices.Sort(extra)
	if len(missing) > 0 {
		ps = append(ps, fmt.Sprintf("publication %q lacks mapped tables %s", pub, strings.Join(missing, ", ")))
	}
	if len(extra) > 0 {
		ps = append(ps, fmt.Sprintf("publication %q has unmapped tables %s", pub, strings.Join(extra, ", ")))
	}
	if !st.pub.flagsOK {
		ps = append(ps, fmt.Sprintf("publication %q does not have %s", pub, publishOptions))
	}
	return ps
}

func (st *state) slotProblems(slot string) []problem {
	s := st.slot
	switch {
	case s == nil:
		return []problem{{text: fmt.Sprintf("replication slot %q does not exist", slot)}}
	case s.kind != "logical":
		return []problem{{text: fmt.Sprintf("replication slot %q is a %s slot, not a logical one", slot, s.kind),
			fix: fmt.Sprintf("drop it with SELECT pg_drop_replication_slot('%s') or set WALHOOK_SLOT to another name", slot)}}
	case s.plugin != "pgoutput":
		return []problem{{text: fmt.Sprintf("replication slot %q uses plugin %q, not \"pgoutput\"", slot, s.plugin),
			fix: fmt.Sprintf("drop it with SELECT pg_drop_replication_slot('%s') or set WALHOOK_SLOT to another name", slot)}}
	case s.database != st.database:
		return []problem{{text: fmt.Sprintf("replication slot %q belongs to database %q, not %q", slot, s.database, st.database),
			fix: "set WALHOOK_SLOT to another name"}}
	case s.lost():
		return []problem{{
			text: fmt.Sprintf("replication slot %q was invalidated by the server (wal_status lost): it fell more than "+
				"max_slot_wal_keep_size behind, and the changes after its confirmed position %s are gone from the WAL", slot, s.confirmedOrZero()),
			fix: "run \"walhook setup --recreate-lost-slot\" (changes committed since then are not delivered; backfill the " +
				"affected webhooks to resync) and raise max_slot_wal_keep_size",
			lostSlot: true,
		}}
	}
	return nil
}

func identityName(relreplident string) string {
	switch relreplident {
	case "d":
		return "DEFAULT"
	case "n":
		return "NOTHING"
	case "i":
		return "USING INDEX"
	}
	return relreplident
}

// hasBlockers reports whether some problem needs the operator rather than setup.
func hasBlockers(ps []problem) bool { return len(blockers(ps)) > 0 }

func blockers(ps []problem) []problem {
	var out []problem
	for _, p := range ps {
		if p.fix != "" {
			out = append(out, p)
		}
	}
	return out
}

// describe joins problems into one line ending with the fixes.
func describe(ps []problem) string {
	var texts, fixes []string
	setup := false
	for _, p := range ps {
		texts = append(texts, p.text)
		if p.fix == "" {
			setup = true
		} else if !slices.Contains(fixes, p.fix) {
			fixes = append(fixes, p.fix)
		}
	}
	if setup {
		fixes = append(fixes, `run "walhook setup"`)
	}
	return strings.Join(texts, "; ") + "; to fix: " + strings.Join(fixes, ", then ")
}
