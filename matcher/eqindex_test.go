package matcher

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// TestIndexAgreesWithScan checks that the event and equality indexes never change what
// matches: for random webhooks and events, Match returns exactly the webhooks that a
// plain scan of every subscription would.
func TestIndexAgreesWithScan(t *testing.T) {
	fields := []string{"owner_id", "value", "status", "is_archived", "closing_date", "created_at", "step_id"}
	events := []string{"Opportunity.Update", "Opportunity.Create", "Opportunity.Delete"}
	whs := randomWebhooks(fields, events)
	m := New(Config{Mapping: mapping.Default()})
	if err := m.Set(whs); err != nil {
		t.Fatal(err)
	}
	ix := m.ix.Load()
	if len(ix.exact["Opportunity.Update"].byEntity) == 0 {
		t.Fatal("no equality index was built; the test would prove nothing")
	}
	rows := []map[string]event.Value{
		{"owner_id": uuidVal("9900cce6-bcd6-412a-bcd1-1904556c949a"), "value": numVal("125000.00"), "status": textVal("Open"),
			"is_archived": boolVal('f'), "closing_date": {Kind: event.KindDate, Raw: []byte("2025-09-30")},
			"created_at": {Kind: event.KindTimestamptz, Raw: []byte("2025-01-01 10:00:00+00")}, "step_id": {Kind: event.KindInt, Raw: []byte("2")}},
		{"owner_id": uuidVal("c1000000-0000-4000-8000-000000000002"), "value": numVal("0.00"), "status": textVal("Won"),
			"is_archived": boolVal('t'), "closing_date": {Kind: event.KindDate, Raw: []byte("2025-12-15")},
			"created_at": {Kind: event.KindTimestamptz, Raw: []byte("2025-01-02 00:00:00+00")}, "step_id": {Kind: event.KindInt, Raw: []byte("3")}},
		{"value": {Kind: event.KindNumeric}, "status": textVal("open"), "step_id": {Kind: event.KindInt, Raw: []byte("7")}},
	}
	var all []*subscription
	for _, wh := range whs {
		all = append(all, ix.byID[wh.ID])
	}
	for _, r := range rows {
		var row event.Row
		for _, f := range fields {
			if v, ok := r[f]; ok {
				row = append(row, event.Field{Name: f, Value: v})
			}
		}
		for _, name := range events {
			ev := &event.Event{Name: event.EventName(name), Entity: "Opportunity", Action: event.Action(name[len("Opportunity."):]), New: row, Old: row}
			var got, want []string
			for _, mt := range m.Match(ev, nil) {
				got = append(got, mt.Webhook.ID)
			}
			for _, s := range all {
				if s.coversName(name) && s.wants(ev) {
					want = append(want, s.wh.ID)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s on %s: (-scan +index):\n%s", name, row.AppendJSON(nil), diff)
			}
			if len(want) == 0 {
				t.Errorf("%s on %s matched nothing: weak test", name, row.AppendJSON(nil))
			}
		}
	}
}

// randomWebhooks returns 400 webhooks on Opportunity events, each with one filter on one
// of fields, its value spelled in one of the ways clients spell them.
func randomWebhooks(fields, events []string) []*Webhook {
	rng := rand.New(rand.NewPCG(1, 2))
	// Candidate filter values per field, spelled in the ways clients spell them.
	values := map[string][]string{
		"owner_id":     {`"9900cce6-bcd6-412a-bcd1-1904556c949a"`, `"9900CCE6-BCD6-412A-BCD1-1904556C949A"`, `"c1000000-0000-4000-8000-000000000002"`},
		"value":        {`125000`, `"125000.00"`, `1.25e5`, `480000`, `0`, `-0`},
		"status":       {`"Open"`, `"open"`, `"Won"`},
		"is_archived":  {`true`, `"false"`, `"no"`, `1`},
		"closing_date": {`"2025-09-30"`, `"2025-12-15"`},
		"created_at":   {`"2025-01-01T10:00:00Z"`, `"2025-01-01 12:00:00+02"`, `"2025-01-02"`},
		"step_id":      {`2`, `"3"`, `2.0`},
	}
	ops := []string{"eq", "in", "ne", "contains"}
	var whs []*Webhook
	for i := range 400 {
		f := fields[rng.IntN(len(fields))]
		vs := values[f]
		val := vs[rng.IntN(len(vs))]
		if rng.IntN(3) == 0 {
			val = "[" + val + "," + vs[rng.IntN(len(vs))] + "]"
		}
		op := ops[rng.IntN(len(ops))]
		if rng.IntN(2) == 0 {
			op = "eq"
		}
		pattern := events[rng.IntN(len(events))]
		switch rng.IntN(5) {
		case 0:
			pattern = "Opportunity.*"
		case 1:
			pattern = "*"
		}
		opts := fmt.Sprintf(`{"entity": {"Opportunity": {"filter": {%q: %s}, "filter-op": {%q: %q}}}}`, f, val, f, op)
		whs = append(whs, webhook(fmt.Sprintf("w%d", i), []string{pattern}, opts))
	}
	return whs
}

func uuidVal(s string) event.Value { return event.Value{Kind: event.KindUUID, Raw: []byte(s)} }
func numVal(s string) event.Value  { return event.Value{Kind: event.KindNumeric, Raw: []byte(s)} }
func textVal(s string) event.Value { return event.Value{Kind: event.KindText, Raw: []byte(s)} }
func boolVal(c byte) event.Value   { return event.Value{Kind: event.KindBool, Raw: []byte{c}} }
