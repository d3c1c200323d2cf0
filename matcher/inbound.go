package matcher

import (
	"slices"
	"strings"

	"github.com/walhook/walhook/event"
)

// Inbound event patterns (DESIGN.md §13). An inbound event's name is its event key
// ("webhook.salesforce.lead.created"); a webhook subscribes to one exactly, to every key
// under a prefix with a wildcard at any dot ("webhook.salesforce.*", "webhook.*"), or with
// "*". Exact keys sit in the index's exact map like CRM event names; prefixes in its
// inbound map, keyed by the prefix with its final dot ("webhook.salesforce."), looked up
// once per dot of the event's name.

// compileInbound adds an inbound pattern to the subscription.
func (s *subscription) compileInbound(field, name string) error {
	if err := event.CheckInboundKey(name, true); err != nil {
		return Invalidf(field, "inbound event key %s %v", shown(name), err)
	}
	if prefix, ok := strings.CutSuffix(name, "*"); ok {
		if !slices.Contains(s.inWild, prefix) {
			s.inWild = append(s.inWild, prefix)
		}
		return nil
	}
	if !slices.Contains(s.exact, name) {
		s.exact = append(s.exact, name)
	}
	return nil
}

// finishInbound leaves each inbound event reachable through one pattern of the
// subscription only, so that it is never matched twice: prefixes under a shorter prefix
// and exact keys under a prefix are dropped.
func (s *subscription) finishInbound() {
	if s.all {
		s.inWild = nil
		return
	}
	covered := func(name string, self int) bool {
		for i, p := range s.inWild {
			if i != self && strings.HasPrefix(name, p) && (len(p) < len(name) || i < self) {
				return true
			}
		}
		return false
	}
	var keep []string
	for i, p := range s.inWild {
		if !covered(p, i) {
			keep = append(keep, p)
		}
	}
	s.inWild = keep
	s.exact = slices.DeleteFunc(s.exact, func(name string) bool {
		return event.IsInboundName(name) && covered(name, -1)
	})
}

// inboundOnly reports whether every pattern of the subscription names inbound events.
func (s *subscription) inboundOnly() bool {
	if s.all || len(s.wild) > 0 {
		return false
	}
	for _, name := range s.exact {
		if !event.IsInboundName(name) {
			return false
		}
	}
	return true
}

// checkInboundOptions refuses options that name CRM fields where they cannot apply:
// inbound events carry their call object as it came, with no entity fields to filter,
// watch, expand or project.
func (s *subscription) checkInboundOptions(o *options) error {
	const why = "inbound events (webhook.…) carry their call object as it came: filter, filter-op, " +
		"on-field-change, expand and load-only name CRM fields and do not apply to them"
	for _, eo := range o.entities {
		if eo.name == string(event.EntityInbound) {
			return Invalidf(eo.proj.field, "%s", why)
		}
	}
	if !s.inboundOnly() {
		return nil
	}
	if len(o.entities) > 0 {
		return Invalidf(o.entities[0].proj.field, "%s; this webhook subscribes only to inbound events", why)
	}
	if o.related != nil {
		return Invalidf(o.related.field, "%s; this webhook subscribes only to inbound events", why)
	}
	return nil
}

// matchInbound appends the matches of the inbound prefix patterns that cover name.
func (ix *index) matchInbound(ev *event.Event, name string, dst []Match) []Match {
	if len(ix.inWild) == 0 {
		return dst
	}
	for i := len(event.InboundKeyRoot) - 1; i < len(name); i++ {
		if name[i] == '.' {
			dst = ix.inWild[name[:i+1]].match(ev, dst)
		}
	}
	return dst
}

// addInbound files the subscription's inbound prefixes into the index.
func addInbound(byPrefix map[string][]*subscription, s *subscription) {
	for _, p := range s.inWild {
		byPrefix[p] = append(byPrefix[p], s)
	}
}
