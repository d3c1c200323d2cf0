package event

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgtype"
)

// viaPgtype encodes an array the general way, for comparison with the fast path.
func viaPgtype(t *testing.T, v Value) any {
	t.Helper()
	got, err := v.Decode(pgtype.NewMap())
	if err != nil {
		t.Fatalf("pgtype decode %s: %v", v.Raw, err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, b)
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return out
}

// TestFlatArraysMatchPgtype: the direct encoding of one-dimensional arrays gives the same
// JSON values as decoding them with pgtype.
func TestFlatArraysMatchPgtype(t *testing.T) {
	numbers := cmp.Comparer(func(a, b json.Number) bool {
		x, _ := a.Float64()
		y, _ := b.Float64()
		return x == y
	})
	for _, tc := range []struct {
		oid uint32
		raw string
	}{
		{pgtype.TextArrayOID, `{}`},
		{pgtype.TextArrayOID, `{key,manufacturing}`},
		{pgtype.TextArrayOID, `{"a b","with \"quote\"","back\\slash","",NULL,"NULL",x}`},
		{pgtype.VarcharArrayOID, `{"comma, inside","{braces}"}`},
		{pgtype.Int8ArrayOID, `{1,-2,NULL,9007199254740993}`},
		{pgtype.NumericArrayOID, `{125000.10,0.5}`},
		{pgtype.BoolArrayOID, `{t,f,NULL}`},
		{pgtype.TimestamptzArrayOID, `{"2026-11-23 12:00:00.123456+00","2026-11-23 13:00:00+00"}`},
	} {
		v := Value{Kind: KindArray, OID: tc.oid, Raw: []byte(tc.raw)}
		elem, _ := arrayElem(tc.oid)
		fast, ok := appendFlatArray(nil, v.Raw, elem)
		if !ok {
			t.Errorf("%s: fast path refused", tc.raw)
			continue
		}
		if diff := cmp.Diff(viaPgtype(t, v), decodeJSON(t, fast), numbers); diff != "" {
			t.Errorf("%s: fast path differs from pgtype (-pgtype +fast):\n%s", tc.raw, diff)
		}
	}
}

// TestArraysEncodeLikeScalars: uuid and date elements are encoded as their scalars are
// (pgtype would give a uuid as 16 byte numbers and a date as a midnight timestamp).
func TestArraysEncodeLikeScalars(t *testing.T) {
	for _, tc := range []struct {
		oid       uint32
		raw, want string
	}{
		{pgtype.UUIDArrayOID, `{9900cce6-bcd6-412a-bcd1-1904556c949a,NULL}`, `["9900cce6-bcd6-412a-bcd1-1904556c949a",null]`},
		{pgtype.DateArrayOID, `{2026-01-31,2026-02-01}`, `["2026-01-31","2026-02-01"]`},
		{pgtype.JSONBArrayOID, `{"{\"a\": 1}",NULL}`, `[{"a": 1},null]`},
		{pgtype.TextArrayOID, `{"",NULL,"NULL"}`, `["",null,"NULL"]`},
	} {
		if got := string(Value{Kind: KindArray, OID: tc.oid, Raw: []byte(tc.raw)}.AppendJSON(nil)); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.raw, got, tc.want)
		}
	}
}

// TestUnquotedItemsDoNotCorruptTheRow: encoding must not write into the value's own bytes
// (unquoted items are slices of it; quoted ones are unescaped into a separate buffer).
func TestUnquotedItemsDoNotCorruptTheRow(t *testing.T) {
	raw := []byte(`{abc,"x\"y",def,"z"}`)
	orig := string(raw)
	if got := string(Value{Kind: KindArray, OID: pgtype.TextArrayOID, Raw: raw}.AppendJSON(nil)); got != `["abc","x\"y","def","z"]` {
		t.Errorf("encoded %s", got)
	}
	if string(raw) != orig {
		t.Errorf("value bytes changed: %s, was %s", raw, orig)
	}
}

// TestOtherArraysFallBack: forms the fast path does not read are sent as their text.
func TestOtherArraysFallBack(t *testing.T) {
	for _, raw := range []string{`{{1,2},{3,4}}`, `[0:1]={1,2}`, `{1,,2}`, `{"unterminated}`, `{a\,b}`} {
		if _, ok := appendFlatArray(nil, []byte(raw), KindInt); ok {
			t.Errorf("%s: fast path accepted it", raw)
		}
	}
	v := Value{Kind: KindArray, OID: pgtype.Int4ArrayOID, Raw: []byte(`{{1,2},{3,4}}`)}
	if got := string(v.AppendJSON(nil)); got != `"{{1,2},{3,4}}"` {
		t.Errorf("2-D array = %s", got)
	}
}

// FuzzAppendJSON: any value text gives valid JSON, never a panic.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{`{a,"b c",NULL}`, `{1,2}`, `{"x\"y"}`, `{}`, `{,}`, `2026-01-01 00:00:00+00`, `12.5`} {
		f.Add(uint32(pgtype.TextArrayOID), []byte(s))
	}
	f.Fuzz(func(t *testing.T, oid uint32, raw []byte) {
		out := Value{Kind: KindOf(oid), OID: oid, Raw: raw}.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %q for %q (oid %d)", out, raw, oid)
		}
	})
}

// TestCanonicalTimestampsMatchTimeParse: the fast path writes what time.Parse and
// AppendFormat write, and refuses what they refuse.
func TestCanonicalTimestampsMatchTimeParse(t *testing.T) {
	for _, raw := range []string{
		"2026-11-23 19:50:24.123456+00", "2026-11-23 19:50:24+00", "2026-11-23 19:50:24.1+00",
		"2026-11-23 19:50:24.100000+00", "2026-11-23 19:50:24.000000+00", "2024-02-29 00:00:00+00",
		"2023-02-29 00:00:00+00", "2026-04-31 00:00:00+00", "2026-13-01 00:00:00+00", "2026-00-10 00:00:00+00",
		"2026-11-23 24:00:00+00", "2026-11-23 23:60:00+00", "2026-11-23 23:59:60+00", "0000-01-01 00:00:00+00",
		"2000-02-29 12:00:00.5+00", "1900-02-29 12:00:00+00", "2026-11-23 19:50:24.123456789+00",
		"2026-11-23 19:50:24.1234567891+00", "2026-11-23 19:50:24.+00", "2026-11-23 19:50:24.12a+00",
		"2026-11-23 19:50:24+05:30", "2026-11-23 19:50:24-00", "2026-11-23 19:50:24.5", "infinity",
		"12026-11-23 19:50:24+00", "2026-11-23 19:50:24+00 BC", "2026-1-23 19:50:24+00", "2026-11-23T19:50:24+00",
	} {
		for _, zoned := range []bool{true, false} {
			in := raw
			if !zoned {
				in = strings.TrimSuffix(raw, "+00")
			}
			want := string(appendTimestampSlow(nil, []byte(in), zoned))
			if got := string(appendTimestamp(nil, []byte(in), zoned)); got != want {
				t.Errorf("%q (zoned %v) = %s, want %s", in, zoned, got, want)
			}
		}
	}
}

// FuzzCanonicalTimestamp: the fast path agrees with time.Parse on any text.
func FuzzCanonicalTimestamp(f *testing.F) {
	f.Add([]byte("2026-11-23 19:50:24.123456+00"), true)
	f.Add([]byte("2024-02-29 23:59:59"), false)
	f.Fuzz(func(t *testing.T, raw []byte, zoned bool) {
		if got, want := appendTimestamp(nil, raw, zoned), appendTimestampSlow(nil, raw, zoned); string(got) != string(want) {
			t.Fatalf("%q (zoned %v) = %s, want %s", raw, zoned, got, want)
		}
	})
}

// BenchmarkTimestamp: a timestamptz value as the replication session writes it.
func BenchmarkTimestamp(b *testing.B) {
	v := Value{Kind: KindTimestamptz, OID: pgtype.TimestamptzOID, Raw: []byte("2026-11-23 19:50:24.123456+00")}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.AppendJSON(buf[:0])
	}
}
