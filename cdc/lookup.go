package cdc

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walhook/walhook/mapping"
)

// lookups holds, for every transition lookup of the mapping (stage_id → stages.is_won),
// which keys of the lookup table satisfy its condition. It is read when a replication
// session starts and kept current from the lookup tables' own changes, which the
// publication carries: a stage made a won stage (or a new won stage) counts from its
// change on, without editing the mapping. Only the reader's goroutine uses it.
type lookups struct {
	sets []*lookupSet
}

// lookupSet is one lookup's state: the keys whose rows satisfy its condition.
type lookupSet struct {
	l    *mapping.Lookup
	keys map[string]bool
}

// lookupPlan resolves a lookup against one layout of its table.
type lookupPlan struct {
	set    *lookupSet
	keyIdx int
	when   *condPlan
}

func newLookups(m *mapping.Mapping) *lookups {
	ls := &lookups{}
	for _, e := range m.Entities {
		for _, tr := range e.Transitions {
			if tr.Lookup != nil {
				ls.sets = append(ls.sets, &lookupSet{l: tr.Lookup, keys: map[string]bool{}})
			}
		}
	}
	return ls
}

// set returns the state of lookup l.
func (ls *lookups) set(l *mapping.Lookup) *lookupSet {
	for _, s := range ls.sets {
		if s.l == l {
			return s
		}
	}
	s := &lookupSet{l: l, keys: map[string]bool{}}
	ls.sets = append(ls.sets, s)
	return s
}

// plan returns the lookups whose table rel is.
func (ls *lookups) plan(d *decoder, rel *relation, index map[string]int) []*lookupPlan {
	var out []*lookupPlan
	for _, s := range ls.sets {
		if s.l.Table != rel.table {
			continue
		}
		ki, ok := index[s.l.Key]
		if !ok {
			d.log.Warn("lookup key column missing from table", "table", rel.table.String(), "column", s.l.Key)
			continue
		}
		byColumn := func(col string) int {
			if i, ok := index[col]; ok {
				return i
			}
			return -1
		}
		out = append(out, &lookupPlan{set: s, keyIdx: ki, when: d.planClauses(rel, s.l.When, byColumn, "lookup "+rel.table.String())})
	}
	return out
}

// has reports whether the raw value references a row satisfying the lookup.
func (s *lookupSet) has(c rawCol) bool {
	return c.kind == 't' && s.keys[string(c.data)]
}

// updateLookups applies a change of a lookup table to the lookups over it.
func (d *decoder) updateLookups(rel *relation, typ byte, oldCols, newCols []rawCol) {
	for _, lp := range rel.lookups {
		if len(oldCols) > lp.keyIdx && oldCols[lp.keyIdx].kind == 't' {
			delete(lp.set.keys, string(oldCols[lp.keyIdx].data))
		}
		if typ == 'D' || len(newCols) <= lp.keyIdx || newCols[lp.keyIdx].kind != 't' {
			continue
		}
		if lp.when.match(newCols, rel.cols) {
			lp.set.keys[string(newCols[lp.keyIdx].data)] = true
		}
	}
}

// load reads every lookup's satisfying keys through conn, which may be a replication
// connection: the query is simple protocol, without parameters (mapping.Condition.SQL).
func (ls *lookups) load(ctx context.Context, conn *pgconn.PgConn) error {
	for _, s := range ls.sets {
		sql := fmt.Sprintf("SELECT %s::text FROM %s WHERE %s",
			pgx.Identifier{s.l.Key}.Sanitize(), pgx.Identifier{s.l.Table.Schema, s.l.Table.Name}.Sanitize(),
			s.l.When.SQL("", func(col string) string { return col }))
		res, err := conn.Exec(ctx, sql).ReadAll()
		if err != nil {
			return fmt.Errorf("read lookup table %s: %w", s.l.Table, err)
		}
		keys := map[string]bool{}
		for _, r := range res {
			for _, row := range r.Rows {
				keys[string(row[0])] = true
			}
		}
		s.keys = keys
	}
	return nil
}
