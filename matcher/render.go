package matcher

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/mapping"
)

// Render builds the delivery items (DESIGN.md §5) of one chunk of events matched by wh, in
// the order of evs. Every item has every key: id, event, entity, entity_id, committed_at
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
// Render is safe for concurrent use.
func (m *Matcher) Render(ctx context.Context, wh *Webhook, evs []*cdc.Event) ([]json.RawMessage, error) {
	if m.cfg.Mapping == nil {
		return nil, fmt.Errorf("render for webhook %s: %w", wh.ID, errNoMapping)
	}
	start := time.Now()
	r := &renderer{
		s:        m.subscriptionFor(wh),
		f:        fetcher{m: m},
		mapping:  m.cfg.Mapping,
		parents:  map[cdc.EntityName]map[string][]cdc.Row{},
		related:  map[cdc.EntityName]map[string][]cdc.Row{},
		expanded: map[*projRel]map[string][]cdc.Row{},
	}
	defer r.f.release()
	if err := r.fetch(ctx, evs); err != nil {
		return nil, fmt.Errorf("render %d events for webhook %s: %w", len(evs), wh.ID, err)
	}
	r.f.release()
	out := make([]json.RawMessage, len(evs))
	buf := make([]byte, 0, 512*len(evs))
	for i, ev := range evs {
		n := len(buf)
		buf = r.appendItem(buf, ev)
		out[i] = buf[n:len(buf):len(buf)]
	}
	m.met.renderTiming.Observe(time.Since(start).Seconds())
	return out, nil
}

// subscriptionFor returns wh's compiled form: the index's, or compiled now for a webhook
// the index no longer holds (changed since it matched); without usable options, rows are
// rendered whole.
func (m *Matcher) subscriptionFor(wh *Webhook) *subscription {
	if s := m.ix.Load().byWebhook[wh]; s != nil {
		return s
	}
	if m.cat != nil {
		s, err := compile(m.cat, wh, false)
		if err == nil {
			return s
		}
		m.log.Warn("render without options: webhook does not compile", "webhook_id", wh.ID, "err", err)
	}
	return &subscription{wh: wh}
}

// renderer renders one chunk.
type renderer struct {
	s       *subscription
	f       fetcher
	mapping *mapping.Mapping
	// parents and related hold link events' parent and related rows loaded by key.
	parents, related map[cdc.EntityName]map[string][]cdc.Row
	// expanded holds each expanded relation's rows by the owning row's value.
	expanded map[*projRel]map[string][]cdc.Row
}

// pair is a row whose projection's relations must be fetched.
type pair struct {
	row cdc.Row
	p   *proj
}

func isLink(ev *cdc.Event) bool { return ev.Related != nil && ev.New == nil && ev.Old == nil }

// fetch loads everything the chunk's items need, level by level.
func (r *renderer) fetch(ctx context.Context, evs []*cdc.Event) error {
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

func (r *renderer) loadByKey(ctx context.Context, ks keySets, into map[cdc.EntityName]map[string][]cdc.Row) error {
	for _, name := range ks.order {
		e := r.mapping.Entity(name)
		if e == nil {
			continue
		}
		rows, err := r.f.load(ctx, e, e.Key, ks.keys[name].list)
		if err != nil {
			return err
		}
		into[cdc.EntityName(name)] = rows
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
			rows, err := r.f.load(ctx, rel.target, rel.joinColumn, keys[rel].list)
			if err != nil {
				return fmt.Errorf("expand %s: %w", rel.name, err)
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
func (r *renderer) body(ev *cdc.Event) cdc.Row {
	switch {
	case isLink(ev):
		return first(r.parents[ev.Entity][ev.EntityID])
	case ev.Action == mapping.ActionDelete && ev.Old != nil, ev.New == nil:
		return ev.Old
	}
	return ev.New
}

func (r *renderer) relatedRow(ev *cdc.Event) cdc.Row {
	if ev.Related.Row != nil {
		return ev.Related.Row
	}
	return first(r.related[ev.Related.Entity][ev.Related.ID])
}

func (r *renderer) bodyProj(ev *cdc.Event) *proj {
	if es := r.s.ents[ev.Entity]; es != nil {
		return es.proj
	}
	return nil
}

func first(rows []cdc.Row) cdc.Row {
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

// appendItem appends one delivery item.
func (r *renderer) appendItem(dst []byte, ev *cdc.Event) []byte {
	dst = append(dst, `{"id":`...)
	dst = cdc.AppendJSONString(dst, ev.ID)
	dst = append(dst, `,"event":`...)
	dst = cdc.AppendJSONString(dst, ev.Name)
	dst = append(dst, `,"entity":`...)
	dst = cdc.AppendJSONString(dst, ev.Entity)
	dst = append(dst, `,"entity_id":`...)
	dst = cdc.AppendJSONString(dst, ev.EntityID)
	dst = append(dst, `,"committed_at":"`...)
	dst = ev.CommitTime.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
	dst = append(dst, `","lsn":"`...)
	dst = appendLSN(dst, uint64(ev.CommitLSN))
	dst = append(dst, `","xid":`...)
	dst = strconv.AppendUint(dst, uint64(ev.XID), 10)
	dst = append(dst, `,"data":`...)
	p := r.bodyProj(ev)
	dst = r.appendRow(dst, r.body(ev), p)
	dst = appendChanges(dst, ev)
	dst = append(dst, `,"related_entity":`...)
	if ev.Related == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, `{"entity":`...)
		dst = cdc.AppendJSONString(dst, ev.Related.Entity)
		dst = append(dst, `,"id":`...)
		dst = cdc.AppendJSONString(dst, ev.Related.ID)
		dst = append(dst, `,"data":`...)
		dst = r.appendRow(dst, r.relatedRow(ev), r.s.related[string(ev.Related.Entity)])
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendChanges appends the previous and changed_fields members. previous is not cut by
// load-only: it is the old values of every changed field, as on-field-change sees them.
func appendChanges(dst []byte, ev *cdc.Event) []byte {
	if ev.Old == nil || ev.New == nil || ev.Action == mapping.ActionDelete {
		return append(dst, `,"previous":null,"changed_fields":null`...)
	}
	dst = append(dst, `,"previous":{`...)
	for i, name := range ev.Changed {
		v, _ := ev.Old.Get(name)
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = cdc.AppendJSONString(dst, name)
		dst = append(dst, ':')
		dst = v.AppendJSON(dst)
	}
	dst = append(dst, `},"changed_fields":[`...)
	for i, name := range ev.Changed {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = cdc.AppendJSONString(dst, name)
	}
	return append(dst, ']')
}

// appendRow appends row shaped by p (nil: the whole row).
func (r *renderer) appendRow(dst []byte, row cdc.Row, p *proj) []byte {
	if row == nil || p == nil {
		return row.AppendJSON(dst)
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
		dst = cdc.AppendJSONString(dst, f.Name)
		dst = append(dst, ':')
		dst = f.Value.AppendJSON(dst)
	}
	for _, rel := range p.rels {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = cdc.AppendJSONString(dst, rel.name)
		dst = append(dst, ':')
		dst = r.appendRelation(dst, row, rel)
	}
	return append(dst, '}')
}

func (r *renderer) appendRelation(dst []byte, row cdc.Row, rel *projRel) []byte {
	v, _ := row.Get(rel.from)
	var rows []cdc.Row
	if !v.IsNull() {
		rows = r.expanded[rel][string(v.Raw)]
	}
	if !rel.rel.Many {
		return r.appendRow(dst, first(rows), rel.child)
	}
	dst = append(dst, '[')
	for i, child := range rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.appendRow(dst, child, rel.child)
	}
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
