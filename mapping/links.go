package mapping

import (
	"strings"

	"github.com/walhook/walhook/event"
)

// buildLink checks one link of the file; it returns nil when the link is unusable (no
// table), having recorded why.
func buildLink(m *Mapping, i int, y *linkYAML, p *problems) *Link {
	if y == nil {
		p.addf("%s: empty; table, action, parent and related are required", linkLabel(i, ""))
		return nil
	}
	where := linkLabel(i, string(y.Table))
	l := &Link{
		m:      m,
		Action: event.Action(y.Action),
		Parent: LinkParent{
			Entity:    string(y.Parent.Entity),
			Field:     string(y.Parent.Field),
			TypeField: string(y.Parent.TypeField),
		},
		Related: LinkRelated{Entity: string(y.Related.Entity), Field: string(y.Related.Field)},
	}
	if y.Parent.OneOf != nil {
		l.Parent.OneOf = map[string]string{}
		for k, v := range y.Parent.OneOf {
			l.Parent.OneOf[k] = string(v)
		}
	}
	if y.Parent.Types != nil {
		l.Parent.Types = map[string]string{}
		for k, v := range y.Parent.Types {
			if !strings.Contains(string(v), ".") {
				l.Parent.Types[k] = string(v)
				continue
			}
			t, err := ParseTable(string(v))
			if err != nil {
				p.addf("%s: parent.types.%s: %v", where, k, err)
				continue
			}
			if l.Parent.TypeTables == nil {
				l.Parent.TypeTables = map[string]Table{}
			}
			l.Parent.TypeTables[k] = t
		}
	}
	l.When = buildCondition(where+": when", y.When, anyColumn, p)
	l.SoftDelete = buildCondition(where+": soft_delete", y.SoftDelete, anyColumn, p)
	tableOK := false
	if y.Table == "" {
		p.addf("%s: table: required", where)
	} else if t, err := ParseTable(string(y.Table)); err != nil {
		p.addf("%s: table: %v", where, err)
	} else {
		l.Table, tableOK = t, true
	}
	checkAction(where+": action", string(y.Action), "link", p)
	checkLinkParent(m, where, y.Parent, p)
	checkLinkRelated(m, where, l, tableOK, p)
	if !tableOK {
		return nil
	}
	if m.links[l.Table] != nil {
		p.addf("%s: table: %s already has a link", where, l.Table)
		return nil
	}
	m.links[l.Table] = l
	return l
}

func checkLinkParent(m *Mapping, where string, y parentYAML, p *problems) {
	if y.OneOf != nil {
		if y.Entity != "" || y.TypeField != "" || y.Field != "" || y.Types != nil {
			p.addf("%s: parent.one_of excludes entity, field, type_field and types", where)
		}
		if len(y.OneOf) == 0 {
			p.addf("%s: parent.one_of: empty; map each parent column to its entity", where)
		}
		for _, col := range sortedKeys(y.OneOf) {
			checkParentEntity(m, where+": parent.one_of."+col, string(y.OneOf[col]), p)
		}
		return
	}
	switch {
	case y.Entity != "" && y.TypeField != "":
		p.addf("%s: parent: entity and type_field exclude each other", where)
	case y.Entity != "":
		checkParentEntity(m, where+": parent.entity", string(y.Entity), p)
		if len(y.Types) > 0 {
			p.addf("%s: parent.types: only with type_field", where)
		}
	case y.TypeField != "":
		if len(y.Types) == 0 {
			p.addf("%s: parent.types: required with type_field", where)
		}
		for _, k := range sortedKeys(y.Types) {
			if k == "" {
				p.addf("%s: parent.types: empty type value", where)
				continue
			}
			if v := string(y.Types[k]); strings.Contains(v, ".") {
				checkParentTable(m, where+": parent.types."+k, v, p)
			} else {
				checkParentEntity(m, where+": parent.types."+k, v, p)
			}
		}
	default:
		p.addf("%s: parent: entity, type_field or one_of required", where)
	}
	if y.Field == "" {
		p.addf("%s: parent.field: required", where)
	}
}

// checkParentTable requires a table named as a parent type to hold event-raising entities.
func checkParentTable(m *Mapping, where, table string, p *problems) {
	t, err := ParseTable(table)
	if err != nil {
		return // reported by buildLink
	}
	for _, e := range m.byTable[t] {
		if e.Events {
			return
		}
	}
	p.addf("%s: table %s holds no entity that raises events; name an entity, or a table mapped with discriminators", where, table)
}

func checkParentEntity(m *Mapping, where, name string, p *problems) {
	e := m.byName[name]
	switch {
	case e == nil:
		p.addf("%s: unknown entity %q", where, name)
	case !e.Events:
		p.addf("%s: entity %s is a lookup entity (events: false) and raises nothing", where, name)
	}
}

func checkLinkRelated(m *Mapping, where string, l *Link, tableOK bool, p *problems) {
	if l.Related.Entity == "" {
		p.addf("%s: related.entity: required", where)
		return
	}
	rel := m.byName[l.Related.Entity]
	switch {
	case rel == nil:
		p.addf("%s: related.entity: unknown entity %q", where, l.Related.Entity)
	case l.Related.Field == "" && tableOK && rel.Table != l.Table:
		p.addf("%s: related: without field the link row is the related row, so entity %s must be stored in %s (it is in %s)",
			where, rel.Name, l.Table, rel.Table)
	}
}
