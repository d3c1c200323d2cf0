package mapping

import (
	"fmt"
	"regexp"
	"slices"
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
	m.Actions = buildActions(f.Actions, p)
	for _, name := range order {
		e := buildEntity(name, f.Entities[name], p)
		m.Entities = append(m.Entities, e)
		m.byName[name] = e
		for _, t := range e.Tables {
			m.byTable[t] = append(m.byTable[t], e)
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
	checkActions(m, p)
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
	if len(y.Table) == 0 {
		p.addf("%s: table: required", where)
	}
	for _, name := range y.Table {
		t, err := ParseTable(name)
		switch {
		case name == "":
			p.addf("%s: table: required", where)
		case err != nil:
			p.addf("%s: table: %v", where, err)
		case slices.Contains(e.Tables, t):
			p.addf("%s: table: %s is listed twice", where, t)
		default:
			e.Tables = append(e.Tables, t)
		}
	}
	if len(e.Tables) > 0 {
		e.Table = e.Tables[0]
	}
	e.Keys = []string(y.Key)
	switch {
	case len(e.Keys) == 0 || slices.Contains(e.Keys, ""):
		p.addf("%s: key: required (a column, or a list of columns for a composite key)", where)
	default:
		e.Key = e.Keys[0]
		if dup := duplicate(e.Keys); dup != "" {
			p.addf("%s: key: column %s is listed twice", where, dup)
		}
	}
	buildFields(e, y, p)
	if y.Owner != "" {
		e.Owner = string(y.Owner)
		if _, msg := e.resolve(e.Owner); msg != "" {
			p.addf("%s: owner: %s", where, msg)
		}
		if !e.Events {
			p.addf("%s: owner: a lookup entity (events: false) raises no OwnerChanged", where)
		}
	}
	e.SoftDelete = buildCondition("entity "+e.Name+": soft_delete", y.SoftDelete, e.resolve, p)
	e.Discriminator = buildCondition("entity "+e.Name+": discriminator", y.Discriminator, e.resolve, p)
	buildTransitions(e, y.Transitions, p)
	buildRelations(e, y.Relations, p)
	buildPipedrive(e, y.Pipedrive, p)
	return e
}

// buildFields records the renamed fields and the excluded columns.
func buildFields(e *Entity, y *entityYAML, p *problems) {
	where := "entity " + e.Name
	for _, api := range sortedKeys(y.Fields) {
		col := string(y.Fields[api])
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
	for _, c := range y.Exclude {
		col := string(c)
		switch {
		case col == "":
			p.addf("%s: exclude: empty column name", where)
		case slices.Contains(e.Keys, col):
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

// buildCondition checks one condition (a clause or a list of clauses); resolve checks
// each clause's field (an entity's API name, or any column for links and lookups).
func buildCondition(where string, y conditionsYAML, resolve func(string) (string, string), p *problems) *Condition {
	if y == nil {
		return nil
	}
	if len(y) == 0 {
		p.addf("%s: empty list; give at least one condition", where)
		return nil
	}
	c := &Condition{}
	for i, cy := range y {
		w := where
		if len(y) > 1 {
			w = fmt.Sprintf("%s[%d]", where, i)
		}
		if cy == nil {
			p.addf("%s: empty condition; field and value are required", w)
			continue
		}
		if _, msg := resolve(string(cy.Field)); msg != "" {
			p.addf("%s.field: %s", w, msg)
		}
		switch {
		case cy.NotNull && (cy.Value.set || cy.Null):
			p.addf("%s: not_null excludes value and is_null", w)
		case !cy.NotNull && !cy.Null && cy.Value.empty():
			p.addf("%s.value: required (one value or a list, [null, …] with NULL; or is_null: true, or not_null: true)", w)
		}
		c.Clauses = append(c.Clauses, Clause{Field: string(cy.Field), Values: cy.Value.vals, Null: cy.Value.hasNull || cy.Null, NotNull: cy.NotNull})
	}
	return c
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
		checkAction(where+".action", string(y.Action), "transition", p)
		tr := Transition{Action: event.Action(y.Action), Field: string(y.Field)}
		switch {
		case y.Via != nil && (y.Field != "" || y.To.set || y.From.set || y.Lookup != nil || y.When != nil):
			p.addf("%s: via excludes field, to, from, when and lookup", where)
		case y.Via != nil:
			tr.Via = &Via{Entity: string(y.Via.Entity), Field: string(y.Via.Field)}
			if tr.Via.Entity == "" || tr.Via.Field == "" {
				p.addf("%s.via: entity and field are required (via: {entity: Lead, field: created_opportunity_id})", where)
			}
		case y.When != nil && (y.Field != "" || y.To.set || y.From.set || y.Lookup != nil):
			p.addf("%s: when excludes field, to, from and lookup", where)
		case y.When != nil:
			tr.When = buildCondition(where+".when", y.When, e.resolve, p)
		case y.Field == "" && y.Lookup != nil:
			p.addf("%s: lookup needs field, the column referencing the lookup table", where)
		case y.Field == "" && y.To.set:
			p.addf("%s: to needs field", where)
		case y.Field == "" && y.From.set:
			if len(y.From.vals) != 1 || y.From.hasNull {
				p.addf("%s.from: without field, from names one entity sharing the table (from: Lead)", where)
			} else {
				tr.From = y.From.vals[0]
			}
		case y.Field == "":
			p.addf("%s: field, when or from required", where)
		default:
			if _, msg := e.resolve(tr.Field); msg != "" {
				p.addf("%s.field: %s", where, msg)
			}
			if y.To.set && y.To.empty() {
				p.addf("%s.to: empty list; omit to for any change", where)
			}
			if y.From.set && y.From.empty() {
				p.addf("%s.from: empty list; omit from for any previous value", where)
			}
			tr.To, tr.ToNull = y.To.vals, y.To.hasNull
			tr.FromValues, tr.FromNull = y.From.vals, y.From.hasNull
			if y.Lookup != nil {
				if y.To.set {
					p.addf("%s: lookup excludes to; the lookup's when says which rows count", where)
				}
				tr.Lookup = buildLookup(where+".lookup", y.Lookup, p)
			}
		}
		e.Transitions = append(e.Transitions, tr)
	}
}

func buildLookup(where string, y *lookupYAML, p *problems) *Lookup {
	l := &Lookup{Key: string(y.Key)}
	if y.Table == "" {
		p.addf("%s.table: required", where)
	} else if t, err := ParseTable(string(y.Table)); err != nil {
		p.addf("%s.table: %v", where, err)
	} else {
		l.Table = t
	}
	if l.Key == "" {
		p.addf("%s.key: required (the column the field references)", where)
	}
	if y.When == nil {
		p.addf("%s.when: required (which rows of the lookup table count, e.g. {field: is_won, value: true})", where)
	}
	l.When = buildCondition(where+".when", y.When, anyColumn, p)
	return l
}

// anyColumn accepts any non-empty column name (link and lookup tables have no API names).
func anyColumn(col string) (string, string) {
	if col == "" {
		return "", "required"
	}
	return col, ""
}

func duplicate(list []string) string {
	for i, a := range list {
		if slices.Contains(list[i+1:], a) {
			return a
		}
	}
	return ""
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
		case !y.Many && e.exclude[string(y.Column)]:
			p.addf("%s.column: %s is an excluded column", where, y.Column)
		}
		r := &Relation{Name: name, Target: string(y.Entity), Many: y.Many, Column: string(y.Column)}
		r.Where = buildCondition(where+".where", y.Where, func(f string) (string, string) { return anyColumn(f) }, p)
		e.Relations[name] = r
		e.fileRelations[name] = r
	}
}

// checkSharedTables requires a discriminator, the same key, and disjoint discriminator
// values on every entity of a table that holds several.
func checkSharedTables(m *Mapping, p *problems) {
	done := map[Table]bool{}
	for _, tbl := range m.Tables() {
		es := m.byTable[tbl]
		if len(es) < 2 || done[tbl] {
			continue
		}
		done[tbl] = true
		for i, x := range es {
			if x.Discriminator == nil {
				p.addf("entity %s: discriminator: required, because table %s also holds %s",
					x.Name, tbl, strings.Join(entityNames(es, x), ", "))
			}
			if !slices.Equal(x.Keys, es[0].Keys) {
				p.addf("entity %s: key: %s differs from entity %s's key %s on the shared table %s",
					x.Name, strings.Join(x.Keys, ", "), es[0].Name, strings.Join(es[0].Keys, ", "), tbl)
			}
			for _, y := range es[i+1:] {
				if v, ok := overlap(x.Discriminator, y.Discriminator); ok {
					p.addf("entities %s and %s: discriminator %s = %s matches both", x.Name, y.Name, x.Discriminator.Clauses[0].Field, v)
				}
			}
		}
	}
}

// overlap reports a row both discriminators would match: when every clause of each names
// the same single field and a value (or NULL) is common to both.
func overlap(a, b *Condition) (string, bool) {
	if a == nil || b == nil || len(a.Clauses) != 1 || len(b.Clauses) != 1 {
		return "", false
	}
	x, y := a.Clauses[0], b.Clauses[0]
	if x.Field != y.Field {
		return "", false
	}
	if x.Null && y.Null {
		return "NULL", true
	}
	for _, v := range x.Values {
		if slices.Contains(y.Values, v) {
			return v, true
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
		if v := tr.Via; v != nil && v.Entity != "" {
			where := fmt.Sprintf("entity %s: transitions[%d].via", e.Name, i)
			src := m.byName[v.Entity]
			switch {
			case src == nil:
				p.addf("%s.entity: unknown entity %q", where, v.Entity)
			case !src.Events:
				p.addf("%s.entity: entity %s is a lookup entity (events: false); its changes are not read", where, v.Entity)
			default:
				if _, msg := src.resolve(v.Field); msg != "" {
					p.addf("%s.field: %s", where, msg)
				}
			}
		}
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
