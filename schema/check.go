package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/mapping"
)

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
	ps := slices.DeleteFunc(st.problems(p, p.opts), func(p problem) bool { return p.lostSlot })
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

// problems lists what is wrong with st for the plan's target: the migrations it wants
// (p.want, the binary's newest being p.latest), and on the CRM database the mapped
// tables' publication, replica identity and slot.
func (st *state) problems(p *plan, opts Options) []problem {
	tables := p.tables
	var ps []problem
	if opts.Target != TargetState && st.walLevel != "logical" {
		ps = append(ps, problem{text: fmt.Sprintf("wal_level is %q, not \"logical\"", st.walLevel),
			fix: "set wal_level = logical in postgresql.conf and restart PostgreSQL"})
	}
	ps = append(ps, st.migrationProblems(p.want, p.latest)...)
	if opts.Target == TargetState {
		return ps
	}
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

func (st *state) migrationProblems(want []int, latest int) []problem {
	if !st.ledger {
		return []problem{{text: "the walhook schema is missing (no table walhook.schema_migrations)"}}
	}
	var missing []string
	newest := 0
	for _, v := range want {
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
