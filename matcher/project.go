package matcher

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/walhook/walhook/mapping"
)

// proj is a compiled expand + load-only of one entity: which fields of its rows to keep and
// which relations to embed. Projections are trees; each projRel node is fetched with one
// query per rendered chunk.
type proj struct {
	ent *mapping.Entity
	// only holds the field and relation names to keep; nil keeps every field and every
	// expanded relation.
	only map[string]bool
	// whole marks a relation named as a whole by load-only: it keeps everything even if
	// another path names one of its fields.
	whole bool
	rels  []*projRel
}

// projRel is one expanded relation of a proj.
type projRel struct {
	name   string
	rel    *mapping.Relation
	target *mapping.Entity
	// from is the API field of the owning row whose value is looked up: the foreign key
	// for many-to-one, the owner's key for one-to-many.
	from string
	// joinColumn is the target table's column matched against that value: its key for
	// many-to-one, the foreign key column for one-to-many.
	joinColumn string
	child      *proj
}

func (p *proj) rel(name string) *projRel {
	for _, r := range p.rels {
		if r.name == name {
			return r
		}
	}
	return nil
}

// compileProj compiles expand and load-only paths on entity e; nil when there are none.
// strict adds the checks made on webhooks as the API receives them (checkExpandPath):
// webhooks stored before those checks existed still load, bounded at render time.
func compileProj(m *mapping.Mapping, e *mapping.Entity, po *projOptions, strict bool) (*proj, error) {
	if po == nil || (len(po.expand) == 0 && len(po.loadOnly) == 0) {
		return nil, nil
	}
	p := &proj{ent: e}
	for i, path := range po.expand {
		field := fmt.Sprintf("%s.expand[%d]", po.field, i)
		if err := p.addExpand(m, field, path); err != nil {
			return nil, err
		}
		if strict {
			if err := checkExpandPath(m, e, field, path); err != nil {
				return nil, err
			}
		}
	}
	for i, path := range po.loadOnly {
		field := fmt.Sprintf("%s.%s[%d]", po.field, po.loadKey, i)
		if err := p.addLoadOnly(field, path); err != nil {
			return nil, err
		}
	}
	p.prune()
	return p, nil
}

func (p *proj) addExpand(m *mapping.Mapping, field, path string) error {
	cur := p
	for _, seg := range strings.Split(path, ".") {
		if r := cur.rel(seg); r != nil {
			cur = r.child
			continue
		}
		r, err := newProjRel(m, cur.ent, seg)
		if err != nil {
			return Invalidf(field, "expand path %s: %v", shown(path), err)
		}
		cur.rels = append(cur.rels, r)
		cur = r.child
	}
	return nil
}

func newProjRel(m *mapping.Mapping, e *mapping.Entity, name string) (*projRel, error) {
	rel := e.Relation(name)
	if rel == nil {
		return nil, fmt.Errorf("%s has no relation %s (relations: %s)", e.Name, shown(name), relationNames(e))
	}
	target := m.Entity(rel.Target)
	if target == nil {
		return nil, fmt.Errorf("relation %s.%s targets unknown entity %s", e.Name, name, rel.Target)
	}
	r := &projRel{name: name, rel: rel, target: target, child: &proj{ent: target}}
	if rel.Many {
		r.from, _ = e.FieldName(e.Key)
		r.joinColumn = rel.Column
	} else {
		api, ok := e.FieldName(rel.Column)
		if !ok || !e.HasField(api) {
			return nil, fmt.Errorf("relation %s.%s cannot be expanded: its column %s is not exposed", e.Name, name, rel.Column)
		}
		r.from = api
		r.joinColumn = target.Key
	}
	return r, nil
}

// errCyclic is wrapped by the error of a cyclic expand path.
var errCyclic = errors.New("cyclic expand path")

// relationKey identifies a relation as a foreign key followed in one direction: the
// table it starts from, the direction, the foreign key column and the table it reaches.
// Two entities of one table (Lead and Opportunity) share their relations' keys.
type relationKey struct {
	from, to mapping.Table
	many     bool
	column   string
}

// checkExpandPath refuses, on a path that resolves on e, more than MaxExpandDepth
// relations and cycles: a path is cyclic when it follows the same relation twice — the
// same foreign key from the same table in the same direction. Coming back along the
// reverse direction is not a cycle: Contact's primary_account.contacts (the contact's
// colleagues) is allowed, primary_account.contacts.primary_account is not (it can only
// repeat what the path already holds, multiplied by the rows in between).
func checkExpandPath(m *mapping.Mapping, e *mapping.Entity, field, path string) error {
	segs := strings.Split(path, ".")
	seen := make(map[relationKey]int, len(segs))
	cur := e
	for i, seg := range segs {
		rel := cur.Relation(seg)
		target := m.Entity(rel.Target) // addExpand resolved the path
		k := relationKey{from: cur.Table, to: target.Table, many: rel.Many, column: rel.Column}
		if j, ok := seen[k]; ok {
			prev := e
			for _, s := range segs[:j] {
				prev = m.Entity(prev.Relation(s).Target)
			}
			return &ValidationError{Field: field, Reason: fmt.Sprintf(
				"expand path %s is cyclic: segment %d (%s.%s) follows the same relation as segment %d (%s.%s) again; "+
					"an expand path may follow each relation once in each direction (primary_account.contacts is allowed, "+
					"primary_account.contacts.primary_account is not)",
				shown(path), i+1, cur.Name, seg, j+1, prev.Name, segs[j]), err: errCyclic}
		}
		seen[k] = i
		cur = target
	}
	if len(segs) > MaxExpandDepth {
		return Invalidf(field, "expand path %s follows %d relations; at most %d are allowed", shown(path), len(segs), MaxExpandDepth)
	}
	return nil
}

func (p *proj) addLoadOnly(field, path string) error {
	cur := p
	segs := strings.Split(path, ".")
	for i, seg := range segs {
		last := i == len(segs)-1
		if cur.only == nil {
			cur.only = map[string]bool{}
		}
		if r := cur.rel(seg); r != nil {
			cur.only[seg] = true
			if last {
				r.child.whole = true
			}
			cur = r.child
			continue
		}
		switch {
		case seg == "":
			return Invalidf(field, "load-only path %s has an empty segment", shown(path))
		case cur.ent.Relation(seg) != nil:
			return Invalidf(field, "load-only path %s: relation %s.%s is not expanded; add %s to expand",
				shown(path), cur.ent.Name, seg, shown(strings.Join(segs[:i+1], ".")))
		case !cur.ent.HasField(seg):
			return Invalidf(field, "load-only path %s: %s has no field or relation %s", shown(path), cur.ent.Name, shown(seg))
		case !last:
			return Invalidf(field, "load-only path %s: %s.%s is a field, not a relation", shown(path), cur.ent.Name, seg)
		}
		cur.only[seg] = true
	}
	return nil
}

// prune drops relations load-only leaves out (so they are never fetched) and clears the
// restrictions of relations kept whole.
func (p *proj) prune() {
	if p.whole {
		p.only = nil
	}
	if p.only != nil {
		p.rels = slices.DeleteFunc(p.rels, func(r *projRel) bool { return !p.only[r.name] })
	}
	for _, r := range p.rels {
		r.child.prune()
	}
}

// keeps reports whether the field name is written: kept by load-only and not replaced by an
// expanded relation of the same name.
func (p *proj) keeps(name string) bool {
	if p.only != nil && !p.only[name] {
		return false
	}
	return p.rel(name) == nil
}

func relationNames(e *mapping.Entity) string {
	names := make([]string, 0, len(e.Relations))
	for n := range e.Relations {
		names = append(names, n)
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
