package matcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Member is one key of a JSON object and its raw value, in document order.
type Member struct {
	Key   string
	Value json.RawMessage
}

// DecodeObject splits the JSON object raw into its members in document order. It fails on
// anything but one object, and on duplicate keys (which encoding/json would silently
// resolve to the last one). field names raw in errors.
func DecodeObject(field string, raw json.RawMessage) ([]Member, error) {
	if k := KindOfJSON(raw); k != "object" {
		return nil, Invalidf(field, "must be an object, got %s", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, Invalidf(field, "malformed JSON: %v", err)
	}
	var out []Member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, Invalidf(field, "malformed JSON: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, Invalidf(join(field, key), "malformed JSON: %v", err)
		}
		if seen[key] {
			return nil, Invalidf(join(field, key), "duplicate key")
		}
		seen[key] = true
		out = append(out, Member{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, Invalidf(field, "malformed JSON: %v", err)
	}
	return out, nil
}

// KindOfJSON names the type of the JSON value raw: "object", "array", "string", "number",
// "boolean", "null", or "nothing" when raw is empty.
func KindOfJSON(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// decodeStrings decodes a JSON array of strings.
func decodeStrings(field string, raw json.RawMessage) ([]string, error) {
	if k := KindOfJSON(raw); k != "array" {
		return nil, Invalidf(field, "must be an array of strings, got %s", k)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, Invalidf(field, "malformed JSON: %v", err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if k := KindOfJSON(it); k != "string" {
			return nil, Invalidf(f, "must be a string, got %s", k)
		}
		if err := json.Unmarshal(it, &out[i]); err != nil {
			return nil, Invalidf(f, "malformed JSON: %v", err)
		}
	}
	return out, nil
}

// decodeString decodes a JSON string.
func decodeString(field string, raw json.RawMessage) (string, error) {
	if k := KindOfJSON(raw); k != "string" {
		return "", Invalidf(field, "must be a string, got %s", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", Invalidf(field, "malformed JSON: %v", err)
	}
	return s, nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// asValidation returns err as a *ValidationError, if it is one.
func asValidation(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}
