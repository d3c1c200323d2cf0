package mapping

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// SQL writes the condition as a SQL boolean expression over the columns column(field)
// returns (already resolved from API names where the condition is an entity's). Values
// are compared as text, as the replication stream compares them (booleans as
// true/false), and written as literals with quotes doubled, so the expression needs no
// parameters (replication connections run only simple queries). alias, when not empty,
// qualifies the columns. A nil condition is TRUE.
func (c *Condition) SQL(alias string, column func(field string) string) string {
	if c == nil || len(c.Clauses) == 0 {
		return "TRUE"
	}
	parts := make([]string, 0, len(c.Clauses))
	for _, cl := range c.Clauses {
		col := pgx.Identifier{column(cl.Field)}.Sanitize()
		if alias != "" {
			col = alias + "." + col
		}
		if cl.NotNull {
			parts = append(parts, col+" IS NOT NULL")
			continue
		}
		var or []string
		if len(cl.Values) > 0 {
			lits := make([]string, len(cl.Values))
			for i, v := range cl.Values {
				lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			or = append(or, col+"::text IN ("+strings.Join(lits, ", ")+")")
		}
		if cl.Null {
			or = append(or, col+" IS NULL")
		}
		parts = append(parts, "coalesce("+strings.Join(or, " OR ")+", false)")
	}
	return "(" + strings.Join(parts, " AND ") + ")"
}

// LiveRowsSQL writes, as a SQL boolean expression over the columns qualified by alias, the
// condition a row of one of the entity's tables must meet to be one of its live rows: its
// discriminator (several entities in one table), and not soft-deleted. TRUE when the
// entity has neither.
func (e *Entity) LiveRowsSQL(alias string) string {
	cond := e.Discriminator.SQL(alias, e.Column)
	if e.SoftDelete != nil {
		cond += " AND NOT " + e.SoftDelete.SQL(alias, e.Column)
	}
	return cond
}
