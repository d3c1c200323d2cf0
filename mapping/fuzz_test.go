package mapping_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema/sample"
)

// FuzzParse checks that Parse returns a usable mapping or an ErrInvalid error, and never
// panics, whatever the bytes.
func FuzzParse(f *testing.F) {
	f.Add(sample.MappingYAML)
	f.Add([]byte(leadOppty))
	f.Add([]byte("entities:\n  A: {table: t, key: id, soft_delete: {field: d, value: [true, 1.5, ~]}}\n"))
	f.Add([]byte("entities: &a {A: *a}\n"))
	f.Add([]byte("links: [{table: x, parent: {types: {a: A}}}]\n"))
	f.Add([]byte("actions: [Escalate]\nentities:\n  A: {table: [t, u], key: [a, b], discriminator: [{field: x, value: [1, null]}, {field: y, is_null: true}], soft_delete: {field: d, not_null: true}, transitions: [{action: Escalate, field: s, from: [a, null], to: b}, {action: Lost, when: {field: z, value: 0}}, {action: Won, field: st, lookup: {table: s.st, key: id, when: {field: w, value: true}}}], relations: {n: {entity: A, column: p, many: true, where: {field: q, value: A}}}}\n"))
	f.Add([]byte("entities:\n  A: {table: t, key: id}\nlinks: [{table: l, action: Comment, parent: {one_of: {a_id: A}}, related: {entity: A}, when: {field: k, value: c}, soft_delete: {field: d, value: 1}}, {table: m, action: Comment, parent: {type_field: ty, field: id, types: {x: s.t}}, related: {entity: A}}]\n"))
	f.Add([]byte("entities:\n  A:\n    table: {x: y}\n    key: {columns: [a, b]}\n    exclude: c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := mapping.Parse(data)
		if err != nil {
			if !errors.Is(err, mapping.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			if m != nil {
				t.Fatal("Parse returned both a mapping and an error")
			}
			return
		}
		if len(m.Entities) == 0 {
			t.Fatal("Parse accepted a mapping without entities")
		}
		for _, table := range m.Tables() {
			if len(m.EntitiesFor(table)) == 0 && m.LinkFor(table) == nil && !slices.Contains(m.LookupTables(), table) {
				t.Fatalf("Tables() lists %s, which holds no entity and no link", table)
			}
		}
		for _, e := range m.Entities {
			if m.Entity(e.Name) != e || e.Key == "" || e.Table.Name == "" {
				t.Fatalf("entity %q is incomplete: %+v", e.Name, e)
			}
		}
		_ = m.EventNames()
	})
}
