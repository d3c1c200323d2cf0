package matcher

import (
	"strconv"

	"github.com/walhook/walhook/event"
)

// A bucket holds the subscriptions of one index entry (an event name, an entity wildcard
// or "*"). When enough of them filter an entity's events by equality (eq or in, non-null
// values) they are also indexed by the filtered value, so an event only meets those whose
// value it carries: a thousand webhooks differing only by owner_id cost one map lookup.
// Every candidate is still checked in full by wants; the index only leaves out
// subscriptions whose equality filter cannot pass.

// minIndexed is the number of equality-filtered subscriptions from which a bucket builds
// an index for an entity; below it a plain scan is as fast.
const minIndexed = 4

type bucket struct {
	subs     []*subscription
	byEntity map[event.EntityName]*eqIndex
}

// eqIndex narrows a bucket for the events of one entity.
type eqIndex struct {
	rest   []*subscription // not indexed for this entity: always candidates
	fields []*fieldIndex
}

// fieldIndex maps the canonical keys of one field's filter values, per value class, to
// the subscriptions filtering on them.
type fieldIndex struct {
	field string
	keys  [numClasses]map[string][]*subscription
}

// Value classes: how a column kind compares, and so how its canonical key is written.
const (
	classText   = iota // exact bytes
	classUUID          // lower-case
	classNumber        // sign, significant digits, exponent
	classBool
	classTime // microseconds since the epoch
	classDate // days since the epoch
	numClasses
)

func classOf(k event.Kind) int {
	switch k {
	case event.KindUUID:
		return classUUID
	case event.KindInt, event.KindFloat, event.KindNumeric:
		return classNumber
	case event.KindBool:
		return classBool
	case event.KindTimestamptz, event.KindTimestamp:
		return classTime
	case event.KindDate:
		return classDate
	}
	return classText
}

func newBucket(subs []*subscription) *bucket {
	b := &bucket{subs: subs}
	counts := map[event.EntityName]int{}
	for _, s := range subs {
		for name := range s.ents {
			if s.eqFilter(name) != nil {
				counts[name]++
			}
		}
	}
	for name, n := range counts {
		if n < minIndexed {
			continue
		}
		ix := &eqIndex{}
		for _, s := range subs {
			if f := s.eqFilter(name); f != nil {
				ix.add(s, f)
			} else {
				ix.rest = append(ix.rest, s)
			}
		}
		if b.byEntity == nil {
			b.byEntity = map[event.EntityName]*eqIndex{}
		}
		b.byEntity[name] = ix
	}
	return b
}

// eqFilter returns the subscription's first filter on the entity that an index can serve.
func (s *subscription) eqFilter(entity event.EntityName) *filter {
	es := s.ents[entity]
	if es == nil {
		return nil
	}
	for i := range es.filters {
		f := &es.filters[i]
		if (f.op == opEq || f.op == opIn) && !hasNull(f.vals) && f.path == nil {
			return f
		}
	}
	return nil
}

func hasNull(vals []fval) bool {
	for i := range vals {
		if vals[i].null {
			return true
		}
	}
	return false
}

func (ix *eqIndex) add(s *subscription, f *filter) {
	var fi *fieldIndex
	for _, x := range ix.fields {
		if x.field == f.field {
			fi = x
		}
	}
	if fi == nil {
		fi = &fieldIndex{field: f.field}
		for c := range fi.keys {
			fi.keys[c] = map[string][]*subscription{}
		}
		ix.fields = append(ix.fields, fi)
	}
	for i := range f.vals {
		for c := range numClasses {
			key, ok := filterKey(&f.vals[i], c)
			if !ok {
				continue
			}
			list := fi.keys[c][key]
			if len(list) == 0 || list[len(list)-1] != s { // two values may share a key
				fi.keys[c][key] = append(list, s)
			}
		}
	}
}

// filterKey is the canonical key of a filter value in class c; ok is false when the value
// can never equal a value of that class.
func filterKey(fv *fval, c int) (string, bool) {
	switch c {
	case classText:
		return fv.str, true
	case classUUID:
		return string(appendLowerASCII(nil, fv.raw)), true
	case classNumber:
		return string(appendDecimalKey(nil, &fv.num)), fv.numOK
	case classBool:
		if fv.b {
			return "t", fv.bOK
		}
		return "f", fv.bOK
	case classTime:
		return strconv.FormatInt(fv.ts, 10), fv.tsOK
	case classDate:
		return strconv.FormatInt(fv.date, 10), fv.dateOK
	}
	return "", false
}

// valueKey writes the canonical key of a non-null event value into buf; ok is false when
// the value equals nothing (an unparseable number or time).
func valueKey(v event.Value, c int, buf []byte) ([]byte, bool) {
	switch c {
	case classText:
		return v.Raw, true
	case classUUID:
		return appendLowerASCII(buf, v.Raw), true
	case classNumber:
		d, ok := parseDecimal(v.Raw)
		return appendDecimalKey(buf, &d), ok
	case classBool:
		return v.Raw, len(v.Raw) == 1
	case classTime:
		t, ok := parseTimestamp(v.Raw)
		return strconv.AppendInt(buf, t, 10), ok
	case classDate:
		d, ok := parseDate(v.Raw)
		return strconv.AppendInt(buf, d, 10), ok
	}
	return nil, false
}

func appendLowerASCII(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, lowerASCII(c))
	}
	return dst
}

// appendDecimalKey writes a decimal so that equal numbers get equal keys.
func appendDecimalKey(dst []byte, d *decimal) []byte {
	if d.zero {
		return append(dst, '0')
	}
	if d.neg {
		dst = append(dst, '-')
	}
	for k := d.lo; k < d.hi; k++ {
		dst = append(dst, d.digit(k))
	}
	dst = append(dst, 'e')
	return strconv.AppendInt(dst, int64(d.exp), 10)
}

// match appends the bucket's subscriptions that want ev.
func (b *bucket) match(ev *event.Event, dst []Match) []Match {
	if b == nil {
		return dst
	}
	ix := b.byEntity[ev.Entity]
	row := filterRow(ev)
	if ix == nil || row == nil {
		return matchEach(b.subs, ev, dst)
	}
	dst = matchEach(ix.rest, ev, dst)
	var buf [64]byte
	for _, fi := range ix.fields {
		v, _ := row.Get(fi.field)
		if v.IsNull() {
			continue
		}
		c := classOf(v.Kind)
		key, ok := valueKey(v, c, buf[:0])
		if ok {
			dst = matchEach(fi.keys[c][string(key)], ev, dst)
		}
	}
	return dst
}
