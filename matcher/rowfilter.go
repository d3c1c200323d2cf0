package matcher

import (
	"encoding/json"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/mapping"
)

// RowFilter is a filter on entity rows written in the options' syntax, without the rest of
// a webhook: {"Opportunity": {"filter": {"status": "Won"}, "filter-op": {"status": "eq"}}}.
// A backfill's filter is one. It is immutable and safe for concurrent use; the nil
// RowFilter passes every row.
type RowFilter struct {
	ents map[event.EntityName][]filter
}

// CompileRowFilter compiles raw (null or empty: no filter) against the mapping. field names
// raw in errors ("filter"); an unknown entity, field or operator is an *InvalidError naming
// it, as for a webhook's options.
func CompileRowFilter(m *mapping.Mapping, field string, raw json.RawMessage) (*RowFilter, error) {
	if len(raw) == 0 || jsonx.Kind(raw) == "null" {
		return nil, nil
	}
	members, err := decodeObject(field, raw)
	if err != nil {
		return nil, err
	}
	rf := &RowFilter{ents: map[event.EntityName][]filter{}}
	for _, mb := range members {
		f := join(field, mb.Key)
		e := m.Entity(mb.Key)
		if e == nil || !e.Events {
			return nil, Invalidf(f, "unknown entity %s", shown(mb.Key))
		}
		eo, err := parseEntity(f, mb.Key, mb.Value)
		if err != nil {
			return nil, err
		}
		if len(eo.onChange) > 0 || len(eo.proj.expand) > 0 || len(eo.proj.loadOnly) > 0 {
			return nil, Invalidf(f, "only filter and filter-op apply here")
		}
		es := &entitySub{}
		if err := es.compileFilters(e, f, &eo); err != nil {
			return nil, err
		}
		rf.ents[event.EntityName(e.Name)] = es.filters
	}
	return rf, nil
}

// Match reports whether row, of entity, passes every filter given for that entity.
func (rf *RowFilter) Match(entity event.EntityName, row event.Row) bool {
	if rf == nil {
		return true
	}
	for i := range rf.ents[entity] {
		if !rf.ents[entity][i].match(row) {
			return false
		}
	}
	return true
}
