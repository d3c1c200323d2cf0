package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/mapping"
)

// Render builds the delivery items (DESIGN.md §5) of one chunk of events matched by sub (a
// Match's Sub), in the order of evs, with sub's options: those the events were matched
// with, not looked up again. Every item has every key: id, event, entity, entity_id, committed_at
// (RFC 3339, microseconds, UTC), lsn ("0/16B3A28"), xid, data, previous, changed_fields and
// related_entity, null where they do not apply.
//
// data is the entity body after the webhook's expand and load-only for that entity: the new
// row, the old row for Delete, and for link events (DocumentLinked, Comment) the parent row
// loaded from the CRM by key. previous holds the old values of the changed fields and
// changed_fields their names, for events raised by an UPDATE (Update, OwnerChanged and
// transitions); both are null otherwise. related_entity is {entity, id, data} for link
// events, data shaped by options.related_entity.
//
// Rows not carried by the events are read from the CRM (cfg.CRM) in batches: one query per
// expanded relation, per link parent entity and per related entity for the whole chunk,
// never one per event. They are read as they are at render time, not as of the commit.
//
// Bounds (DESIGN.md §15): a one-to-many expansion holds at most cfg.MaxExpandRows rows
// per owning row (the first by the target's key; the query reads one more to know), and
// an item at most ItemLimit(cfg.MaxBodyBytes) bytes: an item that grows past it while it is
// encoded is abandoned and rendered again without expansions, then without data, previous
// and related_entity.data. The rows a chunk reads for expansions are bounded too, by the
// items' bound times their number: expansions that would read more are left out. Every
// item has one more key, truncated: null, or an object naming each cut value by its path
// ("data.contacts") with the bound that cut it ("max_expand_rows", "max_body_bytes").
// Render is safe for concurrent use.
func (m *Matcher) Render(ctx context.Context, sub Subscription, evs []*event.Event) ([]json.RawMessage, error) {
	items, _, err := m.RenderAppend(ctx, nil, sub, evs)
	return items, err
}

// RenderAppend is Render writing the items' bytes into buf[:0], grown when it is short. It
// returns the buffer as well, for the caller to render into again once nothing reads the
// items: a sender that copies each chunk's items into a request body allocates them once
// per render loop instead of once per chunk.
func (m *Matcher) RenderAppend(ctx context.Context, buf []byte, sub Subscription, evs []*event.Event) ([]json.RawMessage, []byte, error) {
	if sub.subscription == nil {
		return nil, buf, errNoSubscription
	}
	wh := sub.wh
	if m.cfg.Mapping == nil {
		return nil, buf, fmt.Errorf("render for webhook %s: %w", wh.ID, errNoMapping)
	}
	start := time.Now()
	limit := ItemLimit(m.cfg.MaxBodyBytes)
	r := &renderer{
		s:         sub.subscription,
		f:         fetcher{m: m},
		mapping:   m.cfg.Mapping,
		parents:   map[event.EntityName]map[string][]event.Row{},
		related:   map[event.EntityName]map[string][]event.Row{},
		expanded:  map[*projRel]map[string][]event.Row{},
		maxRows:   m.cfg.MaxExpandRows,
		itemLimit: limit,
		budget:    int64(limit) * int64(len(evs)),
	}
	defer r.f.release()
	if err := r.fetch(ctx, evs); err != nil {
		return nil, buf, fmt.Errorf("render %d events for webhook %s: %w", len(evs), wh.ID, err)
	}
	r.f.release()
	out := make([]json.RawMessage, len(evs))
	per := min(max(m.itemBytes.Load(), 512), 4096) // larger items grow the buffer as they come
	if need := int(per+per/8) * len(evs); cap(buf) < need {
		buf = make([]byte, 0, need) // not Grow: the old bytes need no copy
	} else {
		buf = buf[:0]
	}
	for i, ev := range evs {
		n := len(buf)
		buf = r.appendItem(buf, ev)
		out[i] = buf[n:len(buf):len(buf)]
	}
	m.itemBytes.Store(int64(len(buf) / max(len(evs), 1)))
	m.met.renderTiming.Observe(time.Since(start).Seconds())
	if r.cutItems != [numReasons]int{} {
		m.reportCuts(wh, &r.cutItems)
	}
	return out, buf, nil
}

// errNoSubscription is Render's error for the zero Subscription: a Match not made by
// Match.
var errNoSubscription = errors.New("matcher: render without a compiled subscription")

// reportCuts counts the items a bound cut and warns, at most once a minute per webhook.
func (m *Matcher) reportCuts(wh *Webhook, cutItems *[numReasons]int) {
	var reasons []string
	for i, n := range cutItems {
		if n > 0 {
			m.met.truncated[i].Add(float64(n))
			reasons = append(reasons, cutReasons[i])
		}
	}
	m.cutLog.Warn(m.log, wh.ID, "rendered items cut to the bounds; the items say so in truncated", "webhook_id", wh.ID,
		"reasons", reasons, "max_expand_rows", m.cfg.MaxExpandRows, "max_body_bytes", m.cfg.MaxBodyBytes)
}

// renderer renders one chunk.
type renderer struct {
	s       *subscription
	f       fetcher
	mapping *mapping.Mapping
	// parents and related hold link events' parent and related rows loaded by key.
	parents, related map[event.EntityName]map[string][]event.Row
	// expanded holds each expanded relation's rows by the owning row's value, at most
	// maxRows+1 per value for one-to-many relations.
	expanded map[*projRel]map[string][]event.Row
	// skipped marks relations left unread: the chunk's rows would have passed budget.
	skipped map[*projRel]bool

	maxRows   int   // rows kept per one-to-many expansion
	itemLimit int   // bytes per item
	budget    int64 // bytes of expansion rows the chunk may still read

	// The item being encoded.
	itemStart int
	mode      renderMode
	over      bool     // past itemLimit: stop encoding it, it is rendered again reduced
	prefix    string   // "data" or "related_entity.data"
	path      []string // relation names from the item's data down to the current row
	cuts      []cut

	cutItems [numReasons]int // items cut, by reason

	// commitTime and commitText are the last commit time formatted: a chunk's events
	// mostly share their transaction's.
	commitTime time.Time
	commitText []byte
}

// committedAt returns t as items carry it: RFC 3339 in UTC with microseconds.
func (r *renderer) committedAt(t time.Time) []byte {
	if r.commitText == nil || !t.Equal(r.commitTime) {
		r.commitTime = t
		r.commitText = t.UTC().AppendFormat(r.commitText[:0], "2006-01-02T15:04:05.000000Z07:00")
	}
	return r.commitText
}

// renderMode is how much of an item is encoded: everything, no expansions, or no rows.
type renderMode int

const (
	modeFull renderMode = iota
	modeNoExpand
	modeBare
)

// cutReason is a bound that cut a value; cutReasons holds the names items carry.
type cutReason int

const (
	cutRows cutReason = iota
	cutBytes
	numReasons
)

var cutReasons = [numReasons]string{"max_expand_rows", "max_body_bytes"}

// cut is one entry of an item's truncated object.
type cut struct {
	path   string
	reason cutReason
}

// cut records, once per path, that relation rel under the current path was cut — or,
// when rel is "", the value at the prefix itself (data, previous, related_entity.data).
func (r *renderer) cut(rel string, reason cutReason) {
	path := r.prefix
	for _, seg := range r.path {
		path += "." + seg
	}
	if rel != "" {
		path += "." + rel
	}
	for _, c := range r.cuts {
		if c.path == path {
			return
		}
	}
	r.cuts = append(r.cuts, cut{path, reason})
}

// check notes when the item has grown past its bound.
func (r *renderer) check(dst []byte) {
	if len(dst)-r.itemStart > r.itemLimit {
		r.over = true
	}
}

// pair is a row whose projection's relations must be fetched.
type pair struct {
	row event.Row
	p   *proj
}

func isLink(ev *event.Event) bool { return ev.Related != nil && ev.New == nil && ev.Old == nil }

// fetch loads everything the chunk's items need, level by level.
func (r *renderer) fetch(ctx context.Context, evs []*event.Event) error {
	parentKeys, relatedKeys := keySets{}, keySets{}
	for _, ev := range evs {
		if isLink(ev) {
			parentKeys.add(string(ev.Entity), ev.EntityID)
		}
		if ev.Related != nil && ev.Related.Row == nil && ev.Related.ID != "" {
			relatedKeys.add(string(ev.Related.Entity), ev.Related.ID)
		}
	}
	if err := r.loadByKey(ctx, parentKeys, r.parents); err != nil {
		return err
	}
	if err := r.loadByKey(ctx, relatedKeys, r.related); err != nil {
		return err
	}
	var level []pair
	for _, ev := range evs {
		if p := r.bodyProj(ev); p != nil && len(p.rels) > 0 {
			if row := r.body(ev); row != nil {
				level = append(level, pair{row, p})
			}
		}
		if ev.Related != nil {
			if p := r.s.related[string(ev.Related.Entity)]; p != nil && len(p.rels) > 0 {
				if row := r.relatedRow(ev); row != nil {
					level = append(level, pair{row, p})
				}
			}
		}
	}
	return r.expand(ctx, level)
}

func (r *renderer) loadByKey(ctx context.Context, ks keySets, into map[event.EntityName]map[string][]event.Row) error {
	for _, name := range ks.order {
		e := r.mapping.Entity(name)
		if e == nil {
			continue
		}
		rows, _, err := r.f.load(ctx, e, e.Key, ks.keys[name].list, 0, nil)
		if err != nil {
			return err
		}
		into[event.EntityName(name)] = rows
	}
	return nil
}

// expand fetches the relations of level's rows, one query per relation node, then those
// of the rows fetched, down the projection trees.
func (r *renderer) expand(ctx context.Context, level []pair) error {
	for len(level) > 0 {
		var order []*projRel
		keys := map[*projRel]*keySet{}
		for _, pr := range level {
			for _, rel := range pr.p.rels {
				v, _ := pr.row.Get(rel.from)
				if v.IsNull() {
					continue
				}
				ks := keys[rel]
				if ks == nil {
					ks = &keySet{seen: map[string]bool{}}
					keys[rel] = ks
					order = append(order, rel)
				}
				ks.add(string(v.Raw))
			}
		}
		var next []pair
		for _, rel := range order {
			limit := 0
			if rel.rel.Many {
				limit = r.maxRows + 1
			}
			var rows map[string][]event.Row
			complete := false
			if left := r.budget; left > 0 {
				var err error
				rows, complete, err = r.f.loadWhere(ctx, rel.target, rel.joinColumn, rel.rel.Where, keys[rel].list, limit, &r.budget)
				if err != nil {
					return fmt.Errorf("expand %s: %w", rel.name, err)
				}
				if !complete {
					r.budget = left // its rows are dropped; smaller relations may still fit
				}
			}
			if !complete {
				if r.skipped == nil {
					r.skipped = map[*projRel]bool{}
				}
				r.skipped[rel] = true
				continue
			}
			r.expanded[rel] = rows
			if len(rel.child.rels) == 0 {
				continue
			}
			for _, group := range rows {
				for _, row := range group {
					next = append(next, pair{row, rel.child})
				}
			}
		}
		level = next
	}
	return nil
}

// body is the event's entity row: new, old for Delete, loaded for link events.
func (r *renderer) body(ev *event.Event) event.Row {
	switch {
	case isLink(ev):
		return first(r.parents[ev.Entity][ev.EntityID])
	case ev.Action == event.ActionDelete && ev.Old != nil, ev.New == nil:
		return ev.Old
	}
	return ev.New
}

func (r *renderer) relatedRow(ev *event.Event) event.Row {
	if ev.Related.Row != nil {
		return ev.Related.Row
	}
	return first(r.related[ev.Related.Entity][ev.Related.ID])
}

func (r *renderer) bodyProj(ev *event.Event) *proj {
	if es := r.s.ents[ev.Entity]; es != nil {
		return es.proj
	}
	return nil
}

func first(rows []event.Row) event.Row {
	if len(rows) == 0 {
		return nil
	}
	return rows[0]
}

// keySet is an ordered set of keys; keySets groups them by entity name.
type keySet struct {
	list []string
	seen map[string]bool
}

func (k *keySet) add(key string) {
	if !k.seen[key] {
		k.seen[key] = true
		k.list = append(k.list, key)
	}
}

type keySets struct {
	order []string
	keys  map[string]*keySet
}

func (ks *keySets) add(name, key string) {
	if ks.keys == nil {
		ks.keys = map[string]*keySet{}
	}
	k := ks.keys[name]
	if k == nil {
		k = &keySet{seen: map[string]bool{}}
		ks.keys[name] = k
		ks.order = append(ks.order, name)
	}
	k.add(key)
}

// appendItem appends one delivery item, within itemLimit: an item that passes it is
// encoded again without expansions, then without rows.
func (r *renderer) appendItem(dst []byte, ev *event.Event) []byte {
	start := len(dst)
	r.itemStart = start
	for r.mode = modeFull; ; r.mode++ {
		r.over, r.cuts = false, r.cuts[:0]
		dst = r.appendItemAs(dst[:start], ev)
		r.check(dst)
		if !r.over || r.mode == modeBare {
			break
		}
	}
	dst = dst[:len(dst)-1] // the item's closing brace
	dst = append(dst, `,"truncated":`...)
	if len(r.cuts) == 0 {
		return append(dst, "null}"...)
	}
	var seen [numReasons]bool
	dst = append(dst, '{')
	for i, c := range r.cuts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, c.path)
		dst = append(dst, ':')
		dst = jsonx.AppendString(dst, cutReasons[c.reason])
		if !seen[c.reason] {
			seen[c.reason] = true
			r.cutItems[c.reason]++
		}
	}
	return append(dst, "}}"...)
}

// appendItemAs appends one delivery item, without truncated, as r.mode allows.
func (r *renderer) appendItemAs(dst []byte, ev *event.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, ev.ID)
	dst = append(dst, `,"event":`...)
	dst = jsonx.AppendString(dst, ev.Name)
	dst = append(dst, `,"entity":`...)
	dst = jsonx.AppendString(dst, ev.Entity)
	dst = append(dst, `,"entity_id":`...)
	dst = jsonx.AppendString(dst, ev.EntityID)
	dst = append(dst, `,"committed_at":"`...)
	dst = append(dst, r.committedAt(ev.CommitTime)...)
	dst = append(dst, `","lsn":"`...)
	dst = appendLSN(dst, uint64(ev.CommitLSN))
	dst = append(dst, `","xid":`...)
	dst = strconv.AppendUint(dst, uint64(ev.XID), 10)
	dst = append(dst, `,"data":`...)
	r.prefix, r.path = "data", r.path[:0]
	if ev.Data != nil {
		dst = r.appendOwn(dst, ev.Data)
	} else {
		dst = r.appendTop(dst, r.body(ev), r.bodyProj(ev))
	}
	if r.over && r.mode != modeBare {
		return dst // abandoned: rendered again, reduced
	}
	if r.mode == modeBare && ev.Old != nil && ev.New != nil && ev.Action != event.ActionDelete {
		dst = append(dst, `,"previous":null`...)
		r.prefix = "previous"
		r.cut("", cutBytes)
		dst = appendChangedFields(dst, ev)
	} else {
		dst = appendChanges(dst, ev)
	}
	dst = append(dst, `,"related_entity":`...)
	if ev.Related == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"entity":`...)
		dst = jsonx.AppendString(dst, ev.Related.Entity)
		dst = append(dst, `,"id":`...)
		dst = jsonx.AppendString(dst, ev.Related.ID)
		dst = append(dst, `,"data":`...)
		r.prefix, r.path = "related_entity.data", r.path[:0]
		dst = r.appendTop(dst, r.relatedRow(ev), r.s.related[string(ev.Related.Entity)])
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendOwn appends the body of an event that carries its own (event.Event.Data, an
// inbound call), as it is: null in modeBare.
func (r *renderer) appendOwn(dst, data []byte) []byte {
	if r.mode == modeBare {
		r.cut("", cutBytes)
		return append(dst, "null"...)
	}
	dst = append(dst, data...)
	r.check(dst)
	return dst
}

// appendTop appends an item's data or related_entity.data: null in modeBare.
func (r *renderer) appendTop(dst []byte, row event.Row, p *proj) []byte {
	if r.mode == modeBare && row != nil {
		r.cut("", cutBytes)
		return append(dst, "null"...)
	}
	return r.appendRow(dst, row, p)
}

// appendChanges appends the previous and changed_fields members. previous is not cut by
// load-only: it is the old values of every changed field, as on-field-change sees them.
func appendChanges(dst []byte, ev *event.Event) []byte {
	if ev.Old == nil || ev.New == nil || ev.Action == event.ActionDelete {
		return append(dst, `,"previous":null,"changed_fields":null`...)
	}
	dst = append(dst, `,"previous":{`...)
	for i, name := range ev.Changed {
		v, _ := ev.Old.Get(name)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, name)
		dst = append(dst, ':')
		dst = v.AppendJSON(dst)
	}
	dst = append(dst, '}')
	return appendChangedFields(dst, ev)
}

// appendChangedFields appends the changed_fields member of an event raised by an UPDATE.
func appendChangedFields(dst []byte, ev *event.Event) []byte {
	dst = append(dst, `,"changed_fields":[`...)
	for i, name := range ev.Changed {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, name)
	}
	return append(dst, ']')
}

// appendRow appends row shaped by p (nil: the whole row). It stops early, leaving
// invalid JSON, once the item is over its bound (r.over).
func (r *renderer) appendRow(dst []byte, row event.Row, p *proj) []byte {
	if row == nil || p == nil {
		dst = row.AppendJSON(dst)
		r.check(dst)
		return dst
	}
	dst = append(dst, '{')
	n := 0
	for _, f := range row {
		if !p.keeps(f.Name) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = jsonx.AppendString(dst, f.Name)
		dst = append(dst, ':')
		dst = f.Value.AppendJSON(dst)
	}
	for _, rel := range p.rels {
		if r.check(dst); r.over {
			return dst
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = jsonx.AppendString(dst, rel.name)
		dst = append(dst, ':')
		dst = r.appendRelation(dst, row, rel)
	}
	dst = append(dst, '}')
	r.check(dst)
	return dst
}

// appendRelation appends the expansion of rel on row: null in place of a relation left
// out (modeNoExpand, or unread), the first maxRows rows of a one-to-many one.
func (r *renderer) appendRelation(dst []byte, row event.Row, rel *projRel) []byte {
	v, _ := row.Get(rel.from)
	var rows []event.Row
	if !v.IsNull() {
		if r.mode != modeFull || r.skipped[rel] {
			r.cut(rel.name, cutBytes)
			return append(dst, "null"...)
		}
		rows = r.expanded[rel][string(v.Raw)]
	}
	if !rel.rel.Many {
		r.path = append(r.path, rel.name)
		dst = r.appendRow(dst, first(rows), rel.child)
		r.path = r.path[:len(r.path)-1]
		return dst
	}
	if len(rows) > r.maxRows {
		r.cut(rel.name, cutRows)
		rows = rows[:r.maxRows]
	}
	r.path = append(r.path, rel.name)
	dst = append(dst, '[')
	for i, child := range rows {
		if r.over {
			break
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.appendRow(dst, child, rel.child)
	}
	r.path = r.path[:len(r.path)-1]
	return append(dst, ']')
}

// appendLSN appends lsn as PostgreSQL writes it: "16/B374D848".
func appendLSN(dst []byte, lsn uint64) []byte {
	dst = appendHexUpper(dst, lsn>>32)
	dst = append(dst, '/')
	return appendHexUpper(dst, lsn&0xFFFFFFFF)
}

func appendHexUpper(dst []byte, v uint64) []byte {
	n := len(dst)
	dst = strconv.AppendUint(dst, v, 16)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; 'a' <= c && c <= 'f' {
			dst[i] = c - 'a' + 'A'
		}
	}
	return dst
}
