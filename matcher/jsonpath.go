package matcher

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/jsonx"
)

// jsonPath returns the value at path inside a json/jsonb field's value (Odoo's translated
// name: {"en_US": "Anvils"} at [en_US]), typed as filters compare it: strings as text,
// numbers as numeric, booleans as bool, objects and arrays as json, absent or JSON null as
// NULL. A value that is not JSON yields NULL. Array elements are reached by index ("tags.0").
func jsonPath(v event.Value, path []string) event.Value {
	if v.IsNull() || (v.Kind != event.KindJSON && v.Kind != event.KindText) {
		return event.Value{}
	}
	raw := json.RawMessage(v.Raw)
	for _, seg := range path {
		raw = bytes.TrimSpace(raw)
		switch {
		case len(raw) > 0 && raw[0] == '{':
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				return event.Value{}
			}
			next, ok := obj[seg]
			if !ok {
				return event.Value{}
			}
			raw = next
		case len(raw) > 0 && raw[0] == '[':
			var arr []json.RawMessage
			i, err := strconv.Atoi(seg)
			if err != nil || json.Unmarshal(raw, &arr) != nil || i < 0 || i >= len(arr) {
				return event.Value{}
			}
			raw = arr[i]
		default:
			return event.Value{}
		}
	}
	raw = bytes.TrimSpace(raw)
	switch jsonx.Kind(raw) {
	case "string":
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return event.Value{}
		}
		return event.Value{Kind: event.KindText, Raw: []byte(s)}
	case "number":
		return event.Value{Kind: event.KindNumeric, Raw: raw}
	case "boolean":
		b := []byte("f")
		if raw[0] == 't' {
			b = []byte("t")
		}
		return event.Value{Kind: event.KindBool, Raw: b}
	case "object", "array":
		return event.Value{Kind: event.KindJSON, Raw: raw}
	}
	return event.Value{}
}
