package mapping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/walhook/walhook/event"
)

// Entity returns the entity with API name name, or nil if the mapping has none.
func (m *Mapping) Entity(name string) *Entity {
	return m.byName[name]
}

// EntitiesFor returns the entities stored in table t, in file order: none for an unmapped
// table, one usually, several when a discriminator tells them apart. The slice is shared:
// callers must not modify it.
func (m *Mapping) EntitiesFor(t Table) []*Entity {
	return m.byTable[t]
}

// LinkFor returns the link stored in table t, or nil when t is not a link table. A table can
// be both a link table and an entity's table (task comments are the related entity of the
// Task.Comment link).
func (m *Mapping) LinkFor(t Table) *Link {
	return m.links[t]
}

// Tables returns every mapped table, of entities and of links, deduplicated and sorted by
// schema then name: the tables of the publication and of REPLICA IDENTITY FULL.
func (m *Mapping) Tables() []Table {
	seen := map[Table]bool{}
	var out []Table
	add := func(t Table) {
		if t.Name != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, e := range m.Entities {
		for _, t := range e.Tables {
			add(t)
		}
	}
	for _, l := range m.Links {
		add(l.Table)
	}
	for _, t := range m.LookupTables() {
		add(t)
	}
	slices.SortFunc(out, func(a, b Table) int {
		if c := strings.Compare(a.Schema, b.Schema); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// LookupTables returns the tables transitions look values up in, deduplicated, in file
// order. They are in the publication: walhook reads them at start and keeps them current
// from their own changes.
func (m *Mapping) LookupTables() []Table {
	var out []Table
	for _, e := range m.Entities {
		for _, tr := range e.Transitions {
			if tr.Lookup != nil && tr.Lookup.Table.Name != "" && !slices.Contains(out, tr.Lookup.Table) {
				out = append(out, tr.Lookup.Table)
			}
		}
	}
	return out
}

// clauses returns c's clauses; none for a nil condition.
func (c *Condition) clauses() []Clause {
	if c == nil {
		return nil
	}
	return c.Clauses
}

// EventNames returns, sorted, every event name the mapping can raise: for each entity that
// raises events, Create, Update, Delete, OwnerChanged when it has an owner, its transitions,
// the actions of the links it is a parent of, and the wildcard "<Entity>.*". Custom
// entities contribute "CustomEntity.<Action>" and "CustomEntity.*". The global wildcard "*"
// is not included: it is the API's to accept.
func (m *Mapping) EventNames() []string {
	set := map[string]bool{}
	for _, e := range m.Entities {
		if !e.Events {
			continue
		}
		set[e.eventPrefix()+".*"] = true
		for _, a := range []event.Action{event.ActionCreate, event.ActionUpdate, event.ActionDelete} {
			set[e.EventName(a)] = true
		}
		if e.Owner != "" {
			set[e.EventName(event.ActionOwnerChanged)] = true
		}
		for _, tr := range e.Transitions {
			set[e.EventName(tr.Action)] = true
		}
	}
	for _, l := range m.Links {
		for _, name := range l.parentEntities() {
			if e := m.byName[name]; e != nil && e.Events {
				set[e.EventName(l.Action)] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// parentEntities returns the names of the entities a link row can have as parent.
func (l *Link) parentEntities() []string {
	if l.Parent.Entity != "" {
		return []string{l.Parent.Entity}
	}
	if l.Parent.OneOf != nil {
		return sortedValues(l.Parent.OneOf)
	}
	out := sortedValues(l.Parent.Types)
	for _, k := range sortedKeys(l.Parent.TypeTables) {
		for _, e := range l.m.byTable[l.Parent.TypeTables[k]] {
			if e.Events && !slices.Contains(out, e.Name) {
				out = append(out, e.Name)
			}
		}
	}
	return out
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		if !slices.Contains(out, m[k]) {
			out = append(out, m[k])
		}
	}
	return out
}

// EventName returns the event name of action a on the entity: "Opportunity.Won", or
// "CustomEntity.Create" for a custom entity.
func (e *Entity) EventName(a event.Action) string {
	return e.eventPrefix() + "." + string(a)
}

func (e *Entity) eventPrefix() string {
	if e.Custom {
		return CustomEntityPrefix
	}
	return e.Name
}

// FieldName returns the API name of column, and false when the column is excluded. Any
// other column, even one added to the table after Validate, keeps its name unless Fields
// renames it.
func (e *Entity) FieldName(column string) (string, bool) {
	if e.exclude[column] {
		return "", false
	}
	if api, ok := e.fieldOf[column]; ok {
		return api, true
	}
	return column, true
}

// Column returns the column of API field name field, or "" when field is not an API name
// of the entity as far as the mapping knows: a column renamed to another API name, or an
// excluded column. It does not consult the live schema; HasField does.
func (e *Entity) Column(field string) string {
	col, problem := e.resolve(field)
	if problem != "" {
		return ""
	}
	return col
}

// HasField reports whether api is the API name of one of the entity's columns. After
// Validate it answers from the live columns; before, it only knows the file, and answers
// true for any name Column accepts.
func (e *Entity) HasField(api string) bool {
	if e.apiNames != nil {
		return e.apiNames[api]
	}
	return e.Column(api) != ""
}

// FieldNames returns the API names of the entity's columns in the table's column order,
// excluded columns left out. It is nil before Validate, which reads the columns.
func (e *Entity) FieldNames() []string {
	if e.live == nil {
		return nil
	}
	out := make([]string, 0, len(e.live))
	for _, col := range e.live {
		if api, ok := e.FieldName(col); ok {
			out = append(out, api)
		}
	}
	return out
}

// Relation returns the relation called name, or nil. Relations derived from foreign keys
// exist only after Validate.
func (e *Entity) Relation(name string) *Relation {
	return e.Relations[name]
}

// ParseTable parses "schema.table" (or "table", in schema public) as written in the
// catalog: exact case, no SQL quotes. The first dot separates the schema.
func ParseTable(s string) (Table, error) {
	if strings.ContainsRune(s, '"') {
		return Table{}, fmt.Errorf("parse table %q: write identifiers without quotes, in their exact case", s)
	}
	if strings.TrimSpace(s) != s {
		return Table{}, fmt.Errorf("parse table %q: leading or trailing space", s)
	}
	schema, name, ok := strings.Cut(s, ".")
	if !ok {
		schema, name = "public", s
	}
	if schema == "" || name == "" {
		return Table{}, fmt.Errorf("parse table %q: want schema.table or table", s)
	}
	return Table{Schema: schema, Name: name}, nil
}
