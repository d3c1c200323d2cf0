package mapping

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/walhook/walhook/event"
)

// identRE matches entity names, API field names, relation names and actions: letters,
// digits and underscores, not starting with a digit (Pipeliner style: CE_Bid, email1).
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// rowActions are raised by every row change; transitions and links need actions of their own.
var rowActions = map[event.Action]bool{
	event.ActionCreate: true, event.ActionUpdate: true, event.ActionDelete: true, event.ActionOwnerChanged: true,
}

// build turns the decoded file into a Mapping, collecting every internal inconsistency.
func build(f *fileYAML, order []string) (*Mapping, *problems) {
	p := &problems{}
	m := &Mapping{
		byName:  map[string]*Entity{},
		byTable: map[Table][]*Entity{},
		links:   map[Table]*Link{},
	}
	if len(order) == 0 {
		p.addf("entities: at least one entity is required")
	}
	for _, name := range order {
		e := buildEntity(name, f.Entities[name], p)
		m.Entities = append(m.Entities, e)
		m.byName[name] = e
		if e.Table.Name != "" {
			m.byTable[e.Table] = append(m.byTable[e.Table], e)
		}
	}
	checkSharedTables(m, p)
	for _, e := range m.Entities {
		checkEntityRefs(m, e, p)
	}
	for i, ly := range f.Links {
		if l := buildLink(m, i, ly, p); l != nil {
			m.Links = append(m.Links, l)
		}
	}
	return m, p
}

func buildEntity(name string, y *entityYAML, p *problems) *Entity {
	e := &Entity{
		Name:          name,
		Events:        true,
		Fields:        map[string]string{},
		Relations:     map[string]*Relation{},
		fieldOf:       map[string]string{},
		columns:       map[string]string{},
		exclude:       map[string]bool{},
		fileRelations: map[string]*Relation{},
	}
	where := "entity " + name
	switch {
	case !identRE.MatchString(name):
		p.addf("%s: the name must be an identifier (letters, digits and _, not starting with a digit)", where)
	case name == CustomEntityPrefix:
		p.addf("%s: the name is reserved for custom entities' event names", where)
	}
	if y == nil {
		p.addf("%s: empty definition; table and key are required", where)
		return e
	}
	e.Custom = y.Custom
	if y.Events != nil {
		e.Events = *y.Events
	}
	if y.Table == "" {
		p.addf("%s: table: required", where)
	} else if t, err := ParseTable(y.Table); err != nil {
		p.addf("%s: table: %v", where, err)
	} else {
		e.Table = t
	}
	e.Key = y.Key
	if e.Key == "" {
		p.addf("%s: key: required", where)
	}
	buildFields(e, y, p)
	if y.Owner != "" {
		e.Owner = y.Owner
		if _, msg := e.resolve(y.Owner); msg != "" {
			p.addf("%s: owner: %s", where, msg)
		}
		if !e.Events {
			p.addf("%s: owner: a lookup entity (events: false) raises no OwnerChanged", where)
		}
	}
	e.SoftDelete = buildCondition(e, "soft_delete", y.SoftDelete, p)
	e.Discriminator = buildCondition(e, "discriminator", y.Discriminator, p)
	buildTransitions(e, y.Transitions, p)
	buildRelations(e, y.Relations, p)
	buildPipedrive(e, y.Pipedrive, p)
	return e
}

// buildFields records the renamed fields and the excluded columns.
func buildFields(e *Entity, y *entityYAML, p *problems) {
	where := "entity " + e.Name
	for _, api := range sortedKeys(y.Fields) {
		col := y.Fields[api]
		switch {
		case !identRE.MatchString(api):
			p.addf("%s: fields.%s: the API name must be an identifier", where, api)
		case col == "":
			p.addf("%s: fields.%s: column required", where, api)
		case e.fieldOf[col] != "":
			p.addf("%s: fields.%s: column %s is already named %s", where, api, col, e.fieldOf[col])
		default:
			e.Fields[api] = col
			e.columns[api] = col
			e.fieldOf[col] = api
		}
	}
	for _, col := range y.Exclude {
		switch {
		case col == "":
			p.addf("%s: exclude: empty column name", where)
		case col == e.Key:
			p.addf("%s: exclude: the key column %s cannot be excluded", where, col)
		case e.fieldOf[col] != "":
			p.addf("%s: exclude: column %s is renamed to %s in fields; drop one", where, col, e.fieldOf[col])
		case !e.exclude[col]:
			e.exclude[col] = true
			e.Exclude = append(e.Exclude, col)
		}
	}
}

// resolve returns the column of API field api, or a problem when api is not a usable
// API name.
func (e *Entity) resolve(api string) (column, problem string) {
	if api == "" {
		return "", "required"
	}
	if col, ok := e.columns[api]; ok {
		return col, ""
	}
	if other, ok := e.fieldOf[api]; ok {
		return "", fmt.Sprintf("%s is a column renamed to %s; use the API name", api, other)
	}
	if e.exclude[api] {
		return "", fmt.Sprintf("%s is an excluded column", api)
	}
	return api, ""
}

func buildCondition(e *Entity, key string, y *conditionYAML, p *problems) *Condition {
	if y == nil {
		return nil
	}
	where := "entity " + e.Name + ": " + key
	if _, msg := e.resolve(y.Field); msg != "" {
		p.addf("%s.field: %s", where, msg)
	}
	if len(y.Value) == 0 {
		p.addf("%s.value: required (one value or a list)", where)
	}
	return &Condition{Field: y.Field, Values: []string(y.Value)}
}

func buildTransitions(e *Entity, ys []*transitionYAML, p *problems) {
	if len(ys) > 0 && !e.Events {
		p.addf("entity %s: transitions: a lookup entity (events: false) raises no events", e.Name)
	}
	for i, y := range ys {
		where := fmt.Sprintf("entity %s: transitions[%d]", e.Name, i)
		if y == nil {
			p.addf("%s: empty", where)
			continue
		}
		switch {
		case y.Action == "":
			p.addf("%s.action: required", where)
		case !identRE.MatchString(y.Action):
			p.addf("%s.action: %q must be an identifier", where, y.Action)
		case rowActions[event.Action(y.Action)]:
			p.addf("%s.action: %s is raised by every row change; a transition needs its own action", where, y.Action)
		}
		switch {
		case y.From != "" && (y.Field != "" || y.To != nil):
			p.addf("%s: from excludes field and to", where)
		case y.From == "" && y.Field == "":
			p.addf("%s: field or from required", where)
		case y.From == "":
			if _, msg := e.resolve(y.Field); msg != "" {
				p.addf("%s.field: %s", where, msg)
			}
			if y.To != nil && len(y.To) == 0 {
				p.addf("%s.to: empty list; omit to for any change", where)
			}
		}
		e.Transitions = append(e.Transitions, Transition{
			Action: event.Action(y.Action), Field: y.Field, To: []string(y.To), From: y.From,
		})
	}
}

func buildRelations(e *Entity, ys map[string]*relationYAML, p *problems) {
	for _, name := range sortedKeys(ys) {
		y := ys[name]
		where := "entity " + e.Name + ": relations." + name
		if y == nil {
			p.addf("%s: empty; entity and column are required", where)
			continue
		}
		if !identRE.MatchString(name) {
			p.addf("%s: the name must be an identifier", where)
		}
		if y.Entity == "" {
			p.addf("%s.entity: required", where)
		}
		switch {
		case y.Column == "":
			p.addf("%s.column: required", where)
		case !y.Many && e.exclude[y.Column]:
			p.addf("%s.column: %s is an excluded column", where, y.Column)
		}
		r := &Relation{Name: name, Target: y.Entity, Many: y.Many, Column: y.Column}
		e.Relations[name] = r
		e.fileRelations[name] = r
	}
}

// checkSharedTables requires a discriminator, the same key, and disjoint discriminator
// values on every entity of a table that holds several.
func checkSharedTables(m *Mapping, p *problems) {
	done := map[Table]bool{}
	for _, e := range m.Entities {
		es := m.byTable[e.Table]
		if len(es) < 2 || done[e.Table] {
			continue
		}
		done[e.Table] = true
		for i, x := range es {
			if x.Discriminator == nil {
				p.addf("entity %s: discriminator: required, because table %s also holds %s",
					x.Name, x.Table, strings.Join(entityNames(es, x), ", "))
			}
			if x.Key != es[0].Key {
				p.addf("entity %s: key: %s differs from entity %s's key %s on the shared table %s",
					x.Name, x.Key, es[0].Name, es[0].Key, x.Table)
			}
			for _, y := range es[i+1:] {
				if v, ok := overlap(x.Discriminator, y.Discriminator); ok {
					p.addf("entities %s and %s: discriminator %s = %s matches both", x.Name, y.Name, x.Discriminator.Field, v)
				}
			}
		}
	}
}

func overlap(a, b *Condition) (string, bool) {
	if a == nil || b == nil || a.Field != b.Field {
		return "", false
	}
	for _, v := range a.Values {
		for _, w := range b.Values {
			if v == w {
				return v, true
			}
		}
	}
	return "", false
}

func entityNames(es []*Entity, except *Entity) []string {
	var names []string
	for _, e := range es {
		if e != except {
			names = append(names, e.Name)
		}
	}
	return names
}

// checkEntityRefs checks the entities named by transitions' from and by relations.
func checkEntityRefs(m *Mapping, e *Entity, p *problems) {
	for i, tr := range e.Transitions {
		if tr.From == "" {
			continue
		}
		where := fmt.Sprintf("entity %s: transitions[%d].from", e.Name, i)
		from := m.byName[tr.From]
		switch {
		case from == nil:
			p.addf("%s: unknown entity %q", where, tr.From)
		case from == e:
			p.addf("%s: an entity cannot become itself", where)
		case from.Table != e.Table:
			p.addf("%s: entity %s is stored in %s, not %s; from needs two entities sharing a table",
				where, from.Name, from.Table, e.Table)
		}
	}
	for _, name := range sortedKeys(e.fileRelations) {
		r := e.fileRelations[name]
		if r.Target != "" && m.byName[r.Target] == nil {
			p.addf("entity %s: relations.%s.entity: unknown entity %q", e.Name, name, r.Target)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
