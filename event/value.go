package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/walhook/walhook/internal/jsonx"
)

// Kind is how walhook treats a column's PostgreSQL type when comparing and encoding it.
type Kind uint8

// The kinds. Types walhook does not know (enums, domains, geometric types…) are KindText:
// their text form is what an integrator expects.
const (
	KindText Kind = iota
	KindInt
	KindFloat
	KindNumeric
	KindBool
	KindUUID
	KindTimestamptz
	KindTimestamp
	KindDate
	KindJSON
	KindArray
)

var kindNames = [...]string{"text", "int", "float", "numeric", "bool", "uuid", "timestamptz", "timestamp", "date", "json", "array"}

// String returns the kind's lowercase name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// KindOf returns the kind of the PostgreSQL type with the given OID.
func KindOf(oid uint32) Kind {
	switch oid {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		return KindInt
	case pgtype.Float4OID, pgtype.Float8OID:
		return KindFloat
	case pgtype.NumericOID:
		return KindNumeric
	case pgtype.BoolOID:
		return KindBool
	case pgtype.UUIDOID:
		return KindUUID
	case pgtype.TimestamptzOID:
		return KindTimestamptz
	case pgtype.TimestampOID:
		return KindTimestamp
	case pgtype.DateOID:
		return KindDate
	case pgtype.JSONOID, pgtype.JSONBOID:
		return KindJSON
	case pgtype.Int2ArrayOID, pgtype.Int4ArrayOID, pgtype.Int8ArrayOID, pgtype.TextArrayOID,
		pgtype.VarcharArrayOID, pgtype.BPCharArrayOID, pgtype.NumericArrayOID, pgtype.Float4ArrayOID,
		pgtype.Float8ArrayOID, pgtype.BoolArrayOID, pgtype.UUIDArrayOID, pgtype.DateArrayOID,
		pgtype.TimestamptzArrayOID, pgtype.TimestampArrayOID, pgtype.JSONBArrayOID, pgtype.JSONArrayOID:
		return KindArray
	}
	return KindText
}

// Value is one column value as PostgreSQL's text output function wrote it. Raw is nil for
// SQL NULL. The replication session runs with DateStyle=ISO and TimeZone=UTC, so
// timestamps are ISO 8601 in UTC.
type Value struct {
	Kind Kind
	OID  uint32
	Raw  []byte
}

// IsNull reports whether the value is SQL NULL.
func (v Value) IsNull() bool { return v.Raw == nil }

// Text returns the value's canonical text: bools as "true"/"false", everything else as
// PostgreSQL wrote it; "" for NULL. Mapping conditions compare this text.
func (v Value) Text() string {
	if v.Kind == KindBool && len(v.Raw) == 1 {
		if v.Raw[0] == 't' {
			return "true"
		}
		return "false"
	}
	return string(v.Raw)
}

// Equal reports whether two values are the same (same text, both NULL, or both not).
func (v Value) Equal(w Value) bool {
	return (v.Raw == nil) == (w.Raw == nil) && bytes.Equal(v.Raw, w.Raw)
}

// Decode returns the value as a Go value decoded by pgtype (int64, float64,
// pgtype.Numeric, bool, [16]byte, time.Time, string, []any, map[string]any…), nil for NULL.
func (v Value) Decode(m *pgtype.Map) (any, error) {
	if v.Raw == nil {
		return nil, nil
	}
	t, ok := m.TypeForOID(v.OID)
	if !ok {
		return string(v.Raw), nil
	}
	out, err := t.Codec.DecodeValue(m, v.OID, pgtype.TextFormatCode, v.Raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s value: %w", t.Name, err)
	}
	return out, nil
}

// AppendJSON appends the value as JSON, the way a CRM integrator expects it: integers and
// numerics as JSON numbers exactly as stored (no float rounding), timestamps as RFC 3339,
// dates as "YYYY-MM-DD", json/jsonb embedded as is, arrays as JSON arrays, and anything
// else as a string. It does not use reflection except for arrays.
func (v Value) AppendJSON(dst []byte) []byte {
	if v.Raw == nil {
		return append(dst, "null"...)
	}
	switch v.Kind {
	case KindInt:
		return append(dst, v.Raw...)
	case KindFloat, KindNumeric:
		if isJSONNumber(v.Raw) {
			return append(dst, v.Raw...)
		}
	case KindBool:
		if len(v.Raw) == 1 && v.Raw[0] == 't' {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindTimestamptz:
		return appendTimestamp(dst, v.Raw, true)
	case KindTimestamp:
		return appendTimestamp(dst, v.Raw, false)
	case KindJSON:
		if json.Valid(v.Raw) {
			return append(dst, v.Raw...)
		}
	case KindArray:
		if out, ok := appendArray(dst, v); ok {
			return out
		}
	}
	return jsonx.AppendString(dst, v.Raw)
}

// isJSONNumber reports whether b is a JSON number (NaN and Infinity are not).
func isJSONNumber(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	if b[0] == '-' {
		i++
	}
	digits, dot, exp := 0, false, false
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && !exp && digits > 0:
			dot = true
		case (c == 'e' || c == 'E') && !exp && digits > 0:
			exp = true
			if i+1 < len(b) && (b[i+1] == '+' || b[i+1] == '-') {
				i++
			}
		default:
			return false
		}
	}
	return digits > 0 && b[len(b)-1] >= '0' && b[len(b)-1] <= '9'
}

// appendTimestamp turns "2026-11-23 19:50:24.123456+00" into "2026-11-23T19:50:24.123456Z"
// (or "+05:30" for another offset); values it cannot read (infinity, BC) stay strings.
func appendTimestamp(dst, raw []byte, zoned bool) []byte {
	layout := "2006-01-02 15:04:05.999999"
	if zoned {
		layout += "Z07"
		if n := len(raw); n > 6 && raw[n-3] == ':' {
			layout += ":00" // offsets with minutes: "+05:30"
		}
	}
	t, err := time.Parse(layout, string(raw))
	if err != nil {
		return jsonx.AppendString(dst, raw)
	}
	dst = append(dst, '"')
	if zoned {
		dst = t.AppendFormat(dst, time.RFC3339Nano)
	} else {
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.999999999")
	}
	return append(dst, '"')
}

// arrayElem gives the element kind of the array types appendFlatArray encodes.
func arrayElem(oid uint32) (Kind, bool) {
	switch oid {
	case pgtype.Int2ArrayOID, pgtype.Int4ArrayOID, pgtype.Int8ArrayOID:
		return KindInt, true
	case pgtype.Float4ArrayOID, pgtype.Float8ArrayOID:
		return KindFloat, true
	case pgtype.NumericArrayOID:
		return KindNumeric, true
	case pgtype.BoolArrayOID:
		return KindBool, true
	case pgtype.TextArrayOID, pgtype.VarcharArrayOID, pgtype.BPCharArrayOID, pgtype.UUIDArrayOID, pgtype.DateArrayOID:
		return KindText, true
	case pgtype.TimestamptzArrayOID:
		return KindTimestamptz, true
	case pgtype.TimestampArrayOID:
		return KindTimestamp, true
	case pgtype.JSONArrayOID, pgtype.JSONBArrayOID:
		return KindJSON, true
	}
	return 0, false
}

// appendArray encodes a one-dimensional array of a scalar type as a JSON array whose
// elements are encoded exactly as scalars of that type (a uuid[] as strings, a date[] as
// dates), without reflection: text[] tags and recipients are on the render path of every
// such row. It reports false for other arrays (several dimensions, explicit bounds), which
// are then sent as their PostgreSQL text: a lossless string rather than a guess.
func appendArray(dst []byte, v Value) ([]byte, bool) {
	elem, ok := arrayElem(v.OID)
	if !ok {
		return dst, false
	}
	return appendFlatArray(dst, v.Raw, elem)
}

// appendFlatArray encodes PostgreSQL's text form of a one-dimensional array ({a,"b c",NULL})
// as a JSON array of elem values. It reports false, appending nothing, for any other form.
func appendFlatArray(dst, raw []byte, elem Kind) ([]byte, bool) {
	n := len(raw)
	if n < 2 || raw[0] != '{' || raw[n-1] != '}' {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '[')
	body, scratch := raw[1:n-1], []byte(nil)
	for i := 0; len(body) > 0; i++ {
		item, rest, quoted, ok := nextArrayItem(body, scratch[:0])
		if !ok {
			return dst[:start], false
		}
		if quoted {
			scratch = item // reuse the unescaping buffer; unquoted items point into raw
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		ev := Value{Kind: elem, Raw: item}
		switch {
		case !quoted && (string(item) == "NULL" || string(item) == "null"):
			ev.Raw = nil
		case item == nil:
			ev.Raw = []byte{} // "" is the empty string, not NULL
		}
		dst = ev.AppendJSON(dst)
		if len(rest) > 0 {
			if rest[0] != ',' || len(rest) == 1 {
				return dst[:start], false
			}
			rest = rest[1:]
		}
		body = rest
	}
	return append(dst, ']'), true
}

// nextArrayItem reads one element at the start of body: a quoted one, unescaped into
// scratch (quoted reports it), or an unquoted one, a slice of body. It reports false for
// forms it does not read.
func nextArrayItem(body, scratch []byte) (item, rest []byte, quoted, ok bool) {
	if body[0] == '"' {
		j := 1
		for ; j < len(body) && body[j] != '"'; j++ {
			if body[j] == '\\' && j+1 < len(body) {
				j++
			}
			scratch = append(scratch, body[j])
		}
		if j >= len(body) {
			return nil, nil, false, false
		}
		return scratch, body[j+1:], true, true
	}
	j := 0
	for ; j < len(body) && body[j] != ','; j++ {
		if c := body[j]; c == '{' || c == '}' || c == '"' || c == '\\' {
			return nil, nil, false, false
		}
	}
	if j == 0 {
		return nil, nil, false, false
	}
	return body[:j], body[j:], false, true
}

// TextRow builds a Row from column values in PostgreSQL's text format, as a query or a
// backfill message carries them: names[i] is column i's API name ("" leaves it out),
// oids[i] its type, raw[i] its text (nil for NULL). It makes one allocation for the fields
// and one for all their bytes, and keeps no reference to raw.
func TextRow(names []string, oids []uint32, raw [][]byte) Row {
	size, n := 0, 0
	for i, r := range raw {
		if names[i] != "" {
			size += len(r)
			n++
		}
	}
	arena := make([]byte, 0, size)
	row := make(Row, 0, n)
	for i, name := range names {
		if name == "" {
			continue
		}
		v := Value{Kind: KindOf(oids[i]), OID: oids[i]}
		if raw[i] != nil {
			start := len(arena)
			arena = append(arena, raw[i]...)
			v.Raw = arena[start:len(arena):len(arena)]
		}
		row = append(row, Field{Name: name, Value: v})
	}
	return row
}
