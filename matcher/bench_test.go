package matcher

import (
	"fmt"
	"strings"
	"testing"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// benchEvent is an Opportunity.Update of an open opportunity owned by owner 0.
func benchEvent() *event.Event {
	text := func(s string) event.Value { return event.Value{Kind: event.KindText, Raw: []byte(s)} }
	row := event.Row{
		{Name: "id", Value: event.Value{Kind: event.KindUUID, Raw: []byte("0f000000-0000-4000-8000-000000000001")}},
		{Name: "record_type", Value: text("opportunity")},
		{Name: "name", Value: text("Acme anvils 2025")},
		{Name: "owner_id", Value: event.Value{Kind: event.KindUUID, Raw: []byte(benchOwner(0))}},
		{Name: "status", Value: text("Open")},
		{Name: "value", Value: event.Value{Kind: event.KindNumeric, Raw: []byte("125000.00")}},
	}
	return &event.Event{Name: "Opportunity.Update", Entity: "Opportunity", Action: event.ActionUpdate,
		New: row, Old: row, Changed: []string{"value"}}
}

func benchOwner(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// benchWebhooks returns n webhooks of which 2 (1 when n is 1) want benchEvent. With
// sameEvent the others subscribe to Opportunity.Update too but filter on another owner;
// otherwise they subscribe, with the same kind of filter, to the mapping's other events.
func benchWebhooks(n int, sameEvent bool) []*Webhook {
	whs := []*Webhook{webhook("match-exact", []string{"Opportunity.Update"},
		`{"entity": {"Opportunity": {"filter": {"status": "Open", "value": 100000}, "filter-op": {"value": "gt"}}}}`)}
	if n > 1 {
		whs = append(whs, webhook("match-wild", []string{"Opportunity.*"}, `{"skip_keys": ["sync"]}`))
	}
	var others []string
	for _, name := range mapping.Default().EventNames() {
		if !strings.HasPrefix(name, "Opportunity.") && !strings.HasPrefix(name, "CustomEntity.") && !strings.HasSuffix(name, ".*") {
			others = append(others, name)
		}
	}
	for i := len(whs); i < n; i++ {
		event := others[i%len(others)]
		if sameEvent {
			event = "Opportunity.Update"
		}
		entity, _, _ := strings.Cut(event, ".")
		opts := fmt.Sprintf(`{"entity": {%q: {"filter": {"owner_id": %q}}}}`, entity, benchOwner(i))
		whs = append(whs, webhook(fmt.Sprintf("other-%d", i), []string{event}, opts))
	}
	return whs
}

// BenchmarkMatch measures Match per event with 1, 100 and 1,000 webhooks of which only one
// or two want the event. The index makes webhooks of other events free; same_event shows
// the cost when the others subscribe to the same event and only their filters differ.
func BenchmarkMatch(b *testing.B) {
	m := mapping.Default()
	for _, c := range []struct {
		n    int
		same bool
	}{{1, false}, {100, false}, {1000, false}, {100, true}, {1000, true}} {
		name := fmt.Sprintf("webhooks=%d", c.n)
		if c.same {
			name = "same_event/" + name
		}
		b.Run(name, func(b *testing.B) {
			mt := New(Config{Mapping: m})
			if err := mt.Set(benchWebhooks(c.n, c.same)); err != nil {
				b.Fatal(err)
			}
			ev := benchEvent()
			want := min(c.n, 2)
			dst := make([]Match, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				dst = mt.Match(ev, dst[:0])
			}
			if len(dst) != want {
				b.Fatalf("matched %d, want %d", len(dst), want)
			}
		})
	}
}

// TestMatchDoesNotAllocate pins the allocation-free guarantee of Match.
func TestMatchDoesNotAllocate(t *testing.T) {
	mt := New(Config{Mapping: mapping.Default()})
	if err := mt.Set(benchWebhooks(1000, false)); err != nil {
		t.Fatal(err)
	}
	ev := benchEvent()
	miss := &event.Event{Name: "Task.Create", Entity: "Task", Action: event.ActionCreate, New: ev.New}
	dst := make([]Match, 0, 8)
	if n := testing.AllocsPerRun(100, func() { dst = mt.Match(ev, dst[:0]) }); n != 0 {
		t.Errorf("Match with 2 matches allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { mt.Match(miss, nil) }); n != 0 {
		t.Errorf("Match with no match allocates %v times", n)
	}
}

// BenchmarkSet measures installing 1,000 webhooks after the database read: all changed
// (compiled anew) and none changed (the usual periodic reload, which reuses their
// compiled forms).
func BenchmarkSet(b *testing.B) {
	for _, changed := range []bool{true, false} {
		b.Run(fmt.Sprintf("changed=%v", changed), func(b *testing.B) {
			m := New(Config{Mapping: mapping.Default()})
			whs := benchWebhooks(1000, false)
			b.ReportAllocs()
			for b.Loop() {
				if changed {
					m.ix.Store(newIndex(nil))
				}
				if err := m.Set(whs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
