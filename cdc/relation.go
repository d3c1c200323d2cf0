package cdc

import (
	"slices"

	"github.com/jackc/pglogrepl"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// column is one column of a relation as the last Relation message described it.
type column struct {
	name string
	oid  uint32
	kind event.Kind
}

// relation is the cache entry for one table: its columns and the plans that turn its rows
// into entity events. A Relation message replaces the entry, so a column added to or
// dropped from a live table is picked up at the next change without a restart.
type relation struct {
	table mapping.Table
	cols  []column
	// plans are the entities stored in this table (several with a discriminator).
	plans []*entityPlan
	link  *linkPlan
	// lookups are the transition lookups this table is the lookup table of.
	lookups []*lookupPlan
}

// entityPlan holds, for one entity and one column layout, everything event derivation
// needs, resolved to column indexes once per Relation message rather than per row.
type entityPlan struct {
	ent     *mapping.Entity
	table   string // the relation's table as schema.name, for event.Event.Table
	cols    []column
	names   []string // API name per column; "" when excluded
	nfields int
	key     int
	keys    []int // every key column, for a composite key; nil for a single one
	owner   int
	disc    *condPlan
	soft    *condPlan
	trans   []transPlan
	// vias are transitions of other entities caused by this entity's rows (a lead's
	// created_opportunity_id raising Opportunity.Qualify).
	vias []viaPlan
	// event.Event names, precomputed.
	create, update, delete, ownerChanged event.EventName
}

// condPlan is a mapping.Condition resolved to column indexes: every clause must hold.
type condPlan struct {
	clauses []clausePlan
}

type clausePlan struct {
	idx     int // -1 when the column is missing: the clause never holds
	values  []string
	null    bool
	notNull bool
}

type transPlan struct {
	action event.Action
	name   event.EventName
	idx    int // -1 for discriminator and when transitions
	to     valueSet
	old    valueSet // the old value's set (mapping.Transition.FromValues)
	when   *condPlan
	lookup *lookupSet
	from   string // an entity sharing the table
}

// viaPlan is a transition of target raised when column idx of this entity's row is set.
type viaPlan struct {
	idx    int
	target *mapping.Entity
	action event.Action
	name   event.EventName
}

// valueSet is "one of values, or NULL when null"; any is true when no set was given.
type valueSet struct {
	any    bool
	values []string
	null   bool
}

func (s *valueSet) has(c rawCol, k event.Kind) bool {
	switch {
	case s.any:
		return true
	case c.kind == 'n':
		return s.null
	case c.kind != 't':
		return false
	}
	for _, v := range s.values {
		if textEqual(k, c.data, v) {
			return true
		}
	}
	return false
}

type oneOfCol struct {
	idx    int
	entity string
}

// linkPlan resolves a link table's columns.
type linkPlan struct {
	link       *mapping.Link
	parentIdx  int
	typeIdx    int // -1 for a plain foreign key
	relatedIdx int // -1 when the link row is the related row
	when       *condPlan
	soft       *condPlan
	// oneOf are the parent columns of a one_of parent, in column-name order; parentIdx is
	// -1 then, and the row's first non-NULL one names the parent.
	oneOf []oneOfCol
	// rowPlan gives the link row's API names (the related entity's, when the link table
	// is also that entity's table, else the column names).
	rowPlan *entityPlan
}

func (d *decoder) newRelation(msg *pglogrepl.RelationMessage) *relation {
	rel := &relation{table: mapping.Table{Schema: msg.Namespace, Name: msg.RelationName}}
	rel.cols = make([]column, len(msg.Columns))
	index := make(map[string]int, len(msg.Columns))
	for i, c := range msg.Columns {
		rel.cols[i] = column{name: c.Name, oid: c.DataType, kind: event.KindOf(c.DataType)}
		index[c.Name] = i
	}
	for _, e := range d.m.EntitiesFor(rel.table) {
		if !e.Events {
			continue
		}
		if p := d.planEntity(e, rel, index); p != nil {
			rel.plans = append(rel.plans, p)
		}
	}
	if l := d.m.LinkFor(rel.table); l != nil {
		rel.link = d.planLink(l, rel, index)
	}
	rel.lookups = d.lookups.plan(d, rel, index)
	return rel
}

// colIndex resolves an API field of e to a column index, -1 when absent.
func colIndex(e *mapping.Entity, index map[string]int, field string) int {
	if field == "" {
		return -1
	}
	if i, ok := index[e.Column(field)]; ok {
		return i
	}
	return -1
}

func (d *decoder) planEntity(e *mapping.Entity, rel *relation, index map[string]int) *entityPlan {
	p := &entityPlan{ent: e, table: rel.table.String(), cols: rel.cols, names: make([]string, len(rel.cols)), owner: colIndex(e, index, e.Owner)}
	for i, c := range rel.cols {
		if name, ok := e.FieldName(c.name); ok {
			p.names[i] = name
			p.nfields++
		}
	}
	key, ok := index[e.Key]
	if !ok {
		d.log.Error("mapped table lacks its key column; its changes raise nothing",
			"table", rel.table.String(), "entity", e.Name, "column", e.Key)
		return nil
	}
	p.key = key
	if len(e.Keys) > 1 {
		for _, k := range e.Keys {
			i, ok := index[k]
			if !ok {
				d.log.Error("mapped table lacks a key column; its changes raise nothing",
					"table", rel.table.String(), "entity", e.Name, "column", k)
				return nil
			}
			p.keys = append(p.keys, i)
		}
	}
	p.disc = d.planCond(e, rel, index, e.Discriminator)
	p.soft = d.planCond(e, rel, index, e.SoftDelete)
	for i := range e.Transitions {
		t := &e.Transitions[i]
		tp := transPlan{action: t.Action, name: event.EventName(e.EventName(t.Action)), idx: colIndex(e, index, t.Field), from: t.From,
			to:  valueSet{any: t.To == nil && !t.ToNull, values: t.To, null: t.ToNull},
			old: valueSet{any: t.FromValues == nil && !t.FromNull, values: t.FromValues, null: t.FromNull},
		}
		if t.When != nil {
			tp.when = d.planCond(e, rel, index, t.When)
		}
		if t.Lookup != nil {
			tp.lookup = d.lookups.set(t.Lookup)
		}
		if t.Field != "" && tp.idx < 0 {
			d.log.Warn("transition field missing from table", "table", rel.table.String(), "entity", e.Name, "field", t.Field)
			continue
		}
		p.trans = append(p.trans, tp)
	}
	for _, x := range d.m.Entities {
		for _, t := range x.Transitions {
			if t.Via == nil || t.Via.Entity != e.Name || !x.Events {
				continue
			}
			if i := colIndex(e, index, t.Via.Field); i >= 0 {
				p.vias = append(p.vias, viaPlan{idx: i, target: x, action: t.Action, name: event.EventName(x.EventName(t.Action))})
			}
		}
	}
	p.create = event.EventName(e.EventName(event.ActionCreate))
	p.update = event.EventName(e.EventName(event.ActionUpdate))
	p.delete = event.EventName(e.EventName(event.ActionDelete))
	p.ownerChanged = event.EventName(e.EventName(event.ActionOwnerChanged))
	return p
}

func (d *decoder) planCond(e *mapping.Entity, rel *relation, index map[string]int, c *mapping.Condition) *condPlan {
	if c == nil {
		return nil
	}
	return d.planClauses(rel, c, func(field string) int { return colIndex(e, index, field) }, e.Name)
}

// planClauses resolves a condition's clauses with col (an entity's API names, or a link or
// lookup table's columns); owner names the entity or link in the warning.
func (d *decoder) planClauses(rel *relation, c *mapping.Condition, col func(string) int, owner string) *condPlan {
	cp := &condPlan{clauses: make([]clausePlan, 0, len(c.Clauses))}
	for _, cl := range c.Clauses {
		i := col(cl.Field)
		if i < 0 {
			d.log.Warn("condition field missing from table", "table", rel.table.String(), "entity", owner, "field", cl.Field)
		}
		cp.clauses = append(cp.clauses, clausePlan{idx: i, values: cl.Values, null: cl.Null, notNull: cl.NotNull})
	}
	return cp
}

// match reports whether every clause holds for a tuple. A clause whose column is missing,
// or whose value is an unchanged-TOAST marker, does not hold.
func (c *condPlan) match(cols []rawCol, kinds []column) bool {
	for i := range c.clauses {
		if !c.clauses[i].match(cols, kinds) {
			return false
		}
	}
	return true
}

func (c *clausePlan) match(cols []rawCol, kinds []column) bool {
	if c.idx < 0 || c.idx >= len(cols) {
		return false
	}
	col := cols[c.idx]
	switch col.kind {
	case 'n':
		return c.null
	case 't':
	default:
		return false
	}
	if c.notNull {
		return true
	}
	for _, v := range c.values {
		if textEqual(kinds[c.idx].kind, col.data, v) {
			return true
		}
	}
	return false
}

// textEqual compares a raw value with a condition's canonical text without allocating.
func textEqual(k event.Kind, raw []byte, v string) bool {
	if k == event.KindBool && len(raw) == 1 {
		return (raw[0] == 't') == (v == "true") && (v == "true" || v == "false")
	}
	return string(raw) == v
}

func (d *decoder) planLink(l *mapping.Link, rel *relation, index map[string]int) *linkPlan {
	lp := &linkPlan{link: l, parentIdx: -1, typeIdx: -1, relatedIdx: -1}
	get := func(col string) int {
		if i, ok := index[col]; ok {
			return i
		}
		d.log.Warn("link column missing from table", "table", rel.table.String(), "column", col)
		return -1
	}
	if l.Parent.OneOf != nil {
		cols := make([]string, 0, len(l.Parent.OneOf))
		for col := range l.Parent.OneOf {
			cols = append(cols, col)
		}
		slices.Sort(cols)
		for _, col := range cols {
			if i := get(col); i >= 0 {
				lp.oneOf = append(lp.oneOf, oneOfCol{idx: i, entity: l.Parent.OneOf[col]})
			}
		}
	} else {
		lp.parentIdx = get(l.Parent.Field)
	}
	if l.Parent.TypeField != "" {
		lp.typeIdx = get(l.Parent.TypeField)
	}
	if l.Related.Field != "" {
		lp.relatedIdx = get(l.Related.Field)
	}
	byColumn := func(col string) int {
		if i, ok := index[col]; ok {
			return i
		}
		return -1
	}
	if l.When != nil {
		lp.when = d.planClauses(rel, l.When, byColumn, "link "+l.Table.String())
	}
	if l.SoftDelete != nil {
		lp.soft = d.planClauses(rel, l.SoftDelete, byColumn, "link "+l.Table.String())
	}
	// Name the link row's fields as the related entity does when it lives in this table.
	if e := d.m.Entity(l.Related.Entity); e != nil && e.Table == rel.table {
		lp.rowPlan = d.planEntity(e, rel, index)
	}
	if lp.rowPlan == nil {
		lp.rowPlan = &entityPlan{table: rel.table.String(), cols: rel.cols, names: make([]string, len(rel.cols)), nfields: len(rel.cols), key: -1}
		for i, c := range rel.cols {
			lp.rowPlan.names[i] = c.name
		}
		if i, ok := index["id"]; ok {
			lp.rowPlan.key = i
		}
	}
	return lp
}
