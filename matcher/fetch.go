package matcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// ConfigureCRMPool sets the session parameters under which Render reads CRM rows, the same
// as the replication reader's (so values render alike whether they came from the WAL or
// from a query): ISO dates, UTC time zone, PostgreSQL interval style, shortest exact floats
// and hex bytea. Render also checks them on each connection it uses and sets them if
// needed, but a configured pool saves that round trip.
func ConfigureCRMPool(cfg *pgxpool.Config) {
	maps.Copy(cfg.ConnConfig.RuntimeParams, event.SessionParams())
}

// fetcher runs the batched CRM queries of one rendered chunk on one connection.
type fetcher struct {
	m    *Matcher
	conn *pgxpool.Conn
}

func (f *fetcher) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	if f.conn != nil {
		return f.conn, nil
	}
	if f.m.cfg.CRM == nil {
		return nil, errors.New("no CRM database configured")
	}
	conn, err := f.m.cfg.CRM.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire CRM connection: %w", err)
	}
	pc := conn.Conn().PgConn()
	if !event.SessionMatches(pc.ParameterStatus) {
		_, err := conn.Exec(ctx, event.SessionSQL())
		if err != nil {
			conn.Release()
			return nil, fmt.Errorf("set CRM session parameters: %w", err)
		}
	}
	f.conn = conn
	return conn, nil
}

func (f *fetcher) release() {
	if f.conn != nil {
		f.conn.Release()
		f.conn = nil
	}
}

// load returns the rows of entity e whose column col holds one of keys, grouped by key (as
// given) and ordered by e's key within a group: one query, whatever the number of keys.
// Keys that cannot be of col's type (not a UUID for a uuid column…) match nothing.
//
// limit > 0 reads at most limit rows per key (the first by e's key). budget, when not nil,
// is decreased by the JSON size of each row read, the last row of a full group aside (it
// only tells that more exist); once it drops below zero load stops reading and reports
// the result incomplete (complete false), so a render never holds more than its budget
// of expansion rows.
func (f *fetcher) load(ctx context.Context, e *mapping.Entity, col string, keys []string, limit int, budget *int64) (rows map[string][]event.Row, complete bool, err error) {
	return f.loadWhere(ctx, e, col, nil, keys, limit, budget)
}

// loadWhere is load restricted to the rows satisfying where (a polymorphic relation's type
// condition, on e's API names); nil means no restriction. An entity over several tables is
// read from each, one query per table, its groups merged in table order (and cut to limit).
func (f *fetcher) loadWhere(ctx context.Context, e *mapping.Entity, col string, where *mapping.Condition, keys []string, limit int, budget *int64) (rows map[string][]event.Row, complete bool, err error) {
	tables := e.Tables
	if len(tables) == 0 {
		tables = []mapping.Table{e.Table}
	}
	out := make(map[string][]event.Row, len(keys))
	for _, t := range tables {
		complete, err := f.loadFrom(ctx, e, t, col, where, keys, limit, budget, out)
		if err != nil || !complete {
			return nil, false, err
		}
	}
	if limit > 0 && len(tables) > 1 {
		for k, group := range out {
			if len(group) > limit {
				out[k] = group[:limit]
			}
		}
	}
	return out, true, nil
}

// loadFrom reads e's rows of table t into out.
func (f *fetcher) loadFrom(ctx context.Context, e *mapping.Entity, t mapping.Table, col string, where *mapping.Condition, keys []string, limit int, budget *int64, out map[string][]event.Row) (complete bool, err error) {
	conn, err := f.acquire(ctx)
	if err != nil {
		return false, err
	}
	typ, err := f.m.types.typeOf(ctx, conn, f.m.cfg.Mapping, t, col)
	if err != nil {
		return false, err
	}
	keys = slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return !castable(typ, k) })
	if len(keys) == 0 {
		return true, nil
	}
	args := []any{pgx.QueryResultFormats{pgx.TextFormatCode}, keys}
	f.m.met.renderQuery.Inc()
	res, err := conn.Query(ctx, selectSQL(e, t, col, typ, limit, where), args...)
	if err != nil {
		return false, fmt.Errorf("load %s by %s: %w", e.Name, col, err)
	}
	defer res.Close()
	skip := 1 // the requested key, and the row number when limited
	if limit > 0 {
		skip = 2
	}
	fds := res.FieldDescriptions()[skip:]
	names, oids := apiNames(e, fds), typeOIDs(fds)
	for res.Next() {
		raw := res.RawValues()
		row := event.TextRow(names, oids, raw[skip:])
		group := append(out[string(raw[0])], row)
		out[string(raw[0])] = group
		if budget != nil && (limit == 0 || len(group) < limit) {
			if *budget -= jsonSize(row); *budget < 0 {
				return false, nil
			}
		}
	}
	if err := res.Err(); err != nil {
		return false, fmt.Errorf("load %s by %s: %w", e.Name, col, err)
	}
	return true, nil
}

// jsonSize is about the size of row encoded as a JSON object.
func jsonSize(row event.Row) int64 {
	n := 2
	for _, f := range row {
		n += len(f.Name) + len(f.Value.Raw) + 4
	}
	return int64(n)
}

// selectSQL selects whole rows (t.*): the columns are named by the result, not by a list
// read at start-up, so a column added to or dropped from a live table never breaks a render.
// The first result column is the requested key. limit > 0 keeps the first limit rows by
// e's key for each requested key, numbered by a window function in a second column: the
// server still joins as before (a hash join when the foreign key has no index, where a
// LATERAL ... LIMIT would scan the table once per key), but sends no more.
func selectSQL(e *mapping.Entity, table mapping.Table, col, typ string, limit int, where *mapping.Condition) string {
	key := pgx.Identifier{e.Key}.Sanitize()
	var b strings.Builder
	if limit > 0 {
		b.WriteString(`SELECT * FROM (SELECT k.req AS "walhook req", row_number() OVER (PARTITION BY k.req ORDER BY t.`)
		b.WriteString(key)
		b.WriteString(`) AS "walhook rn", t.*`)
	} else {
		b.WriteString("SELECT k.req, t.*")
	}
	b.WriteString(" FROM unnest($1::text[]) AS k(req) JOIN ")
	b.WriteString(pgx.Identifier{table.Schema, table.Name}.Sanitize())
	b.WriteString(" AS t ON t.")
	b.WriteString(pgx.Identifier{col}.Sanitize())
	b.WriteString(" = k.req::")
	b.WriteString(typ)
	// The entity's own rows (discriminator), soft-deleted rows left out (§11).
	b.WriteString(" AND ")
	b.WriteString(e.LiveRowsSQL("t"))
	if where != nil {
		b.WriteString(" AND ")
		b.WriteString(where.SQL("t", e.Column))
	}
	if limit > 0 {
		b.WriteString(`) AS s WHERE "walhook rn" <= `)
		b.WriteString(strconv.Itoa(limit))
		b.WriteString(` ORDER BY "walhook req", "walhook rn"`)
		return b.String()
	}
	b.WriteString(" ORDER BY k.req, t.")
	b.WriteString(key)
	return b.String()
}

// apiNames maps result columns to the entity's API names; "" marks an excluded column.
func apiNames(e *mapping.Entity, fds []pgconn.FieldDescription) []string {
	names := make([]string, len(fds))
	for i, fd := range fds {
		if api, ok := e.FieldName(fd.Name); ok {
			names[i] = api
		}
	}
	return names
}

// typeOIDs returns the result columns' type OIDs.
func typeOIDs(fds []pgconn.FieldDescription) []uint32 {
	oids := make([]uint32, len(fds))
	for i, fd := range fds {
		oids[i] = fd.DataTypeOID
	}
	return oids
}

// castable reports whether key can be cast to the SQL type typ without an error that would
// fail the whole query.
func castable(typ, key string) bool {
	switch typ {
	case "uuid":
		_, err := uuid.Parse(key)
		return err == nil
	case "smallint":
		_, err := strconv.ParseInt(strings.TrimSpace(key), 10, 16)
		return err == nil
	case "integer":
		_, err := strconv.ParseInt(strings.TrimSpace(key), 10, 32)
		return err == nil
	case "bigint":
		_, err := strconv.ParseInt(strings.TrimSpace(key), 10, 64)
		return err == nil
	case "numeric", "real", "double precision":
		_, ok := parseDecimal([]byte(strings.TrimSpace(key)))
		return ok
	}
	return !strings.ContainsRune(key, 0)
}

// castType turns a type as format_type prints it without its modifier into one a key may
// be cast to without losing characters: "character" alone is char(1), which cut every
// char(36) key (SuiteCRM ids) to its first character; bpchar keeps the length.
func castType(typ string) string {
	switch typ {
	case "character":
		return "bpchar"
	case "bit":
		return "bit varying"
	}
	return typ
}

// typeCache holds the SQL types of the mapped tables' columns, read once from the catalog.
type typeCache struct {
	mu    sync.Mutex
	types map[mapping.Table]map[string]string
}

func (c *typeCache) typeOf(ctx context.Context, q *pgxpool.Conn, m *mapping.Mapping, t mapping.Table, col string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if typ, ok := c.types[t][col]; ok {
		return typ, nil
	}
	tables := m.Tables()
	schemas, names := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	rows, _ := q.Query(ctx, `SELECT n.nspname::text, c.relname::text, a.attname::text, pg_catalog.format_type(a.atttypid, NULL)
		FROM unnest($1::text[], $2::text[]) AS w(s, r)
		JOIN pg_catalog.pg_namespace n ON n.nspname = w.s
		JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.r
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped`, schemas, names)
	types := map[mapping.Table]map[string]string{}
	var tt mapping.Table
	var name, typ string
	_, err := pgx.ForEachRow(rows, []any{&tt.Schema, &tt.Name, &name, &typ}, func() error {
		if types[tt] == nil {
			types[tt] = map[string]string{}
		}
		types[tt][name] = castType(typ)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read column types: %w", err)
	}
	c.types = types
	if typ, ok := types[t][col]; ok {
		return typ, nil
	}
	return "", fmt.Errorf("column %s.%s does not exist", t, col)
}

// latestRow is one row read by latest: the entity's row, its key as an EntityID, the
// table it came from and how many transactions ago it was last written.
type latestRow struct {
	row   event.Row
	id    string
	table mapping.Table
	age   int64
}

// latest returns e's limit most recently written rows, newest first: ordered by the age of
// the transaction that last wrote them (age(xmin): inserts and updates alike, whatever the
// key's type), then by key, descending (rows written by one transaction, or frozen by
// VACUUM, come highest key first). The entity's own rows only (discriminator), soft-deleted
// rows left out; an entity over several tables is read from each and merged. Each table is
// scanned once (a sort with a limit, no index helps), so this is for onboarding calls, not
// for the delivery path.
func (f *fetcher) latest(ctx context.Context, e *mapping.Entity, limit int) ([]latestRow, error) {
	tables := e.Tables
	if len(tables) == 0 {
		tables = []mapping.Table{e.Table}
	}
	var out []latestRow
	for _, t := range tables {
		rows, err := f.latestFrom(ctx, e, t, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	if len(tables) > 1 {
		slices.SortStableFunc(out, func(a, b latestRow) int { return cmp.Compare(a.age, b.age) })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// latestFrom reads e's latest rows of table t.
func (f *fetcher) latestFrom(ctx context.Context, e *mapping.Entity, t mapping.Table, limit int) ([]latestRow, error) {
	conn, err := f.acquire(ctx)
	if err != nil {
		return nil, err
	}
	keys := e.Keys
	if len(keys) == 0 {
		keys = []string{e.Key}
	}
	res, err := conn.Query(ctx, latestSQL(e, t, keys, limit), pgx.QueryResultFormats{pgx.TextFormatCode})
	if err != nil {
		return nil, fmt.Errorf("read the latest rows of %s from %s: %w", e.Name, t, err)
	}
	defer res.Close()
	fds := res.FieldDescriptions()[1:]
	names, oids := apiNames(e, fds), typeOIDs(fds)
	keyAt := make([]int, len(keys))
	for i, k := range keys {
		keyAt[i] = slices.IndexFunc(fds, func(fd pgconn.FieldDescription) bool { return fd.Name == k })
	}
	var out []latestRow
	for res.Next() {
		raw := res.RawValues()
		age, _ := strconv.ParseInt(string(raw[0]), 10, 64)
		var id []byte
		for i, at := range keyAt {
			if i > 0 {
				id = append(id, mapping.KeySeparator...)
			}
			if at >= 0 {
				id = append(id, raw[1+at]...)
			}
		}
		out = append(out, latestRow{row: event.TextRow(names, oids, raw[1:]), id: string(id), table: t, age: age})
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("read the latest rows of %s from %s: %w", e.Name, t, err)
	}
	return out, nil
}

// latestSQL selects the age of each row's last writing transaction, then the whole row
// (t.*, as selectSQL), newest first.
func latestSQL(e *mapping.Entity, t mapping.Table, keys []string, limit int) string {
	var b strings.Builder
	b.WriteString(`SELECT age(t.xmin)::bigint AS "walhook age", t.* FROM `)
	b.WriteString(pgx.Identifier{t.Schema, t.Name}.Sanitize())
	b.WriteString(" AS t WHERE ")
	b.WriteString(e.LiveRowsSQL("t"))
	b.WriteString(" ORDER BY 1")
	for _, k := range keys {
		b.WriteString(", t.")
		b.WriteString(pgx.Identifier{k}.Sanitize())
		b.WriteString(" DESC")
	}
	b.WriteString(" LIMIT ")
	b.WriteString(strconv.Itoa(limit))
	return b.String()
}
