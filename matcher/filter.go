package matcher

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/jsonx"
)

// op is a filter operator (options.entity.<E>.filter-op).
type op uint8

const (
	opEq op = iota
	opNe
	opGt
	opGte
	opLt
	opLte
	opContains
	opStarts
	opEnds
	opIn
	opIsNull
	opNotNull
	opIeq
	opNotIeq
	opEmpty
	opNotEmpty
	opBetween
)

// opNames lists the operators as the error message names them: Pipeliner's REST
// vocabulary as written (DESIGN.md §4), then walhook's own names, which stay valid.
var opNames = []string{
	"eq", "ieq", "not-eq", "not-ieq", "contains", "icontains", "starts", "istarts", "ends", "iends",
	"null", "not-null", "empty", "not-empty", "gt", "gte", "lt", "lte", "between",
	"ne", "in", "is_null", "not_null",
}

// opByName maps every accepted name to its operator. contains, starts and ends were
// case-insensitive before Pipeliner's i-prefixed names were accepted; they stay so, so
// that a stored webhook keeps matching what it matched (README, Filter operators).
var opByName = map[string]op{
	"eq": opEq, "ieq": opIeq, "not-eq": opNe, "not-ieq": opNotIeq,
	"contains": opContains, "icontains": opContains, "starts": opStarts, "istarts": opStarts,
	"ends": opEnds, "iends": opEnds, "null": opIsNull, "not-null": opNotNull,
	"empty": opEmpty, "not-empty": opNotEmpty, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte,
	"between": opBetween,
	"ne":      opNe, "in": opIn, "is_null": opIsNull, "not_null": opNotNull,
}

func parseOp(s string) (op, bool) {
	o, ok := opByName[s]
	return o, ok
}

// valueless reports whether the operator ignores the filter's value.
func (o op) valueless() bool {
	return o == opIsNull || o == opNotNull || o == opEmpty || o == opNotEmpty
}

// filter is one compiled condition: field op values. A row passes when the condition holds
// for any of the values (for ne: for none of them).
type filter struct {
	field string
	// path reaches into a json/jsonb field: "name.en_US" is field name, path [en_US].
	path []string
	op   op
	vals []fval
	// opName and written are the operator and the value as the options spell them, for
	// explain.
	opName  string
	written json.RawMessage
}

// fval is a filter value parsed once, at compile time, into every form a column kind may
// need, so that matching only reads the event's bytes.
type fval struct {
	null   bool
	raw    []byte // strings as written, numbers as written, booleans "true"/"false"
	str    string // raw as a string, for the folding operators
	num    decimal
	numOK  bool
	ts     int64
	tsOK   bool
	date   int64
	dateOK bool
	b      bool
	bOK    bool
}

// compileFilter compiles the values of one filter field.
func compileFilter(field, name string, raw json.RawMessage, o op) (filter, error) {
	f := filter{field: name, op: o, written: compactJSON(raw)}
	if o.valueless() {
		return f, nil // the value is not used
	}
	var items []json.RawMessage
	if jsonx.Kind(raw) == "array" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return f, Invalidf(field, "malformed JSON: %v", err)
		}
		if len(items) == 0 {
			return f, Invalidf(field, "empty list: give at least one value")
		}
		if len(items) > maxListLen {
			return f, Invalidf(field, "more than %d values", maxListLen)
		}
	} else {
		items = []json.RawMessage{raw}
	}
	for i, it := range items {
		v, err := compileValue(it)
		if err != nil {
			if len(items) > 1 || jsonx.Kind(raw) == "array" {
				field = fmt.Sprintf("%s[%d]", field, i)
			}
			return f, Invalidf(field, "%v", err)
		}
		if v.null && o != opEq && o != opNe && o != opIn {
			return f, Invalidf(field, "null can only be compared with eq, not-eq or in (or use null, not-null)")
		}
		f.vals = append(f.vals, v)
	}
	if o == opBetween && (len(items) != 2 || jsonx.Kind(raw) != "array") {
		return f, Invalidf(field, "between takes a list of two values, [low, high]")
	}
	return f, nil
}

func compileValue(raw json.RawMessage) (fval, error) {
	var v fval
	switch k := jsonx.Kind(raw); k {
	case "null":
		v.null = true
		return v, nil
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return v, fmt.Errorf("malformed JSON: %v", err)
		}
		v.raw = []byte(s)
	case "number":
		v.raw = bytes.TrimSpace(raw)
	case "boolean":
		v.raw = bytes.TrimSpace(raw)
	default:
		return v, fmt.Errorf("a filter value must be a string, number, boolean, null or an array of them, got %s", k)
	}
	v.str = string(v.raw)
	v.num, v.numOK = parseDecimal(v.raw)
	v.ts, v.tsOK = parseTimestamp(v.raw)
	v.date, v.dateOK = parseDate(v.raw)
	switch strings.ToLower(v.str) {
	case "true", "t", "yes", "y", "on", "1":
		v.b, v.bOK = true, true
	case "false", "f", "no", "n", "off", "0":
		v.b, v.bOK = false, true
	}
	return v, nil
}

// match reports whether row passes the filter. A field the row lacks is NULL.
func (f *filter) match(row event.Row) bool {
	v, _ := row.Get(f.field)
	if f.path != nil {
		v = jsonPath(v, f.path)
	}
	switch f.op {
	case opIsNull:
		return v.IsNull()
	case opNotNull:
		return !v.IsNull()
	case opEmpty:
		return v.IsNull() || len(v.Raw) == 0
	case opNotEmpty:
		return !v.IsNull() && len(v.Raw) > 0
	case opBetween:
		lo, okLo := compare(v, &f.vals[0])
		hi, okHi := compare(v, &f.vals[1])
		return !v.IsNull() && okLo && okHi && lo >= 0 && hi <= 0
	case opNe:
		for i := range f.vals {
			if equalValue(v, &f.vals[i]) {
				return false
			}
		}
		return true
	case opNotIeq:
		for i := range f.vals {
			if equalFoldValue(v, &f.vals[i]) {
				return false
			}
		}
		return true
	}
	for i := range f.vals {
		if f.test(v, &f.vals[i]) {
			return true
		}
	}
	return false
}

// explain is match with a reason: "" when row passes, else why it does not, naming the
// filter's field, operator and value and the row's value, as
// `filter status eq "Won": value "Open"`. It decides by match itself, so the two never
// disagree.
func (f *filter) explain(row event.Row) string {
	if f.match(row) {
		return ""
	}
	name := strings.Join(append([]string{f.field}, f.path...), ".")
	v, ok := row.Get(f.field)
	if f.path != nil {
		v = jsonPath(v, f.path)
	}
	opName := f.opName
	if opName == "" {
		opName = "eq"
	}
	b := append([]byte("filter "), name...)
	b = append(b, ' ')
	b = append(b, opName...)
	if !f.op.valueless() {
		b = append(b, ' ')
		b = appendCut(b, f.written)
	}
	b = append(b, ": value "...)
	b = appendCut(b, v.AppendJSON(nil))
	if !ok {
		b = append(b, " (the row has no such field)"...)
	}
	return string(b)
}

// explainedBytes bounds each value an explanation quotes (a jsonb document may be large).
const explainedBytes = 200

// appendCut appends s, cut to explainedBytes on a UTF-8 boundary and marked with "…".
func appendCut(dst, s []byte) []byte {
	if len(s) <= explainedBytes {
		return append(dst, s...)
	}
	cut := explainedBytes
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return append(append(dst, s[:cut]...), "…"...)
}

// compactJSON returns raw without insignificant white space (raw itself when it cannot).
func compactJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

func (f *filter) test(v event.Value, fv *fval) bool {
	switch f.op {
	case opEq, opIn:
		return equalValue(v, fv)
	case opIeq:
		return equalFoldValue(v, fv)
	}
	if v.IsNull() || fv.null {
		return false
	}
	switch f.op {
	case opContains:
		return containsFold(textOf(v), fv.str)
	case opStarts:
		_, ok := prefixFold(textOf(v), fv.str)
		return ok
	case opEnds:
		return suffixFold(textOf(v), fv.str)
	}
	c, ok := compare(v, fv)
	if !ok {
		return false
	}
	switch f.op {
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	case opLte:
		return c <= 0
	}
	return false
}

func equalValue(v event.Value, fv *fval) bool {
	if v.IsNull() || fv.null {
		return v.IsNull() && fv.null
	}
	c, ok := compare(v, fv)
	return ok && c == 0
}

// equalFoldValue is ieq: equal ignoring case on the text, or equal by type.
func equalFoldValue(v event.Value, fv *fval) bool {
	if v.IsNull() || fv.null {
		return v.IsNull() && fv.null
	}
	if n, ok := prefixFold(textOf(v), fv.str); ok && n == len(textOf(v)) {
		return true
	}
	return equalValue(v, fv)
}

var (
	textTrue  = []byte("true")
	textFalse = []byte("false")
)

// textOf is the text the folding operators search: the value as PostgreSQL wrote it,
// booleans as "true"/"false".
func textOf(v event.Value) []byte {
	if v.Kind == event.KindBool {
		if len(v.Raw) == 1 && v.Raw[0] == 't' {
			return textTrue
		}
		return textFalse
	}
	return v.Raw
}

// compare orders the event value v against the filter value by v's kind; ok is false when
// they are not comparable (a number column against a non-numeric value, NaN, infinity).
func compare(v event.Value, fv *fval) (int, bool) {
	switch v.Kind {
	case event.KindInt, event.KindFloat, event.KindNumeric:
		d, ok := parseDecimal(v.Raw)
		if !ok || !fv.numOK {
			return 0, false
		}
		return cmpDecimal(&d, &fv.num), true
	case event.KindTimestamptz, event.KindTimestamp:
		t, ok := parseTimestamp(v.Raw)
		if !ok || !fv.tsOK {
			return 0, false
		}
		return cmp.Compare(t, fv.ts), true
	case event.KindDate:
		d, ok := parseDate(v.Raw)
		if !ok || !fv.dateOK {
			return 0, false
		}
		return cmp.Compare(d, fv.date), true
	case event.KindBool:
		if !fv.bOK || len(v.Raw) != 1 {
			return 0, false
		}
		return cmpBool(v.Raw[0] == 't', fv.b), true
	case event.KindUUID:
		return cmpFoldASCII(v.Raw, fv.str), true
	}
	return bytes.Compare(v.Raw, fv.raw), true
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}
