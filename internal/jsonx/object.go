package jsonx

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Member is one key of a JSON object and its raw value, in document order.
type Member struct {
	Key   string
	Value json.RawMessage
}

// FieldError is an error about one field of a JSON document: Field is its dotted path
// ("options.entity.Contact"), Reason says what is wrong with it.
type FieldError struct {
	Field  string
	Reason string
}

// Error returns "<field>: <reason>".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Join appends key to the dotted path field.
func Join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// DecodeObject splits the JSON object raw into its members in document order. It fails,
// with a *FieldError naming field (or the member), on anything but one object and on
// duplicate keys, which encoding/json would silently resolve to the last one.
func DecodeObject(field string, raw json.RawMessage) ([]Member, error) {
	if k := Kind(raw); k != "object" {
		return nil, fieldErrorf(field, "must be an object, got %s", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, fieldErrorf(field, "malformed JSON: %v", err)
	}
	var out []Member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fieldErrorf(field, "malformed JSON: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fieldErrorf(Join(field, key), "malformed JSON: %v", err)
		}
		if seen[key] {
			return nil, fieldErrorf(Join(field, key), "duplicate key")
		}
		seen[key] = true
		out = append(out, Member{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, fieldErrorf(field, "malformed JSON: %v", err)
	}
	return out, nil
}

// Kind names the type of the JSON value raw: "object", "array", "string", "number",
// "boolean", "null", or "nothing" when raw is empty.
func Kind(raw json.RawMessage) string {
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
