package sender

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/matcher"
)

// pipedriveEvent is Pipedrive's payload format (DESIGN.md §12), version 1 or 2: one event
// per request, its body built from the event's rendered item (§5). The webhook's Pipedrive
// fields (bind) give the objects of its entities and the ids in meta. Values that a CRM
// database does not hold are constant (README, "Pipedrive"): company_id and user_id "0",
// host "walhook", change_source "database", is_bulk_edit false. attempt (v2) is 1 and
// retry (v1) 0 on every attempt: a retry sends the body of the first attempt unchanged,
// so that it stays the same request (same Webhook-Id) for receivers that deduplicate.
type pipedriveEvent struct {
	v1 bool
	pd *matcher.Pipedrive
}

// bind returns the format for webhook wh: f with wh's Pipedrive fields.
func (f pipedriveEvent) bind(wh *matcher.Webhook) format {
	f.pd = wh.Pipedrive
	return f
}

// requests sends each item alone, as Pipedrive does; an item is never cut.
func (pipedriveEvent) requests(_ string, items []json.RawMessage, _ int) ([]span, bool) {
	out := make([]span, len(items))
	for i := range items {
		out[i] = span{i, i + 1}
	}
	return out, false
}

// pdItem is what a Pipedrive body takes from a rendered item, as JSON text read in place
// (no copies): strings keep their quotes, so that they are embedded as rendered; a key
// that is absent, or a string that is not one, is nil.
type pdItem struct {
	event, entity, entityID, committedAt, id []byte
	data, previous                           []byte
	relatedID, relatedData                   []byte
}

// readItem reads the keys of a rendered item (DESIGN.md §5) that a Pipedrive body needs.
func readItem(raw []byte) pdItem {
	var it pdItem
	var buf [16]member
	ms, _ := members(raw, buf[:0])
	for _, m := range ms {
		switch string(m.key) {
		case `"event"`:
			it.event = str(m.val)
		case `"entity"`:
			it.entity = str(m.val)
		case `"entity_id"`:
			it.entityID = str(m.val)
		case `"committed_at"`:
			it.committedAt = str(m.val)
		case `"id"`:
			it.id = str(m.val)
		case `"data"`:
			it.data = m.val
		case `"previous"`:
			it.previous = m.val
		case `"related_entity"`:
			var rb [4]member
			rs, _ := members(m.val, rb[:0])
			for _, r := range rs {
				switch string(r.key) {
				case `"id"`:
					it.relatedID = str(r.val)
				case `"data"`:
					it.relatedData = r.val
				}
			}
		}
	}
	return it
}

// str returns v when it is a JSON string, nil otherwise.
func str(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v
	}
	return nil
}

// inner returns a JSON string's text without its quotes (escapes left as written: the
// values read through it, event and entity names and RFC 3339 times, have none).
func inner(v []byte) []byte {
	if len(v) < 2 {
		return nil
	}
	return v[1 : len(v)-1]
}

// pdAction is an event's action in Pipedrive's terms.
type pdAction int

const (
	pdCreate pdAction = iota
	pdChange
	pdDelete
)

var (
	pdV2Actions = [...]string{"create", "change", "delete"}
	pdV1Actions = [...]string{"added", "updated", "deleted"}
)

// appendBody appends the body of the request for items[0], its one item, under delivery
// id id (meta.id in v2). An item it cannot read becomes a body with null data, so that
// the request is still sent and logged.
func (f pipedriveEvent) appendBody(dst []byte, _ string, id uuid.UUID, items []json.RawMessage) []byte {
	it := readItem(items[0])
	action, object := f.classify(&it)
	data, previous := it.data, it.previous
	if object == "note" && it.relatedData != nil {
		// A note is the comment a link event carries; its id is the comment's.
		data, previous, it.entityID = it.relatedData, nil, it.relatedID
	}
	if string(previous) == "null" || action == pdCreate {
		previous = nil
	}
	if f.v1 {
		return f.appendV1(dst, &it, action, object, data, previous)
	}
	return f.appendV2(dst, &it, id, action, object, data, previous)
}

// classify returns the event's Pipedrive action and object. A link event (Task.Comment)
// is a note added; Update, OwnerChanged and transitions are a change (a Pipedrive webhook
// subscribes to Update only, so one row change is one event).
func (f pipedriveEvent) classify(it *pdItem) (pdAction, string) {
	ev := inner(it.event)
	act := ev[bytes.LastIndexByte(ev, '.')+1:]
	if string(act) == "Comment" {
		return pdCreate, "note"
	}
	obj := ""
	if f.pd != nil {
		if obj = f.pd.Objects[string(inner(it.entity))]; obj == "" && f.pd.EventObject != "*" {
			obj = f.pd.EventObject
		}
	}
	if obj == "" {
		obj = strings.ToLower(string(inner(it.entity)))
	}
	switch string(act) {
	case "Create", "Backfill":
		// A backfilled row is, to a Pipedrive receiver, a record it has not seen yet.
		return pdCreate, obj
	case "Delete":
		return pdDelete, obj
	}
	return pdChange, obj
}

// appendV2 appends {"meta":{…},"data":…,"previous":…}: data null on delete with previous
// the last state; previous, on change, the changed fields' old values.
func (f pipedriveEvent) appendV2(dst []byte, it *pdItem, id uuid.UUID, action pdAction, object string, data, previous []byte) []byte {
	if action == pdDelete {
		data, previous = nil, data
	}
	dst = append(dst, `{"meta":{"action":"`...)
	dst = append(dst, pdV2Actions[action]...)
	dst = append(dst, `","entity":`...)
	dst = jsonx.AppendString(dst, object)
	dst = append(dst, `,"entity_id":`...)
	dst = appendStr(dst, it.entityID)
	dst = append(dst, `,"id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, `","timestamp":`...)
	dst = appendStr(dst, it.committedAt)
	dst = append(dst, `,"type":"general","version":"2.0","webhook_id":"`...)
	dst = strconv.AppendInt(dst, f.id(), 10)
	dst = append(dst, `","webhook_owner_id":"`...)
	dst = strconv.AppendInt(dst, f.user(), 10)
	dst = append(dst, `","company_id":"0","user_id":"0","correlation_id":`...)
	dst = appendStr(dst, it.id)
	dst = append(dst, `,"is_bulk_edit":false,"attempt":1,"host":"walhook","change_source":"database","permitted_user_ids":`...)
	dst = f.appendPermitted(dst, true)
	dst = append(dst, `},"data":`...)
	dst = appendRaw(dst, data)
	dst = append(dst, `,"previous":`...)
	dst = appendRaw(dst, previous)
	return append(dst, '}')
}

// appendV1 appends Pipedrive's v1 body: current the row after the change (null on
// delete), previous the whole row before it (null on create).
func (f pipedriveEvent) appendV1(dst []byte, it *pdItem, action pdAction, object string, data, previous []byte) []byte {
	t, _ := time.Parse(time.RFC3339Nano, string(inner(it.committedAt)))
	dst = append(dst, `{"v":1,"matches_filters":{"current":[]},"meta":{"action":"`...)
	dst = append(dst, pdV1Actions[action]...)
	dst = append(dst, `","object":`...)
	dst = jsonx.AppendString(dst, object)
	dst = append(dst, `,"id":`...)
	dst = appendID(dst, it.entityID)
	dst = append(dst, `,"company_id":0,"user_id":0,"host":"walhook","timestamp":`...)
	dst = strconv.AppendInt(dst, t.Unix(), 10)
	dst = append(dst, `,"timestamp_micro":`...)
	dst = strconv.AppendInt(dst, t.UnixMicro(), 10)
	dst = append(dst, `,"permitted_user_ids":`...)
	dst = f.appendPermitted(dst, false)
	dst = append(dst, `,"trans_pending":false,"is_bulk_update":false,"pipedrive_service_name":false,"change_source":"database","webhook_id":"`...)
	dst = strconv.AppendInt(dst, f.id(), 10)
	dst = append(dst, `","v":1},"retry":0,"current":`...)
	switch action {
	case pdCreate:
		dst = appendRaw(dst, data)
		dst = append(dst, `,"previous":null`...)
	case pdChange:
		dst = appendRaw(dst, data)
		dst = append(dst, `,"previous":`...)
		if previous == nil {
			dst = append(dst, "null"...)
		} else {
			dst = appendOverlay(dst, data, previous)
		}
	case pdDelete:
		dst = append(dst, `null,"previous":`...)
		dst = appendRaw(dst, data)
	}
	dst = append(dst, `,"event":"`...)
	dst = append(dst, pdV1Actions[action]...)
	dst = append(dst, '.')
	dst = append(dst, object...) // one of mapping.PipedriveObjects or a lowered entity name
	return append(dst, `"}`...)
}

func (f pipedriveEvent) id() int64 {
	if f.pd == nil {
		return 0
	}
	return f.pd.ID
}

func (f pipedriveEvent) user() int64 {
	if f.pd == nil {
		return 0
	}
	return f.pd.UserID
}

// appendPermitted appends permitted_user_ids: the webhook's user_id when it has one, as
// strings (v2) or numbers (v1).
func (f pipedriveEvent) appendPermitted(dst []byte, quoted bool) []byte {
	if f.user() == 0 {
		return append(dst, "[]"...)
	}
	dst = append(dst, '[')
	if quoted {
		dst = append(dst, '"')
	}
	dst = strconv.AppendInt(dst, f.user(), 10)
	if quoted {
		dst = append(dst, '"')
	}
	return append(dst, ']')
}

// appendID appends an entity id (a JSON string as rendered) as Pipedrive's v1 does: a
// number when it is one; any other key (a UUID, text) as the string.
func appendID(dst []byte, id []byte) []byte {
	digits := inner(id)
	if len(digits) == 0 || len(digits) > 18 || (len(digits) > 1 && digits[0] == '0') ||
		len(bytes.TrimLeft(digits, "0123456789")) != 0 {
		return appendStr(dst, id)
	}
	return append(dst, digits...)
}

// appendStr appends a JSON string as rendered, or "" when there is none.
func appendStr(dst, s []byte) []byte {
	if len(s) < 2 {
		return append(dst, `""`...)
	}
	return append(dst, s...)
}

// appendUUID appends u in its canonical form without allocating.
func appendUUID(dst []byte, u uuid.UUID) []byte {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	hex.Encode(b[9:13], u[4:6])
	hex.Encode(b[14:18], u[6:8])
	hex.Encode(b[19:23], u[8:10])
	hex.Encode(b[24:], u[10:])
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return append(dst, b[:]...)
}

func appendRaw(dst []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(dst, "null"...)
	}
	return append(dst, raw...)
}

// appendOverlay appends the object data with the members of prev in place of its own:
// the row before an UPDATE from the row after it and the changed fields' old values.
// Members of prev that data lacks are added at the end. Either not an object: prev as it
// is.
func appendOverlay(dst, data, prev []byte) []byte {
	var pb, db [32]member
	pm, ok := members(prev, pb[:0])
	dm, ok2 := members(data, db[:0])
	if !ok || !ok2 {
		return append(dst, prev...)
	}
	var usedBuf [32]bool
	used := usedBuf[:0]
	for range pm {
		used = append(used, false)
	}
	dst = append(dst, '{')
	n := 0
	for _, m := range dm {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, m.key...)
		dst = append(dst, ':')
		val := m.val
		for k := range pm {
			if !used[k] && string(pm[k].key) == string(m.key) {
				val, used[k] = pm[k].val, true
				break
			}
		}
		dst = append(dst, val...)
	}
	for k, m := range pm {
		if used[k] {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, m.key...)
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

// member is one member of a JSON object: its key as written (quoted) and its value.
type member struct{ key, val []byte }

// members appends the members of the JSON object raw to dst; false when raw is not an
// object it can read (rendered items are valid JSON; this guards the rest).
func members(raw []byte, dst []member) ([]member, bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return dst, false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return dst, true
	}
	for i < len(raw) {
		ks := i
		ke := skipValue(raw, i)
		if ke < 0 || raw[ks] != '"' {
			return dst, false
		}
		i = skipSpace(raw, ke)
		if i >= len(raw) || raw[i] != ':' {
			return dst, false
		}
		vs := skipSpace(raw, i+1)
		ve := skipValue(raw, vs)
		if ve < 0 {
			return dst, false
		}
		dst = append(dst, member{raw[ks:ke], raw[vs:ve]})
		i = skipSpace(raw, ve)
		if i >= len(raw) {
			return dst, false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return dst, true
		default:
			return dst, false
		}
	}
	return dst, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := skipValue(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
