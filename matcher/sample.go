package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// Samples: items built from CRM rows as they are now rather than from changes, for
// test-send and preview (DESIGN.md §14). A sample event carries the row as its new row
// (its old row for a Delete), no change (previous and changed_fields null), lsn "0/0",
// xid 0, committed_at the time it was built, and an id that no WAL event can have
// ("test-<uuid>", "preview-<uuid>").

// ErrNoSample is returned (wrapped) by Sample when none of the webhook's subscribed
// entities has a row to build a sample from; the message names the entities tried.
var ErrNoSample = errors.New("no row to build a sample from")

// Bounds of sampling.
const (
	// MaxPreviewRows bounds Preview's rows per entity.
	MaxPreviewRows = 100
	// sampleScanRows is how many of an entity's latest rows Sample looks through for one
	// that passes the webhook's filters.
	sampleScanRows = 20
)

// Sample is one delivery item built from a CRM row.
type Sample struct {
	EventID  event.EventID
	Event    event.EventName
	Entity   event.EntityName
	EntityID string
	// Item is the rendered item, as it appears in the items of a chunk (DESIGN.md §5).
	Item json.RawMessage
	// FilteredOut says why the webhook's filters would leave the row out; "" when the row
	// passes them.
	FilteredOut string
}

// Rejection is a row the webhook's filters leave out, and why: the first failing filter's
// field, operator and value, and the row's value (`filter status eq "Won": value "Open"`).
type Rejection struct {
	Entity   event.EntityName `json:"entity"`
	EntityID string           `json:"entity_id"`
	Event    event.EventName  `json:"event"`
	Reason   string           `json:"reason"`
}

// Preview is what a webhook would send for the latest rows of its entities: the items of
// the rows that pass its filters, rendered, and the rows that do not, with the reason.
type Preview struct {
	Items       []json.RawMessage `json:"items"`
	FilteredOut []Rejection       `json:"filtered_out"`
}

// target is a subscribed entity and the event a sample of it carries.
type target struct {
	e      *mapping.Entity
	name   event.EventName
	action event.Action
}

// targets returns the webhook's subscribed entities in the order its events name them,
// each with the first subscribed event naming it: the event itself ("Opportunity.Won"),
// or Create for "<Entity>.*" and "*" (every entity that raises events, custom ones only
// when options.custom_entity_api_name lists them, in mapping order). Inbound event
// names have no entity and are left out.
func (s *subscription) targets(m *mapping.Mapping) []target {
	var out []target
	add := func(e *mapping.Entity, action event.Action) {
		if e == nil || !e.Events || e.Custom && !slices.Contains(s.custom, e.Name) {
			return
		}
		if slices.ContainsFunc(out, func(t target) bool { return t.e == e }) {
			return
		}
		out = append(out, target{e: e, name: event.EventName(e.EventName(action)), action: action})
	}
	for _, name := range s.wh.Events {
		if event.IsInboundName(name) {
			continue
		}
		if name == "*" {
			for _, e := range m.Entities {
				add(e, event.ActionCreate)
			}
			continue
		}
		prefix, action, _ := strings.Cut(name, ".")
		if action == "*" {
			action = string(event.ActionCreate)
		}
		if prefix == mapping.CustomEntityPrefix {
			for _, c := range s.custom {
				add(m.Entity(c), event.Action(action))
			}
			continue
		}
		add(m.Entity(prefix), event.Action(action))
	}
	return out
}

// sampleEvent builds the event of a sample of row r for target t.
func sampleEvent(t target, r latestRow, idPrefix string, now time.Time) *event.Event {
	ev := &event.Event{
		ID: event.EventID(idPrefix + uuid.NewString()), Name: t.name, Entity: event.EntityName(t.e.Name),
		Action: t.action, Custom: t.e.Custom, Table: r.table.String(), EntityID: r.id, CommitTime: now,
	}
	if t.action == event.ActionDelete {
		ev.Old = r.row
	} else {
		ev.New = r.row
	}
	return ev
}

// filteredOut returns why the subscription's filters leave ev out, "" when they pass it.
// Only filters are evaluated: a sample has no change for on-field-change to look at, nor
// skip keys.
func (s *subscription) filteredOut(ev *event.Event) string {
	es := s.ents[ev.Entity]
	if es == nil {
		return ""
	}
	row := filterRow(ev)
	for i := range es.filters {
		if reason := es.filters[i].explain(row); reason != "" {
			return reason
		}
	}
	return ""
}

// compileFor compiles wh for sampling, as a stored webhook is compiled.
func (m *Matcher) compileFor(wh *Webhook) (*subscription, error) {
	if m.cat == nil {
		return nil, errNoMapping
	}
	s, err := compile(m.cat, wh, false)
	if err != nil {
		return nil, fmt.Errorf("compile webhook %s: %w", wh.ID, err)
	}
	return s, nil
}

// Sample builds one sample item for webhook wh from a recent CRM row of a subscribed
// entity (targets' order): the most recently written of an entity's latest rows that
// passes the webhook's filters, in the first entity that has one; when no such row
// exists, the latest row of the first entity that has rows, with FilteredOut saying why
// it would not be sent. The item is rendered exactly as a delivery renders it (load-only,
// expand, bounds). Its event id is "test-<uuid>". With no row in any subscribed entity
// (or no CRM entity subscribed) the error wraps ErrNoSample.
func (m *Matcher) Sample(ctx context.Context, wh *Webhook) (*Sample, error) {
	s, err := m.compileFor(wh)
	if err != nil {
		return nil, err
	}
	ts := s.targets(m.cfg.Mapping)
	if len(ts) == 0 {
		return nil, fmt.Errorf("sample for webhook %s: it subscribes to no CRM entity (only inbound events): %w", wh.ID, ErrNoSample)
	}
	f := fetcher{m: m}
	defer f.release()
	now := time.Now()
	var fallback *event.Event
	reason := ""
	for _, t := range ts {
		rows, err := f.latest(ctx, t.e, sampleScanRows)
		if err != nil {
			return nil, fmt.Errorf("sample for webhook %s: %w", wh.ID, err)
		}
		for _, r := range rows {
			ev := sampleEvent(t, r, "test-", now)
			why := s.filteredOut(ev)
			if why == "" {
				f.release()
				return m.sample(ctx, s, ev, "")
			}
			if fallback == nil {
				fallback, reason = ev, why
			}
		}
	}
	f.release()
	if fallback == nil {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = t.e.Name
		}
		return nil, fmt.Errorf("sample for webhook %s: none of its subscribed entities (%s) has a row: %w",
			wh.ID, strings.Join(names, ", "), ErrNoSample)
	}
	return m.sample(ctx, s, fallback, reason)
}

func (m *Matcher) sample(ctx context.Context, s *subscription, ev *event.Event, filteredOut string) (*Sample, error) {
	items, err := m.Render(ctx, Subscription{s}, []*event.Event{ev})
	if err != nil {
		return nil, err
	}
	return &Sample{EventID: ev.ID, Event: ev.Name, Entity: ev.Entity, EntityID: ev.EntityID, Item: items[0],
		FilteredOut: filteredOut}, nil
}

// Preview answers what webhook wh would send for the limit latest rows (1 to
// MaxPreviewRows) of each of its subscribed entities (targets' order and events): the rows
// that pass its filters rendered as delivery items, in entity order and, within an entity,
// most recently written first; the others in FilteredOut with the first failing filter.
// Event ids are "preview-<uuid>". Nothing is stored or sent.
func (m *Matcher) Preview(ctx context.Context, wh *Webhook, limit int) (*Preview, error) {
	s, err := m.compileFor(wh)
	if err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), MaxPreviewRows)
	f := fetcher{m: m}
	defer f.release()
	now := time.Now()
	p := &Preview{Items: []json.RawMessage{}, FilteredOut: []Rejection{}}
	var pass []*event.Event
	for _, t := range s.targets(m.cfg.Mapping) {
		rows, err := f.latest(ctx, t.e, limit)
		if err != nil {
			return nil, fmt.Errorf("preview: %w", err)
		}
		for _, r := range rows {
			ev := sampleEvent(t, r, "preview-", now)
			if why := s.filteredOut(ev); why != "" {
				p.FilteredOut = append(p.FilteredOut, Rejection{Entity: ev.Entity, EntityID: ev.EntityID, Event: ev.Name, Reason: why})
				continue
			}
			pass = append(pass, ev)
		}
	}
	f.release()
	if len(pass) > 0 {
		items, err := m.Render(ctx, Subscription{s}, pass)
		if err != nil {
			return nil, fmt.Errorf("preview: %w", err)
		}
		p.Items = items
	}
	return p, nil
}
