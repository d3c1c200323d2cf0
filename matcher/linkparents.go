package matcher

import (
	"context"
	"fmt"
	"slices"

	"github.com/walhook/walhook/event"
)

// NeedsParent reports whether a match of a link event (DocumentLinked, Comment) is only
// provisional: the webhook has filters on the parent entity, which Match cannot evaluate
// because a link event carries the link row, not the parent's. KeepLinkParents settles it.
func (m *Matcher) NeedsParent(mt Match) bool {
	if !isLink(mt.Event) {
		return false
	}
	if mt.Sub.subscription == nil {
		return false
	}
	es := mt.Sub.ents[mt.Event.Entity]
	return es != nil && len(es.filters) > 0
}

// KeepLinkParents evaluates the webhooks' filters of link-event matches on the parent
// entity's row (DESIGN.md §4: an owner-filtered Account webhook receives only its accounts'
// DocumentLinked) and returns ms without the matches that fail, in order, reusing ms's
// array. Parent rows are read from the CRM (Config.CRM) in one query per parent entity for
// the whole slice, as they are now (soft-deleted parents are not found and so fail); pass
// a transaction's matches together to batch them. Matches that need no parent row (see
// NeedsParent) are kept untouched. on-field-change does not apply to link events: the
// parent did not change. On a database error ms is returned unfiltered with the error.
func (m *Matcher) KeepLinkParents(ctx context.Context, ms []Match) ([]Match, error) {
	if !slices.ContainsFunc(ms, m.NeedsParent) {
		return ms, nil // the common case, every event: no allocation
	}
	keys := keySets{}
	need := make([]bool, len(ms))
	for i, mt := range ms {
		if m.NeedsParent(mt) {
			need[i] = true
			keys.add(string(mt.Event.Entity), mt.Event.EntityID)
		}
	}
	f := fetcher{m: m}
	defer f.release()
	rows := map[event.EntityName]map[string][]event.Row{}
	for _, name := range keys.order {
		e := m.cfg.Mapping.Entity(name)
		if e == nil {
			continue
		}
		got, _, err := f.load(ctx, e, e.Key, keys.keys[name].list, 0, nil)
		if err != nil {
			return ms, fmt.Errorf("load link parents %s: %w", name, err)
		}
		rows[event.EntityName(name)] = got
	}
	out := ms[:0]
	for i, mt := range ms {
		if need[i] && !m.parentPasses(mt, rows[mt.Event.Entity][mt.Event.EntityID]) {
			continue
		}
		out = append(out, mt)
	}
	clear(ms[len(out):])
	return out, nil
}

func (m *Matcher) parentPasses(mt Match, found []event.Row) bool {
	if len(found) == 0 {
		return false // no parent (deleted since, or soft-deleted): nothing to filter on
	}
	es := mt.Sub.ents[mt.Event.Entity]
	for i := range es.filters {
		if !es.filters[i].match(found[0]) {
			return false
		}
	}
	return true
}
