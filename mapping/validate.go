package mapping

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query; *pgx.Conn, *pgxpool.Pool and pgx.Tx satisfy it. Validate only
// reads the system catalogs through it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Validate checks the mapping against the live schema reachable through q and completes it.
//
// It checks that every mapped table exists (as an ordinary or partitioned table) and that
// every column the mapping names exists: keys, owners, renamed fields, excluded columns,
// soft delete, discriminator and transition fields, relation columns and link columns. It
// also rejects two columns that end up with the same API name. All problems are reported
// in one *ValidationError wrapping ErrInvalid, e.g. "mapping: unknown table crm.acounts
// (entity Account); unknown column crm.contacts.emial1 (entity Contact, field email1)".
// Failures to query the catalog are returned as other errors.
//
// On success it records each entity's columns (for FieldNames and HasField) and rebuilds
// each entity's Relations: the file's relations plus those derived from single-column
// foreign keys between mapped tables (see deriveRelations). Validate mutates the mapping:
// call it once, before the mapping is shared between goroutines. Calling it again (say,
// after a schema change) rebuilds the same state from the file and the new catalog.
func (m *Mapping) Validate(ctx context.Context, q Querier) error {
	tables := m.Tables()
	cat, err := readColumns(ctx, q, tables)
	if err != nil {
		return err
	}
	p := &problems{}
	for _, e := range m.Entities {
		checkEntityColumns(m, e, cat, p)
	}
	for _, l := range m.Links {
		checkLinkColumns(l, cat, p)
	}
	if err := p.err(""); err != nil {
		return err
	}
	keys, err := readUniqueKeys(ctx, q, tables)
	if err != nil {
		return err
	}
	for _, e := range m.Entities {
		for _, t := range e.Tables {
			checkKey(e, t, keys[t], p)
		}
	}
	if err := p.err(""); err != nil {
		return err
	}
	for _, e := range m.Entities {
		var cols []string
		for _, t := range e.Tables {
			for _, c := range cat[t] {
				if !slices.Contains(cols, c) {
					cols = append(cols, c)
				}
			}
		}
		e.recordColumns(cols)
	}
	checkNameClashes(m, p)
	if err := p.err(""); err != nil {
		return err
	}
	fks, err := readForeignKeys(ctx, q, tables)
	if err != nil {
		return err
	}
	m.deriveRelations(fks)
	return nil
}

// catalog maps each existing mapped table to its columns in attribute order.
type catalog map[Table][]string

func (c catalog) hasColumn(t Table, col string) bool {
	for _, have := range c[t] {
		if have == col {
			return true
		}
	}
	return false
}

const columnsSQL = `
SELECT t.schema_name, t.table_name, a.attname::text
FROM unnest($1::text[], $2::text[]) AS t(schema_name, table_name)
JOIN pg_catalog.pg_namespace n ON n.nspname = t.schema_name
JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.table_name
	AND c.relkind IN ('r', 'p')
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY t.schema_name, t.table_name, a.attnum`

// readColumns returns the columns of those of tables that exist.
func readColumns(ctx context.Context, q Querier, tables []Table) (catalog, error) {
	schemas, names := splitTables(tables)
	rows, err := q.Query(ctx, columnsSQL, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("mapping: read columns of %d tables: %w", len(tables), err)
	}
	cat := catalog{}
	var t Table
	var col *string
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &col}, func() error {
		cols := cat[t]
		if col != nil {
			cols = append(cols, *col)
		}
		if cols == nil {
			cols = []string{}
		}
		cat[t] = cols
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mapping: read columns of %d tables: %w", len(tables), err)
	}
	return cat, nil
}

func splitTables(tables []Table) (schemas, names []string) {
	for _, t := range tables {
		schemas = append(schemas, t.Schema)
		names = append(names, t.Name)
	}
	return schemas, names
}

// checkEntityColumns reports, for each of the entity's tables, an unknown table or every
// unknown column it names: an entity over several tables names the same columns in each.
func checkEntityColumns(m *Mapping, e *Entity, cat catalog, p *problems) {
	for _, t := range e.Tables {
		checkEntityColumnsIn(m, e, t, cat, p)
	}
}

func checkEntityColumnsIn(m *Mapping, e *Entity, tbl Table, cat catalog, p *problems) {
	if _, ok := cat[tbl]; !ok {
		p.addf("unknown table %s (entity %s)", tbl, e.Name)
		return
	}
	check := func(t Table, col, what string) {
		if col != "" && !cat.hasColumn(t, col) {
			p.addf("unknown column %s.%s (entity %s, %s)", t, col, e.Name, what)
		}
	}
	check(tbl, e.Key, "key")
	check(tbl, e.Column(e.Owner), "owner")
	for _, api := range sortedKeys(e.Fields) {
		check(tbl, e.Fields[api], "field "+api)
	}
	for _, col := range e.Exclude {
		check(tbl, col, "exclude")
	}
	for _, k := range e.Keys[min(1, len(e.Keys)):] {
		check(tbl, k, "key")
	}
	for _, c := range e.SoftDelete.clauses() {
		check(tbl, e.Column(c.Field), "soft_delete field "+c.Field)
	}
	for _, c := range e.Discriminator.clauses() {
		check(tbl, e.Column(c.Field), "discriminator field "+c.Field)
	}
	for _, tr := range e.Transitions {
		if tr.Field != "" {
			check(tbl, e.Column(tr.Field), fmt.Sprintf("transition %s field %s", tr.Action, tr.Field))
		}
		for _, c := range tr.When.clauses() {
			check(tbl, e.Column(c.Field), fmt.Sprintf("transition %s when field %s", tr.Action, c.Field))
		}
		if v := tr.Via; v != nil {
			if src := m.byName[v.Entity]; src != nil {
				for _, st := range src.Tables {
					if _, ok := cat[st]; ok {
						check(st, src.Column(v.Field), fmt.Sprintf("transition %s via %s.%s", tr.Action, v.Entity, v.Field))
					}
				}
			}
		}
		if lk := tr.Lookup; lk != nil {
			if _, ok := cat[lk.Table]; !ok {
				p.addf("unknown table %s (entity %s, transition %s lookup)", lk.Table, e.Name, tr.Action)
				continue
			}
			check(lk.Table, lk.Key, fmt.Sprintf("transition %s lookup key", tr.Action))
			for _, c := range lk.When.clauses() {
				check(lk.Table, c.Field, fmt.Sprintf("transition %s lookup when", tr.Action))
			}
		}
	}
	for _, name := range sortedKeys(e.fileRelations) {
		r := e.fileRelations[name]
		if !r.Many {
			check(tbl, r.Column, "relation "+name)
			continue
		}
		// One-to-many: the column is on the target's table.
		if target := m.byName[r.Target]; target != nil {
			if _, ok := cat[target.Table]; ok {
				check(target.Table, r.Column, "relation "+name)
				for _, c := range r.Where.clauses() {
					check(target.Table, target.Column(c.Field), "relation "+name+" where")
				}
			}
		}
	}
}

func checkLinkColumns(l *Link, cat catalog, p *problems) {
	where := "link " + l.Table.String()
	if _, ok := cat[l.Table]; !ok {
		p.addf("unknown table %s (%s)", l.Table, where)
		return
	}
	check := func(col, what string) {
		if col != "" && !cat.hasColumn(l.Table, col) {
			p.addf("unknown column %s.%s (%s, %s)", l.Table, col, where, what)
		}
	}
	check(l.Parent.TypeField, "parent.type_field")
	check(l.Parent.Field, "parent.field")
	for _, col := range sortedKeys(l.Parent.OneOf) {
		check(col, "parent.one_of")
	}
	check(l.Related.Field, "related.field")
	for _, c := range l.When.clauses() {
		check(c.Field, "when")
	}
	for _, c := range l.SoftDelete.clauses() {
		check(c.Field, "soft_delete")
	}
}

// recordColumns stores the live columns and the API names they yield.
func (e *Entity) recordColumns(cols []string) {
	e.live = append([]string{}, cols...)
	e.apiNames = map[string]bool{}
	for _, col := range cols {
		if api, ok := e.FieldName(col); ok {
			e.apiNames[api] = true
		}
	}
}

// checkNameClashes reports API names shared by two columns (a rename onto the name of a
// column that keeps its own) and file relations named like a field.
func checkNameClashes(m *Mapping, p *problems) {
	for _, e := range m.Entities {
		owner := map[string]string{}
		for _, col := range e.live {
			api, ok := e.FieldName(col)
			if !ok {
				continue
			}
			if other, dup := owner[api]; dup {
				p.addf("entity %s: API name %s names two columns of %s (%s and %s); rename or exclude one",
					e.Name, api, e.Table, other, col)
				continue
			}
			owner[api] = col
		}
		for _, name := range sortedKeys(e.fileRelations) {
			r := e.fileRelations[name]
			if col, ok := owner[name]; ok && (r.Many || col != r.Column) {
				p.addf("entity %s: relations.%s: the name is already the API name of column %s", e.Name, name, col)
			}
		}
	}
}
