package cdc

import (
	"fmt"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// derive raises the events of one row change: an INSERT raises Create (or the parent's
// link event), an UPDATE raises Update plus every transition it satisfies (or only Delete
// when it sets the soft-delete flag), a DELETE raises Delete.
func (d *decoder) derive(rel *relation, typ byte, oldCols, newCols []rawCol) error {
	if rel.lookups != nil {
		d.updateLookups(rel, typ, oldCols, newCols)
	}
	if rel.link != nil && typ != 'D' {
		if err := d.deriveLink(rel, typ, oldCols, newCols); err != nil || len(rel.plans) == 0 {
			return err
		}
		if typ == 'I' {
			return nil // an INSERT into a link table raises the link event only
		}
	}
	var oldPlan, newPlan *entityPlan
	if len(oldCols) > 0 {
		oldPlan = rel.planFor(oldCols)
	}
	if len(newCols) > 0 {
		newPlan = rel.planFor(newCols)
	}
	switch typ {
	case 'I':
		if newPlan == nil {
			return d.unmatched()
		}
		_, err := d.emit(newPlan, newPlan.create, event.ActionCreate, nil, newCols, nil)
		return err
	case 'D':
		if oldPlan == nil {
			return d.unmatched()
		}
		if oldPlan.soft != nil && oldPlan.soft.match(oldCols, rel.cols) {
			// Already deleted (soft): its Delete was raised then; nothing more.
			return d.unmatched()
		}
		_, err := d.emit(oldPlan, oldPlan.delete, event.ActionDelete, oldCols, nil, nil)
		return err
	}
	if newPlan == nil {
		return d.unmatched()
	}
	return d.deriveUpdate(rel, oldPlan, newPlan, oldCols, newCols)
}

func (d *decoder) unmatched() error {
	d.met.unmatched.Inc()
	return nil
}

// planFor picks the entity whose discriminator matches the tuple.
func (rel *relation) planFor(cols []rawCol) *entityPlan {
	for _, p := range rel.plans {
		if p.disc == nil || p.disc.match(cols, rel.cols) {
			return p
		}
	}
	return nil
}

func (d *decoder) deriveUpdate(rel *relation, oldPlan, newPlan *entityPlan, oldCols, newCols []rawCol) error {
	if lost := fillUnchangedToast(newCols, oldCols); lost > 0 {
		d.met.toastLost.Add(float64(lost))
	}
	hasOld := len(oldCols) == len(newCols)
	if !hasOld {
		oldCols = nil // key-only old tuple: no previous values to compare
	}
	changed := func(i int) bool {
		return hasOld && i >= 0 && !sameCol(oldCols[i], newCols[i])
	}
	if p := newPlan; p.soft != nil && hasOld && oldPlan == p && p.soft.match(newCols, rel.cols) && !p.soft.match(oldCols, rel.cols) {
		_, err := d.emit(p, p.delete, event.ActionDelete, oldCols, newCols, nil)
		return err
	}
	var changedFields []string
	if hasOld {
		for i, name := range newPlan.names {
			if name != "" && changed(i) {
				changedFields = append(changedFields, name)
			}
		}
	}
	p := newPlan
	ev, err := d.emit(p, p.update, event.ActionUpdate, oldCols, newCols, changedFields)
	if err != nil {
		return err
	}
	if changed(p.owner) {
		if err := d.emitLike(ev, p.ownerChanged, event.ActionOwnerChanged); err != nil {
			return err
		}
	}
	for i, t := range p.trans {
		// An event name is raised at most once per change (two ways to Lost, say), so
		// event ids stay unique.
		if !t.satisfied(oldPlan, newPlan, oldCols, newCols, rel.cols, changed) || raisedBefore(p.trans[:i], t.name, oldPlan, newPlan, oldCols, newCols, rel.cols, changed) {
			continue
		}
		if err := d.emitLike(ev, t.name, t.action); err != nil {
			return err
		}
	}
	for _, v := range p.vias {
		if changed(v.idx) && newCols[v.idx].kind == 't' {
			if err := d.emitVia(p, &v, newCols); err != nil {
				return err
			}
		}
	}
	return nil
}

// emitVia raises a transition of another entity caused by this row (Opportunity.Qualify
// when a lead's created_opportunity_id is set): the event is the target's, keyed by the
// value set, with this row as related entity; like a link event it carries no row of the
// target, which rendering loads by key.
func (d *decoder) emitVia(p *entityPlan, v *viaPlan, cols []rawCol) error {
	ev := &event.Event{
		Name:       v.name,
		Entity:     event.EntityName(v.target.Name),
		Action:     v.action,
		Custom:     v.target.Custom,
		Table:      p.table,
		EntityID:   string(cols[v.idx].data),
		CommitLSN:  event.LSN(d.txn.commitLSN),
		CommitTime: d.txn.commitTime,
		XID:        d.txn.xid,
		Seq:        d.txn.seq,
		Related:    &event.Related{Entity: event.EntityName(p.ent.Name), ID: p.entityID(cols), Row: p.row(cols)},
		SkipKeys:   d.txn.skipKeys[:len(d.txn.skipKeys):len(d.txn.skipKeys)],
	}
	return d.hand(ev)
}

func raisedBefore(earlier []transPlan, name event.EventName, oldPlan, newPlan *entityPlan, oldCols, newCols []rawCol, cols []column, changed func(int) bool) bool {
	for _, t := range earlier {
		if t.name == name && t.satisfied(oldPlan, newPlan, oldCols, newCols, cols, changed) {
			return true
		}
	}
	return false
}

// satisfied reports whether an UPDATE raises the transition. oldCols is nil when the
// change carried no old tuple; then only discriminator and plain field transitions can be
// decided (changed reports false for every field).
func (t *transPlan) satisfied(oldPlan, newPlan *entityPlan, oldCols, newCols []rawCol, cols []column, changed func(int) bool) bool {
	switch {
	case t.from != "":
		return oldPlan != nil && oldPlan != newPlan && oldPlan.ent.Name == t.from
	case t.when != nil:
		return oldCols != nil && t.when.match(newCols, cols) && !t.when.match(oldCols, cols)
	}
	if !changed(t.idx) {
		return false
	}
	if t.lookup != nil {
		return t.lookup.has(newCols[t.idx]) && !t.lookup.has(oldCols[t.idx])
	}
	k := cols[t.idx].kind
	return t.to.has(newCols[t.idx], k) && t.old.has(oldCols[t.idx], k)
}

func sameCol(a, b rawCol) bool {
	return a.kind == b.kind && string(a.data) == string(b.data)
}

// fillUnchangedToast replaces unchanged-TOAST markers ('u') in the new tuple with the old
// tuple's value; REPLICA IDENTITY FULL makes the old tuple carry it. A marker with no old
// value to take is counted and left as is (the field is then left out of the row).
func fillUnchangedToast(newCols, oldCols []rawCol) (lost int) {
	for i := range newCols {
		if newCols[i].kind != 'u' {
			continue
		}
		if i < len(oldCols) && oldCols[i].kind != 'u' {
			newCols[i] = oldCols[i]
		} else {
			lost++
		}
	}
	return lost
}

// emit builds and hands out one event for entity plan p.
func (d *decoder) emit(p *entityPlan, name event.EventName, action event.Action, oldCols, newCols []rawCol, changed []string) (*event.Event, error) {
	keyCols := newCols
	if keyCols == nil {
		keyCols = oldCols
	}
	ev := &event.Event{
		Name:       name,
		Entity:     event.EntityName(p.ent.Name),
		Action:     action,
		Custom:     p.ent.Custom,
		Table:      p.table,
		EntityID:   p.entityID(keyCols),
		CommitLSN:  event.LSN(d.txn.commitLSN),
		CommitTime: d.txn.commitTime,
		XID:        d.txn.xid,
		Seq:        d.txn.seq,
		Changed:    changed,
		SkipKeys:   d.txn.skipKeys[:len(d.txn.skipKeys):len(d.txn.skipKeys)],
	}
	if newCols != nil {
		ev.New = p.row(newCols)
	}
	if oldCols != nil {
		ev.Old = p.row(oldCols)
	}
	return ev, d.hand(ev)
}

// entityID is the key's text: the key column's, or the key columns' joined with
// mapping.KeySeparator for a composite key.
func (p *entityPlan) entityID(cols []rawCol) string {
	if p.keys == nil {
		return string(cols[p.key].data)
	}
	n := 0
	for _, i := range p.keys {
		n += len(cols[i].data) + 1
	}
	b := make([]byte, 0, n)
	for j, i := range p.keys {
		if j > 0 {
			b = append(b, mapping.KeySeparator...)
		}
		b = append(b, cols[i].data...)
	}
	return string(b)
}

// emitLike hands out another event of the same change (OwnerChanged, a transition).
func (d *decoder) emitLike(base *event.Event, name event.EventName, action event.Action) error {
	ev := *base
	ev.Name, ev.Action, ev.ID = name, action, ""
	return d.hand(&ev)
}

func (d *decoder) hand(ev *event.Event) error {
	ev.ID = event.MakeID(ev.CommitLSN, ev.Seq, -1, ev.Name)
	d.txn.events++
	d.countEvent(ev.Entity)
	if err := d.h.event(ev); err != nil {
		return fmt.Errorf("%w: %w", errHandler, err)
	}
	return nil
}

// row copies a tuple's mapped columns into a Row: one allocation for the fields and one for
// all their bytes.
func (p *entityPlan) row(cols []rawCol) event.Row {
	size := 0
	for i, c := range cols {
		if p.names[i] != "" && c.kind == 't' {
			size += len(c.data)
		}
	}
	arena := make([]byte, 0, size)
	row := make(event.Row, 0, p.nfields)
	for i, c := range cols {
		name := p.names[i]
		if name == "" || c.kind == 'u' {
			continue
		}
		v := event.Value{Kind: p.cols[i].kind, OID: p.cols[i].oid}
		if c.kind == 't' {
			start := len(arena)
			arena = append(arena, c.data...)
			v.Raw = arena[start:len(arena):len(arena)]
		}
		row = append(row, event.Field{Name: name, Value: v})
	}
	return row
}

// deriveLink raises <Parent>.<Action> when a link table's row becomes a link: an INSERT of
// a valid link row, or an UPDATE that makes a row a link — re-pointed at another parent, its
// condition now true, or a soft-deleted link row revived.
func (d *decoder) deriveLink(rel *relation, typ byte, oldCols, newCols []rawCol) error {
	lp := rel.link
	if typ == 'U' {
		if lost := fillUnchangedToast(newCols, oldCols); lost > 0 {
			d.met.toastLost.Add(float64(lost))
		}
		if len(oldCols) != len(newCols) {
			return d.unmatched() // no old tuple: cannot tell whether it was a link already
		}
		_, oidx, wasLink := lp.locate(d, oldCols, rel.cols)
		_, nidx, isLink := lp.locate(d, newCols, rel.cols)
		if wasLink && isLink && oidx == nidx && sameCol(oldCols[oidx], newCols[nidx]) &&
			(lp.typeIdx < 0 || sameCol(oldCols[lp.typeIdx], newCols[lp.typeIdx])) {
			return d.unmatched() // it was this link already
		}
	}
	parent, pidx, ok, err := lp.target(d, newCols, rel.cols)
	if err != nil {
		return err
	}
	if !ok {
		return d.unmatched()
	}
	cols := newCols
	name := event.EventName(parent.EventName(lp.link.Action))
	linkRow := lp.rowPlan.row(cols)
	related := &event.Related{Entity: event.EntityName(lp.link.Related.Entity)}
	if lp.relatedIdx >= 0 {
		related.ID = string(cols[lp.relatedIdx].data)
	} else {
		related.Row = linkRow
		if lp.rowPlan.key >= 0 {
			related.ID = string(cols[lp.rowPlan.key].data)
		}
	}
	ev := &event.Event{
		Name:       name,
		Entity:     event.EntityName(parent.Name),
		Action:     lp.link.Action,
		Custom:     parent.Custom,
		Table:      lp.rowPlan.table,
		EntityID:   string(cols[pidx].data),
		CommitLSN:  event.LSN(d.txn.commitLSN),
		CommitTime: d.txn.commitTime,
		XID:        d.txn.xid,
		Seq:        d.txn.seq,
		Related:    related,
		Link:       linkRow,
		SkipKeys:   d.txn.skipKeys[:len(d.txn.skipKeys):len(d.txn.skipKeys)],
	}
	return d.hand(ev)
}

// locate returns the parent entity of a link row (nil when its type names a shared table,
// resolved by target) and the column holding the parent's key, and false when the row is
// no link: no parent key, an unmapped parent type, its condition false, or soft-deleted.
func (lp *linkPlan) locate(d *decoder, cols []rawCol, kinds []column) (*mapping.Entity, int, bool) {
	idx, parentName := lp.parentIdx, lp.link.Parent.Entity
	if lp.oneOf != nil {
		idx = -1
		for _, o := range lp.oneOf {
			if o.idx < len(cols) && cols[o.idx].kind == 't' {
				idx, parentName = o.idx, o.entity
				break
			}
		}
	}
	if idx < 0 || idx >= len(cols) || cols[idx].kind != 't' {
		return nil, -1, false
	}
	if lp.when != nil && !lp.when.match(cols, kinds) {
		return nil, -1, false
	}
	if lp.soft != nil && lp.soft.match(cols, kinds) {
		return nil, -1, false
	}
	if lp.typeIdx >= 0 {
		if cols[lp.typeIdx].kind != 't' {
			return nil, -1, false
		}
		typ := string(cols[lp.typeIdx].data)
		if _, shared := lp.link.Parent.TypeTables[typ]; shared {
			return nil, idx, true
		}
		parentName = lp.link.Parent.Types[typ]
	}
	parent := d.m.Entity(parentName)
	if parent == nil || !parent.Events {
		return nil, -1, false
	}
	return parent, idx, true
}

// target is locate with shared-table parents resolved by reading the parent row; a
// missing parent is counted and is no link.
func (lp *linkPlan) target(d *decoder, cols []rawCol, kinds []column) (*mapping.Entity, int, bool, error) {
	parent, idx, ok := lp.locate(d, cols, kinds)
	if !ok || parent != nil {
		return parent, idx, ok, nil
	}
	t := lp.link.Parent.TypeTables[string(cols[lp.typeIdx].data)]
	name, found := "", false
	if d.parents != nil {
		var err error
		name, found, err = d.parents.entityOf(t, string(cols[idx].data))
		if err != nil {
			return nil, -1, false, err
		}
	}
	if e := d.m.Entity(name); found && e != nil {
		return e, idx, true, nil
	}
	d.met.parentsMissing.Inc()
	return nil, -1, false, nil
}
