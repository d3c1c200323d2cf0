package mapping

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// uniqueKey is a primary key or a unique index over plain columns, without predicate.
type uniqueKey struct {
	Primary bool
	Columns []string
	NotNull bool // every column is NOT NULL
}

// Unique indexes that a key may be: valid, over columns only (no expressions), without a
// WHERE clause. Their columns must also be NOT NULL unless the index is the primary key.
const uniqueKeysSQL = `
SELECT n.nspname::text, c.relname::text, i.indisprimary,
       array(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.ord),
       coalesce((SELECT bool_and(a.attnotnull) FROM unnest(i.indkey::int2[]) AS k(attnum)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum), false)
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
  AND (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY 1, 2, 3 DESC, i.indexrelid`

func readUniqueKeys(ctx context.Context, q Querier, tables []Table) (map[Table][]uniqueKey, error) {
	schemas, names := splitTables(tables)
	rows, err := q.Query(ctx, uniqueKeysSQL, schemas, names)
	if err != nil {
		return nil, fmt.Errorf("mapping: read unique keys: %w", err)
	}
	out := map[Table][]uniqueKey{}
	var t Table
	var k uniqueKey
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &k.Primary, &k.Columns, &k.NotNull}, func() error {
		out[t] = append(out[t], uniqueKey{Primary: k.Primary, Columns: slices.Clone(k.Columns), NotNull: k.NotNull || k.Primary})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mapping: read unique keys: %w", err)
	}
	return out, nil
}

// checkKey requires e's key columns to be, as a set, the primary key or the columns of a
// unique index whose columns are all NOT NULL: anything else lets two rows share an
// EntityID, or a row have none. The problem lists the keys the table has.
func checkKey(e *Entity, table Table, keys []uniqueKey, p *problems) {
	if len(e.Keys) == 0 {
		return
	}
	want := slices.Sorted(slices.Values(e.Keys))
	var options []string
	for _, k := range keys {
		have := slices.Sorted(slices.Values(k.Columns))
		if slices.Equal(want, have) && k.NotNull {
			return
		}
		switch {
		case k.Primary:
			options = append(options, "primary key "+keyText(k.Columns))
		case k.NotNull:
			options = append(options, "unique not-null index "+keyText(k.Columns))
		case slices.Equal(want, have):
			p.addf("entity %s: key: %s is unique but nullable in %s; make its columns NOT NULL or choose another key",
				e.Name, keyText(e.Keys), table)
			return
		}
	}
	fix := "the table has no primary key or unique not-null index; add one"
	if len(options) > 0 {
		fix = "use " + strings.Join(options, " or ")
	}
	p.addf("entity %s: key: %s is not the primary key or a unique not-null index of %s; %s",
		e.Name, keyText(e.Keys), table, fix)
}

// keyText writes a key as it goes in the file: col, or [a, b] for a composite key.
func keyText(cols []string) string {
	if len(cols) == 1 {
		return cols[0]
	}
	return "[" + strings.Join(cols, ", ") + "]"
}
