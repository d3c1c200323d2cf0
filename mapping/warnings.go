package mapping

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maxSampledValues bounds the distinct values Warnings reads per discriminator column.
const maxSampledValues = 50

// Warnings reports what is valid but probably wrong, one sentence each: discriminator
// values that no row of the table has (a typo, or a value spelt differently in the
// database), with the values present. It reads the mapped tables (one SELECT DISTINCT per
// discriminator column, at most maxSampledValues values), so it is for `walhook mapping
// check` and start-up logs, not for hot paths. Call it after Validate.
func (m *Mapping) Warnings(ctx context.Context, q Querier) ([]string, error) {
	var out []string
	for _, e := range m.Entities {
		for _, c := range e.Discriminator.clauses() {
			if c.NotNull || len(c.Values) == 0 {
				continue
			}
			col := e.Column(c.Field)
			present, err := distinctValues(ctx, q, e.Table, col)
			if err != nil {
				return nil, err
			}
			if len(present) == 0 {
				continue // an empty table says nothing
			}
			for _, v := range c.Values {
				if !slices.Contains(present, v) {
					out = append(out, fmt.Sprintf("entity %s: discriminator %s = %q matches no row of %s (values present: %s)",
						e.Name, c.Field, v, e.Table, quoteAll(present)))
				}
			}
		}
	}
	return out, nil
}

func distinctValues(ctx context.Context, q Querier, t Table, col string) ([]string, error) {
	sql := fmt.Sprintf("SELECT DISTINCT %[1]s::text FROM %[2]s WHERE %[1]s IS NOT NULL ORDER BY 1 LIMIT %[3]d",
		pgx.Identifier{col}.Sanitize(), pgx.Identifier{t.Schema, t.Name}.Sanitize(), maxSampledValues)
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("mapping: read values of %s.%s: %w", t, col, err)
	}
	vals, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("mapping: read values of %s.%s: %w", t, col, err)
	}
	for i, v := range vals { // booleans as the mapping writes them
		switch v {
		case "t":
			vals[i] = "true"
		case "f":
			vals[i] = "false"
		}
	}
	return vals, nil
}

func quoteAll(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	s := strings.Join(q, ", ")
	if len(vals) == maxSampledValues {
		s += ", …"
	}
	return s
}
