package mapping

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
)

// introspectSQL lists the ordinary and partitioned tables of the given schemas (all but
// the system ones and walhook's when none is given) with their columns, types, NOT NULL,
// primary key positions and single-column foreign keys.
const introspectSQL = `
SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(array_position(pk.conkey, a.attnum), 0),
       coalesce((SELECT tn.nspname || '.' || tc.relname FROM pg_catalog.pg_constraint f
                 JOIN pg_catalog.pg_class tc ON tc.oid = f.confrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                 WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.conkey = ARRAY[a.attnum] LIMIT 1), '')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND (cardinality($1::text[]) = 0 AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'walhook', 'pg_toast')
       OR n.nspname = ANY($1::text[]))
ORDER BY 1, 2, a.attnum`

type introColumn struct {
	name, typ string
	notNull   bool
	pkPos     int
	fkTo      string
}

type introTable struct {
	t    Table
	cols []introColumn
}

// Introspect reads the tables of schemas (all user schemas when none) through q and
// writes a starter mapping: one entity per table with a primary key, named from the
// table, with owner, soft delete, discriminator-free defaults, link tables and transitions
// guessed from column names and foreign keys. Every guess is commented with its reason,
// and doubtful ones are left commented out, for the user to edit and then check with
// `walhook mapping check`.
func Introspect(ctx context.Context, q Querier, schemas []string) ([]byte, error) {
	rows, err := q.Query(ctx, introspectSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("mapping: introspect: %w", err)
	}
	var tables []*introTable
	var t Table
	var c introColumn
	_, err = pgx.ForEachRow(rows, []any{&t.Schema, &t.Name, &c.name, &c.typ, &c.notNull, &c.pkPos, &c.fkTo}, func() error {
		if len(tables) == 0 || tables[len(tables)-1].t != t {
			tables = append(tables, &introTable{t: t})
		}
		last := tables[len(tables)-1]
		last.cols = append(last.cols, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mapping: introspect: %w", err)
	}
	return writeStarter(tables), nil
}

func writeStarter(tables []*introTable) []byte {
	var b strings.Builder
	b.WriteString("# Starter mapping written by `walhook mapping init`. Every entity, key, owner, soft delete,\n")
	b.WriteString("# transition and link below is a guess from table and column names and foreign keys:\n")
	b.WriteString("# read each comment, rename entities to Pipeliner's names where they are CRM objects,\n")
	b.WriteString("# delete what you do not need, then run `walhook mapping check`.\n")
	b.WriteString("# The README's Mapping section documents every construct.\n\n")
	b.WriteString("entities:\n")
	names := map[Table]string{}
	used := map[string]bool{}
	for _, it := range tables {
		n := entityGuess(it.t.Name)
		for i := 2; used[n]; i++ {
			n = fmt.Sprintf("%s%d", entityGuess(it.t.Name), i)
		}
		used[n] = true
		names[it.t] = n
	}
	var links []string
	for _, it := range tables {
		keys := it.keyColumns()
		fmt.Fprintf(&b, "\n  %s:   # guessed from the table name %s\n", names[it.t], it.t.Name)
		fmt.Fprintf(&b, "    table: %s\n", it.t)
		switch {
		case len(keys) == 0:
			b.WriteString("    # no primary key: walhook needs one (or a unique NOT NULL index); name it here\n    key: FIXME\n")
		case len(keys) == 1:
			fmt.Fprintf(&b, "    key: %s   # the primary key\n", keys[0])
		default:
			fmt.Fprintf(&b, "    key: [%s]   # the composite primary key\n", strings.Join(keys, ", "))
		}
		if l := it.linkGuess(names); l != "" {
			b.WriteString("    events: false   # looks like a link table (see links below); set true for its own events\n")
			links = append(links, l)
		}
		if col := it.find("owner_id", "assigned_user_id", "user_id", "ownerId", "accountOwnerId", "assigneeId", "owner"); col != nil {
			fmt.Fprintf(&b, "    owner: %s   # guess: a change raises %s.OwnerChanged\n", col.name, names[it.t])
		}
		if sd := it.softDeleteGuess(); sd != "" {
			b.WriteString(sd)
		}
		if tr := it.transitionGuess(); tr != "" {
			b.WriteString(tr)
		}
	}
	if len(links) > 0 {
		b.WriteString("\nlinks:\n")
		for _, l := range links {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

func (it *introTable) keyColumns() []string {
	var pk []introColumn
	for _, c := range it.cols {
		if c.pkPos > 0 {
			pk = append(pk, c)
		}
	}
	slices.SortFunc(pk, func(a, b introColumn) int { return a.pkPos - b.pkPos })
	out := make([]string, len(pk))
	for i, c := range pk {
		out[i] = c.name
	}
	return out
}

func (it *introTable) find(names ...string) *introColumn {
	for _, n := range names {
		for i := range it.cols {
			if it.cols[i].name == n {
				return &it.cols[i]
			}
		}
	}
	return nil
}

func (it *introTable) softDeleteGuess() string {
	if c := it.find("deleted", "is_deleted", "isDeleted"); c != nil {
		v := "true"
		if !strings.HasPrefix(c.typ, "bool") {
			v = "1"
		}
		return fmt.Sprintf("    soft_delete: {field: %s, value: %s}   # guess: the %s column flags deleted rows\n", c.name, v, c.typ)
	}
	if c := it.find("deleted_at", "deletedAt", "archived_at"); c != nil {
		return fmt.Sprintf("    soft_delete: {field: %s, not_null: true}   # guess: set when a row is deleted\n", c.name)
	}
	return ""
}

func (it *introTable) transitionGuess() string {
	c := it.find("sales_stage", "stage", "status", "state", "stage_id")
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    # %s looks like a sales stage or status; uncomment and fix the values:\n", c.name)
	b.WriteString("    # transitions:\n")
	if c.fkTo != "" {
		fmt.Fprintf(&b, "    #   - {action: Move, field: %s}\n", c.name)
		fmt.Fprintf(&b, "    #   - {action: Won, field: %s, lookup: {table: %s, key: id, when: {field: is_won, value: true}}}\n", c.name, c.fkTo)
		return b.String()
	}
	fmt.Fprintf(&b, "    #   - {action: Move, field: %s}\n", c.name)
	fmt.Fprintf(&b, "    #   - {action: Won, field: %s, to: FIXME}\n", c.name)
	fmt.Fprintf(&b, "    #   - {action: Lost, field: %s, to: FIXME}\n", c.name)
	return b.String()
}

// linkGuess recognises a link table — a polymorphic parent_type/parent_id pair, or two
// foreign keys making up the primary key — and writes a commented link for it.
func (it *introTable) linkGuess(names map[Table]string) string {
	if typ, id := it.find("parent_type", "res_model", "entity_type", "parentType"), it.find("parent_id", "res_id", "entity_id", "parentId"); typ != nil && id != nil {
		return fmt.Sprintf("  # %s: a polymorphic parent (%s names the parent's kind); list the kinds under types:\n"+
			"  # - table: %s\n  #   action: Comment\n  #   parent: {type_field: %s, field: %s, types: {FIXME: Account}}\n  #   related: {entity: %s}\n",
			it.t, typ.name, it.t, typ.name, id.name, names[it.t])
	}
	var fks []introColumn
	for _, c := range it.cols {
		if c.fkTo != "" && c.pkPos > 0 {
			fks = append(fks, c)
		}
	}
	if len(fks) != 2 {
		return ""
	}
	parent, related := fks[0], fks[1]
	pt, _ := ParseTable(parent.fkTo)
	rt, _ := ParseTable(related.fkTo)
	return fmt.Sprintf("  # %s: a many-to-many table of %s and %s; an INSERT can raise an event on one of them:\n"+
		"  - table: %s\n    action: DocumentLinked   # guess; DocumentLinked for documents, or declare a word under actions:\n"+
		"    parent: {entity: %s, field: %s}\n    related: {entity: %s, field: %s}\n",
		it.t, parent.fkTo, related.fkTo, it.t, names[pt], parent.name, names[rt], related.name)
}

// entityGuess turns a table name into an entity name: Pipeliner's name for the usual CRM
// tables, else the singular in CamelCase.
func entityGuess(table string) string {
	known := map[string]string{
		"accounts": "Account", "companies": "Account", "organizations": "Account", "company": "Account",
		"contacts": "Contact", "people": "Contact", "persons": "Contact", "person": "Contact",
		"leads": "Lead", "opportunities": "Opportunity", "deals": "Opportunity", "opportunity": "Opportunity",
		"tasks": "Task", "task": "Task", "emails": "Email", "appointments": "Appointment", "meetings": "Appointment",
		"calls": "Appointment", "products": "Product",
	}
	if n, ok := known[strings.ToLower(table)]; ok {
		return n
	}
	var b strings.Builder
	up := true
	for _, r := range singular(table) {
		switch {
		case r == '_' || r == ' ' || r == '-':
			up = true
		case up:
			b.WriteRune(unicode.ToUpper(r))
			up = false
		default:
			b.WriteRune(r)
		}
	}
	s := b.String()
	if s == "" || !identRE.MatchString(s) {
		return "T_" + strings.Map(func(r rune) rune {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				return r
			}
			return '_'
		}, table)
	}
	return s
}

func singular(s string) string {
	switch {
	case strings.HasSuffix(s, "ies"):
		return s[:len(s)-3] + "y"
	case strings.HasSuffix(s, "sses"), strings.HasSuffix(s, "xes"), strings.HasSuffix(s, "ches"):
		return s[:len(s)-2]
	case strings.HasSuffix(s, "s") && !strings.HasSuffix(s, "ss"):
		return s[:len(s)-1]
	}
	return s
}
