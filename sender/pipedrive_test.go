package sender

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/walhook/walhook/matcher"
)

// pdItems are rendered items (§5) of one deal's life: created, one field changed, deleted.
var pdItems = map[string]string{
	"create": `{"id":"0000000001000000-1-Opportunity.Create","event":"Opportunity.Create","entity":"Opportunity","entity_id":"42",` +
		`"committed_at":"2026-11-30T12:00:00.123456Z","lsn":"0/1000000","xid":7,` +
		`"data":{"id":42,"name":"Big deal","value":"100.00","owner_id":3},"previous":null,"changed_fields":null,"related_entity":null,"truncated":null}`,
	"change": `{"id":"0000000002000000-1-Opportunity.Update","event":"Opportunity.Update","entity":"Opportunity","entity_id":"42",` +
		`"committed_at":"2026-11-30T12:00:01.000001Z","lsn":"0/2000000","xid":8,` +
		`"data":{"id":42,"name":"Big deal","value":"250.00","owner_id":3},"previous":{"value":"100.00"},"changed_fields":["value"],"related_entity":null,"truncated":null}`,
	"delete": `{"id":"0000000003000000-1-Opportunity.Delete","event":"Opportunity.Delete","entity":"Opportunity","entity_id":"42",` +
		`"committed_at":"2026-11-30T12:00:02Z","lsn":"0/3000000","xid":9,` +
		`"data":{"id":42,"name":"Big deal","value":"250.00","owner_id":3},"previous":null,"changed_fields":null,"related_entity":null,"truncated":null}`,
	"note": `{"id":"0000000004000000-2-Task.Comment","event":"Task.Comment","entity":"Task","entity_id":"5",` +
		`"committed_at":"2026-11-30T12:00:03Z","lsn":"0/4000000","xid":10,` +
		`"data":{"id":5,"subject":"Call"},"previous":null,"changed_fields":null,` +
		`"related_entity":{"entity":"TaskComment","id":"9","data":{"id":9,"task_id":5,"body":"Done"}},"truncated":null}`,
}

var pdHook = &matcher.Webhook{ID: "0191d7e4-0000-7000-8000-000000000001", Pipedrive: &matcher.Pipedrive{
	ID: 12, UserID: 3, EventObject: "*", Objects: map[string]string{"Opportunity": "deal", "Task": "activity"}}}

func pdBody(t testing.TB, format string, item string) map[string]any {
	t.Helper()
	f := defaultFormats()
	wh := *pdHook
	wh.Format = format
	items := []json.RawMessage{json.RawMessage(item)}
	spans, cut := f.of(&wh).requests(wh.ID, items, 1<<20)
	if len(spans) != 1 || cut {
		t.Fatalf("requests: %v cut=%v, want one span", spans, cut)
	}
	body := f.of(&wh).appendBody(nil, wh.ID, uuid.MustParse("6f0c2a52-3c1e-5b8e-9d0e-000000000001"), items)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, body)
	}
	return out
}

// TestPipedriveV2 pins the v2 body of each action (DESIGN.md §12): previous null on create,
// only the changed fields' old values on change, data null and previous the last state on
// delete; a comment is a note added.
func TestPipedriveV2(t *testing.T) {
	row := map[string]any{"id": 42.0, "name": "Big deal", "value": "250.00", "owner_id": 3.0}
	meta := func(action, entity, id, ts, corr string) map[string]any {
		return map[string]any{"action": action, "entity": entity, "entity_id": id, "id": "6f0c2a52-3c1e-5b8e-9d0e-000000000001",
			"timestamp": ts, "type": "general", "version": "2.0", "webhook_id": "12", "webhook_owner_id": "3",
			"company_id": "0", "user_id": "0", "correlation_id": corr, "is_bulk_edit": false, "attempt": 1.0,
			"host": "walhook", "change_source": "database", "permitted_user_ids": []any{"3"}}
	}
	for name, want := range map[string]map[string]any{
		"create": {"meta": meta("create", "deal", "42", "2026-11-30T12:00:00.123456Z", "0000000001000000-1-Opportunity.Create"),
			"data": map[string]any{"id": 42.0, "name": "Big deal", "value": "100.00", "owner_id": 3.0}, "previous": nil},
		"change": {"meta": meta("change", "deal", "42", "2026-11-30T12:00:01.000001Z", "0000000002000000-1-Opportunity.Update"),
			"data": row, "previous": map[string]any{"value": "100.00"}},
		"delete": {"meta": meta("delete", "deal", "42", "2026-11-30T12:00:02Z", "0000000003000000-1-Opportunity.Delete"),
			"data": nil, "previous": row},
		"note": {"meta": meta("create", "note", "9", "2026-11-30T12:00:03Z", "0000000004000000-2-Task.Comment"),
			"data": map[string]any{"id": 9.0, "task_id": 5.0, "body": "Done"}, "previous": nil},
	} {
		if diff := cmp.Diff(want, pdBody(t, matcher.FormatPipedriveV2, pdItems[name])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestPipedriveV1 pins the v1 body: current and previous whole rows, event
// "<action>.<object>", numeric ids.
func TestPipedriveV1(t *testing.T) {
	before := map[string]any{"id": 42.0, "name": "Big deal", "value": "100.00", "owner_id": 3.0}
	after := map[string]any{"id": 42.0, "name": "Big deal", "value": "250.00", "owner_id": 3.0}
	meta := func(action, object string, id any, sec int64, micro int64) map[string]any {
		return map[string]any{"action": action, "object": object, "id": id, "company_id": 0.0, "user_id": 0.0,
			"host": "walhook", "timestamp": float64(sec), "timestamp_micro": float64(micro), "permitted_user_ids": []any{3.0},
			"trans_pending": false, "is_bulk_update": false, "pipedrive_service_name": false, "change_source": "database",
			"webhook_id": "12", "v": 1.0}
	}
	const t0 = 1796040000 // 2026-11-30T12:00:00Z
	envelope := func(m map[string]any, event string, current, previous any) map[string]any {
		return map[string]any{"v": 1.0, "matches_filters": map[string]any{"current": []any{}}, "meta": m, "retry": 0.0,
			"current": current, "previous": previous, "event": event}
	}
	for name, want := range map[string]map[string]any{
		"create": envelope(meta("added", "deal", 42.0, t0, t0*1e6+123456), "added.deal", before, nil),
		"change": envelope(meta("updated", "deal", 42.0, t0+1, (t0+1)*1e6+1), "updated.deal", after, before),
		"delete": envelope(meta("deleted", "deal", 42.0, t0+2, (t0+2)*1e6), "deleted.deal", nil, after),
	} {
		if diff := cmp.Diff(want, pdBody(t, matcher.FormatPipedriveV1, pdItems[name])); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
}

// TestPipedriveRequests: a chunk of several events is one request per event.
func TestPipedriveRequests(t *testing.T) {
	items := []json.RawMessage{json.RawMessage(pdItems["create"]), json.RawMessage(pdItems["change"]), json.RawMessage(pdItems["delete"])}
	wh := *pdHook
	wh.Format = matcher.FormatPipedriveV2
	spans, cut := defaultFormats().of(&wh).requests(wh.ID, items, 10)
	if want := []span{{0, 1}, {1, 2}, {2, 3}}; !cmp.Equal(spans, want, cmp.AllowUnexported(span{})) || cut {
		t.Errorf("spans %v cut=%v, want %v and no cut", spans, cut, want)
	}
}

// TestOverlay: the v1 previous row is the row after the change with the old values of the
// changed fields, whatever they hold.
func TestOverlay(t *testing.T) {
	for _, c := range []struct{ data, prev, want string }{
		{`{"a":1,"b":"x","c":[1,{"d":"}"}]}`, `{"b":"y \"q\""}`, `{"a":1,"b":"y \"q\"","c":[1,{"d":"}"}]}`},
		{`{"a":1}`, `{"z":{"k":[]}}`, `{"a":1,"z":{"k":[]}}`},
		{`{}`, `{"a":null}`, `{"a":null}`},
		{`null`, `{"a":1}`, `{"a":1}`},
		{`{"a":1,}`, `{"a":2}`, `{"a":2}`},
	} {
		if got := string(appendOverlay(nil, []byte(c.data), []byte(c.prev))); got != c.want {
			t.Errorf("overlay(%s, %s) = %s, want %s", c.data, c.prev, got, c.want)
		}
	}
}

// TestAppendID: numeric keys become JSON numbers in v1, others strings.
func TestAppendID(t *testing.T) {
	for id, want := range map[string]string{`"42"`: `42`, `"0"`: `0`, `"007"`: `"007"`, `"a-b"`: `"a-b"`, `""`: `""`,
		`"1234567890123456789"`: `"1234567890123456789"`, ``: `""`} {
		if got := string(appendID(nil, []byte(id))); got != want {
			t.Errorf("appendID(%q) = %s, want %s", id, got, want)
		}
	}
}

// BenchmarkPipedriveFormat measures one event's Pipedrive body, by version and action.
func BenchmarkPipedriveFormat(b *testing.B) {
	f := defaultFormats()
	id := uuid.MustParse("6f0c2a52-3c1e-5b8e-9d0e-000000000001")
	for _, format := range []string{matcher.FormatPipedriveV2, matcher.FormatPipedriveV1} {
		for _, action := range []string{"create", "change", "delete"} {
			b.Run(format+"/"+action, func(b *testing.B) {
				wh := *pdHook
				wh.Format = format
				items := []json.RawMessage{json.RawMessage(pdItems[action])}
				var dst []byte
				b.ReportAllocs()
				for b.Loop() {
					fm := f.of(&wh)
					fm.requests(wh.ID, items, 1<<20)
					dst = fm.appendBody(dst[:0], wh.ID, id, items)
				}
				b.ReportMetric(float64(len(dst)), "bytes/body")
			})
		}
	}
}

// FuzzPipedriveBody: whatever valid JSON item the renderer hands it (overlay reads its data
// and previous by hand), a Pipedrive body of either version is valid JSON, never a panic.
func FuzzPipedriveBody(f *testing.F) {
	for _, it := range pdItems {
		f.Add([]byte(it))
	}
	f.Add([]byte(`{"event":"X.Update","data":{"a":{"b":[1,"]}"]},"c":"\\""},"previous":{"c":null,"d":[]}}`))
	f.Add([]byte(`{"event":"","data":[],"previous":"x"}`))
	fs := defaultFormats()
	id := uuid.MustParse("6f0c2a52-3c1e-5b8e-9d0e-000000000001")
	f.Fuzz(func(t *testing.T, item []byte) {
		if !json.Valid(item) {
			return
		}
		for _, format := range []string{matcher.FormatPipedriveV1, matcher.FormatPipedriveV2} {
			wh := *pdHook
			wh.Format = format
			body := fs.of(&wh).appendBody(nil, wh.ID, id, []json.RawMessage{item})
			if !json.Valid(body) {
				t.Fatalf("%s body of %s is not JSON: %s", format, item, body)
			}
		}
	})
}
