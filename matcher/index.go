package matcher

import (
	"slices"
	"strings"

	"github.com/walhook/walhook/event"
)

// index is an immutable snapshot of the compiled subscriptions, keyed so that an event only
// meets the subscriptions whose patterns name it: exact event names, "<Entity>.*"
// prefixes, and "*". Each subscription sits in exactly one of the three, so an event never
// meets it twice.
type index struct {
	exact map[string]*bucket
	wild  map[string]*bucket
	all   *bucket
	// inWild holds inbound prefix patterns by prefix ("webhook.salesforce."), inbound.go.
	inWild map[string]*bucket
	byID   map[string]*subscription
	size   int
}

func newIndex(subs []*subscription) *index {
	ix := &index{
		exact: map[string]*bucket{},
		wild:  map[string]*bucket{},
		byID:  make(map[string]*subscription, len(subs)),
		size:  len(subs),
	}
	exact, wild, inWild := map[string][]*subscription{}, map[string][]*subscription{}, map[string][]*subscription{}
	var all []*subscription
	for _, s := range subs {
		ix.byID[s.wh.ID] = s
		if s.all {
			all = append(all, s)
			continue
		}
		addInbound(inWild, s)
		for _, p := range s.wild {
			wild[p] = append(wild[p], s)
		}
		for _, name := range s.exact {
			exact[name] = append(exact[name], s)
		}
	}
	for name, list := range exact {
		ix.exact[name] = newBucket(list)
	}
	for p, list := range wild {
		ix.wild[p] = newBucket(list)
	}
	if len(all) > 0 {
		ix.all = newBucket(all)
	}
	if len(inWild) > 0 {
		ix.inWild = make(map[string]*bucket, len(inWild))
		for p, list := range inWild {
			ix.inWild[p] = newBucket(list)
		}
	}
	return ix
}

// match appends a Match for every subscription that wants ev.
func (ix *index) match(ev *event.Event, dst []Match) []Match {
	if ev.Target != "" {
		// Meant for one webhook (a backfill row): its subscription's filters decide, not
		// its event patterns.
		if s := ix.byID[ev.Target]; s != nil && s.wants(ev) {
			dst = append(dst, Match{Webhook: s.wh, Event: ev, Sub: Subscription{s}})
		}
		return dst
	}
	name := string(ev.Name)
	dst = ix.exact[name].match(ev, dst)
	if ev.Entity == event.EntityInbound {
		dst = ix.matchInbound(ev, name, dst)
	} else if dot := strings.IndexByte(name, '.'); dot > 0 {
		dst = ix.wild[name[:dot]].match(ev, dst)
	}
	return ix.all.match(ev, dst)
}

func matchEach(subs []*subscription, ev *event.Event, dst []Match) []Match {
	for _, s := range subs {
		if s.wants(ev) {
			dst = append(dst, Match{Webhook: s.wh, Event: ev, Sub: Subscription{s}})
		}
	}
	return dst
}

// wants applies everything but the event pattern: custom entity names, skip keys,
// on-field-change (Update events only) and filters (on the new row; the old row for
// Delete). Link events (DocumentLinked, Comment) carry no parent row: they pass here, and
// Matcher.KeepLinkParents evaluates the filters on the parent's row, loaded in a batch.
func (s *subscription) wants(ev *event.Event) bool {
	if ev.Custom && !slices.Contains(s.custom, string(ev.Entity)) {
		return false
	}
	for _, k := range ev.SkipKeys {
		if slices.Contains(s.skip, k) {
			return false
		}
	}
	es := s.ents[ev.Entity]
	if es == nil {
		return true
	}
	if ev.Action == event.ActionUpdate && (len(es.onChange) > 0 || len(es.onChangePaths) > 0) &&
		!anyIn(es.onChange, ev.Changed) && !pathChanged(es.onChangePaths, ev) {
		return false
	}
	row := filterRow(ev)
	if row == nil {
		return true
	}
	for i := range es.filters {
		if !es.filters[i].match(row) {
			return false
		}
	}
	return true
}

// filterRow is the row filters see: the new row, the old row for Delete, nil for link
// events.
func filterRow(ev *event.Event) event.Row {
	if ev.New == nil || ev.Action == event.ActionDelete && ev.Old != nil {
		return ev.Old
	}
	return ev.New
}

// pathChanged reports whether a json path of on-field-change has another value in the new
// row than in the old one.
func pathChanged(paths []jsonField, ev *event.Event) bool {
	for _, p := range paths {
		if !slices.Contains(ev.Changed, p.field) {
			continue
		}
		o, _ := ev.Old.Get(p.field)
		n, _ := ev.New.Get(p.field)
		ov, nv := jsonPath(o, p.path), jsonPath(n, p.path)
		if ov.IsNull() != nv.IsNull() || ov.Kind != nv.Kind || string(ov.Raw) != string(nv.Raw) {
			return true
		}
	}
	return false
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}
