package mapping

import (
	"fmt"
	"strings"

	"github.com/walhook/walhook/event"
)

// Describe says, per mapped table in Tables order, what its changes raise: one line for
// the table, then one indented line per entity, link or lookup on it. It is what `walhook
// mapping check` prints.
func (m *Mapping) Describe() []string {
	var out []string
	for _, t := range m.Tables() {
		out = append(out, t.String()+":")
		for _, e := range m.byTable[t] {
			out = append(out, "  "+e.describe())
		}
		if l := m.links[t]; l != nil {
			out = append(out, "  "+m.describeLink(l))
		}
		for _, e := range m.Entities {
			for _, tr := range e.Transitions {
				if tr.Lookup != nil && tr.Lookup.Table == t {
					out = append(out, fmt.Sprintf("  lookup for %s: rows where %s count (kept current from this table's changes)",
						e.EventName(tr.Action), tr.Lookup.When.text()))
				}
			}
		}
	}
	return out
}

func (e *Entity) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "entity %s (key %s", e.Name, keyText(e.Keys))
	if e.Discriminator != nil {
		fmt.Fprintf(&b, ", rows where %s", e.Discriminator.text())
	}
	b.WriteString(")")
	if !e.Events {
		b.WriteString(": raises nothing (lookup entity: expand and related_entity only)")
		return b.String()
	}
	fmt.Fprintf(&b, ": INSERT → %s; UPDATE → %s", e.EventName(event.ActionCreate), e.EventName(event.ActionUpdate))
	if e.Owner != "" {
		fmt.Fprintf(&b, ", + %s when %s changes", e.EventName(event.ActionOwnerChanged), e.Owner)
	}
	for _, tr := range e.Transitions {
		fmt.Fprintf(&b, ", + %s when %s", e.EventName(tr.Action), tr.text())
	}
	if e.SoftDelete != nil {
		fmt.Fprintf(&b, "; UPDATE making %s → %s (only)", e.SoftDelete.text(), e.EventName(event.ActionDelete))
	}
	fmt.Fprintf(&b, "; DELETE → %s", e.EventName(event.ActionDelete))
	if e.SoftDelete != nil {
		b.WriteString(" (nothing when already soft-deleted)")
	}
	if e.Custom {
		fmt.Fprintf(&b, "; entity name %s travels in each event", e.Name)
	}
	return b.String()
}

func (m *Mapping) describeLink(l *Link) string {
	var parents []string
	if l.Parent.Entity != "" {
		parents = append(parents, fmt.Sprintf("%s (by %s)", l.Parent.Entity, l.Parent.Field))
	} else if l.Parent.OneOf != nil {
		for _, col := range sortedKeys(l.Parent.OneOf) {
			parents = append(parents, fmt.Sprintf("%s (by %s when not NULL)", l.Parent.OneOf[col], col))
		}
	} else {
		for _, k := range sortedKeys(l.Parent.Types) {
			parents = append(parents, fmt.Sprintf("%s when %s = %q (by %s)", l.Parent.Types[k], l.Parent.TypeField, k, l.Parent.Field))
		}
		for _, k := range sortedKeys(l.Parent.TypeTables) {
			parents = append(parents, fmt.Sprintf("the entity of %s its row is (by discriminator) when %s = %q (by %s; none when the row is missing)",
				l.Parent.TypeTables[k], l.Parent.TypeField, k, l.Parent.Field))
		}
	}
	var names []string
	for _, p := range l.parentEntities() {
		if e := m.byName[p]; e != nil {
			names = append(names, e.EventName(l.Action))
		}
	}
	s := fmt.Sprintf("link: INSERT → %s on the parent %s; related entity %s", strings.Join(names, " / "),
		strings.Join(parents, ", "), l.Related.Entity)
	if l.When != nil {
		s += "; only rows where " + l.When.text()
	}
	if l.SoftDelete != nil {
		s += "; rows where " + l.SoftDelete.text() + " are no links"
	}
	return s + "; an UPDATE that makes a row a link raises it too"
}

// text writes a condition for people: `is_company = false AND kind in (deal, NULL)`.
func (c *Condition) text() string {
	var parts []string
	for _, cl := range c.clauses() {
		switch {
		case cl.NotNull:
			parts = append(parts, cl.Field+" is not NULL")
		default:
			vals := append([]string{}, cl.Values...)
			if cl.Null {
				vals = append(vals, "NULL")
			}
			if len(vals) == 1 {
				parts = append(parts, cl.Field+" = "+vals[0])
			} else {
				parts = append(parts, cl.Field+" in ("+strings.Join(vals, ", ")+")")
			}
		}
	}
	return strings.Join(parts, " AND ")
}

func (t *Transition) text() string {
	switch {
	case t.Via != nil:
		return fmt.Sprintf("a %s's %s is set to it", t.Via.Entity, t.Via.Field)
	case t.From != "":
		return "the row was a " + t.From
	case t.When != nil:
		return t.When.text() + " becomes true"
	case t.Lookup != nil:
		return fmt.Sprintf("%s moves to a %s row where %s", t.Field, t.Lookup.Table, t.Lookup.When.text())
	}
	s := t.Field + " changes"
	if t.FromValues != nil || t.FromNull {
		s += " from " + (&Clause{Values: t.FromValues, Null: t.FromNull}).values()
	}
	if t.To != nil || t.ToNull {
		s += " to " + (&Clause{Values: t.To, Null: t.ToNull}).values()
	}
	return s
}

func (cl *Clause) values() string {
	vals := append([]string{}, cl.Values...)
	if cl.Null {
		vals = append(vals, "NULL")
	}
	return strings.Join(vals, " or ")
}
