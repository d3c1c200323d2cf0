package cdc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
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
	return AppendJSONString(dst, v.Raw)
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
		return AppendJSONString(dst, raw)
	}
	dst = append(dst, '"')
	if zoned {
		dst = t.AppendFormat(dst, time.RFC3339Nano)
	} else {
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.999999999")
	}
	return append(dst, '"')
}

func appendArray(dst []byte, v Value) ([]byte, bool) {
	m := pgtype.NewMap()
	val, err := v.Decode(m)
	if err != nil {
		return dst, false
	}
	b, err := json.Marshal(val)
	if err != nil {
		return dst, false
	}
	return append(dst, b...), true
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, escaping what JSON requires and replacing
// invalid UTF-8 with U+FFFD.
func AppendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\ufffd"...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
