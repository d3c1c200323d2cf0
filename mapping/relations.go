package mapping

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// foreignKey is a single-column foreign key: From.Column references To.RefColumn.
type foreignKey struct {
	From      Table
	Column    string
	To        Table
	RefColumn string
}

// Multi-column foreign keys are left out: a relation follows one column to one key.
const foreignKeysSQL = `
SELECT sn.nspname::text, sc.relname::text, sa.attname::text,
       tn.nspname::text, tc.relname::text, ta.attname::text
FROM pg_catalog.pg_constraint k
JOIN pg_catalog.pg_class sc ON sc.oid = k.conrelid
JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
JOIN pg_catalog.pg_attribute sa ON sa.attrelid = k.conrelid AND sa.attnum = k.conkey[1]
JOIN pg_catalog.pg_class tc ON tc.oid = k.confrelid
JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
JOIN pg_catalog.pg_attribute ta ON ta.attrelid = k.confrelid AND ta.attnum = k.confkey[1]
WHERE k.contype = 'f' AND cardinality(k.conkey) = 1
  AND (sn.nspname::text, sc.relname::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY 1, 2, sa.attnum, k.conname`

// readForeignKeys returns the single-column foreign keys declared on tables, in a stable
// order (table, column position, constraint name), which decides who wins a name clash.
func readForeignKeys(ctx context.Context, q Querier, tables []Table) ([]foreignKey, error) {
	schemas, names := splitTables(tables)
	rows, err := q.Query(ctx, foreignKeysSQL, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("mapping: read foreign keys: %w", err)
	}
	var fks []foreignKey
	var fk foreignKey
	_, err = pgx.ForEachRow(rows, []any{&fk.From.Schema, &fk.From.Name, &fk.Column,
		&fk.To.Schema, &fk.To.Name, &fk.RefColumn}, func() error {
		fks = append(fks, fk)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mapping: read foreign keys: %w", err)
	}
	return fks, nil
}

// deriveRelations rebuilds every entity's Relations from the file's relations plus those
// derived from fks, in fks order. For a foreign key from column X of entity A's table to
// the key of entity B's table:
//
//   - A gets a many-to-one relation to B named X without its "_id" suffix (primary_account
//     for primary_account_id), or X itself when there is no such suffix. When B's table
//     holds several entities the first in file order is the target; a file relation of the
//     same name overrides it (OpptyProductRelation.oppty → Opportunity in the sample).
//   - Every entity of B's table gets a one-to-many relation to A named A's plural snake
//     case (ContactTaskRelation → contact_task_relations).
//
// A derived relation is skipped when its name is taken: by a file relation, an earlier
// derived relation, or an API field name (other than the relation's own column, for
// X without "_id"). Foreign keys from excluded columns, to a column other than the
// target's key, or between tables not both mapped derive nothing.
func (m *Mapping) deriveRelations(fks []foreignKey) {
	for _, e := range m.Entities {
		e.Relations = maps.Clone(e.fileRelations)
		if e.Relations == nil {
			e.Relations = map[string]*Relation{}
		}
	}
	for _, fk := range fks {
		sources, targets := m.byTable[fk.From], m.byTable[fk.To]
		if len(sources) == 0 || len(targets) == 0 || targets[0].Key != fk.RefColumn {
			continue
		}
		for _, a := range sources {
			if a.exclude[fk.Column] {
				continue
			}
			name := manyToOneName(fk.Column)
			if a.relationNameFree(name, fk.Column) {
				a.Relations[name] = &Relation{Name: name, Target: targets[0].Name, Column: fk.Column, Derived: true}
			}
			plural := pluralSnake(a.Name)
			for _, b := range targets {
				if b.relationNameFree(plural, "") {
					b.Relations[plural] = &Relation{Name: plural, Target: a.Name, Many: true, Column: fk.Column, Derived: true}
				}
			}
		}
	}
}

func manyToOneName(column string) string {
	if name, ok := strings.CutSuffix(column, "_id"); ok && name != "" {
		return name
	}
	return column
}

// relationNameFree reports whether name is neither a relation nor an API field name of e,
// the API name of ownColumn excepted.
func (e *Entity) relationNameFree(name, ownColumn string) bool {
	if _, taken := e.Relations[name]; taken {
		return false
	}
	if ownColumn != "" {
		if api, ok := e.FieldName(ownColumn); ok && api == name {
			return true
		}
	}
	return !e.apiNames[name]
}

// pluralSnake turns an entity name into a plural snake_case relation name:
// ContactTaskRelation → contact_task_relations, Opportunity → opportunities,
// CE_Bid → ce_bids, SalesUnit → sales_units, HTTPLog → http_logs.
func pluralSnake(name string) string {
	s := snake(name)
	switch {
	case strings.HasSuffix(s, "y") && len(s) > 1 && !strings.ContainsRune("aeiou_", rune(s[len(s)-2])):
		return s[:len(s)-1] + "ies"
	case strings.HasSuffix(s, "s"), strings.HasSuffix(s, "x"), strings.HasSuffix(s, "z"),
		strings.HasSuffix(s, "ch"), strings.HasSuffix(s, "sh"):
		return s + "es"
	default:
		return s + "s"
	}
}

// snake lower-cases a CamelCase name, with an underscore at each word boundary: before an
// upper-case letter that follows a lower-case letter or digit, or that starts a word after
// an acronym ("HTTPLog" → "http_log"). Existing underscores are kept, never doubled.
func snake(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && rs[i-1] != '_' {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
