package matcher

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/walhook/walhook/event"
)

// TestKeepLinkParentsFiltersOnTheParentRow: an owner-filtered Account webhook keeps only
// its accounts' DocumentLinked, read from the parents' rows in one query for the batch.
// On the old code there was no such step: Match passed every account's DocumentLinked.
func TestKeepLinkParentsFiltersOnTheParentRow(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	const jana = "9900cce6-bcd6-412a-bcd1-1904556c949a"
	owned := webhook("owned", []string{"Account.DocumentLinked"}, `{"entity": {"Account": {"filter": {"owner_id": "`+jana+`"}}}}`)
	all := webhook("all", []string{"Account.DocumentLinked"}, `{}`)
	if err := m.Set([]*Webhook{owned, all}); err != nil {
		t.Fatal(err)
	}
	link := func(account string) *event.Event {
		return &event.Event{Name: "Account.DocumentLinked", Entity: "Account", Action: event.ActionDocumentLinked, EntityID: account,
			Related: &event.Related{Entity: "Document", ID: "d0c00000-0000-4000-8000-000000000002"}}
	}
	acme, globex, initech, gone := link("ac000000-0000-4000-8000-000000000001"), link("ac000000-0000-4000-8000-000000000002"),
		link("ac000000-0000-4000-8000-000000000003"), link("ac000000-0000-4000-8000-0000000000ff")
	var ms []Match
	for _, ev := range []*event.Event{acme, globex, initech, gone} {
		ms = m.Match(ev, ms)
	}
	if len(ms) != 8 {
		t.Fatalf("Match: %d matches, want 8 (filters wait for the parent row)", len(ms))
	}
	if !m.NeedsParent(ms[0]) || m.NeedsParent(ms[1]) {
		t.Errorf("NeedsParent = %v, %v; want true for the filtered webhook only", m.NeedsParent(ms[0]), m.NeedsParent(ms[1]))
	}
	kept, err := m.KeepLinkParents(context.Background(), ms)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ wh, account string }
	var got []pair
	for _, mt := range kept {
		got = append(got, pair{mt.Webhook.ID, mt.Event.EntityID})
	}
	want := []pair{
		{"owned", acme.EntityID}, {"all", acme.EntityID},
		{"all", globex.EntityID},
		{"owned", initech.EntityID}, {"all", initech.EntityID},
		{"all", gone.EntityID},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(pair{})); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}
