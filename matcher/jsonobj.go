package matcher

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/walhook/walhook/internal/jsonx"
)

// decodeObject is jsonx.DecodeObject with its error as a *ValidationError, so that the
// API answers it as any invalid field.
func decodeObject(field string, raw json.RawMessage) ([]jsonx.Member, error) {
	members, err := jsonx.DecodeObject(field, raw)
	var fe *jsonx.FieldError
	if errors.As(err, &fe) {
		return nil, Invalidf(fe.Field, "%s", fe.Reason)
	}
	return members, err
}

// decodeStrings decodes a JSON array of strings.
func decodeStrings(field string, raw json.RawMessage) ([]string, error) {
	if k := jsonx.Kind(raw); k != "array" {
		return nil, Invalidf(field, "must be an array of strings, got %s", k)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, Invalidf(field, "malformed JSON: %v", err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if k := jsonx.Kind(it); k != "string" {
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
	if k := jsonx.Kind(raw); k != "string" {
		return "", Invalidf(field, "must be a string, got %s", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", Invalidf(field, "malformed JSON: %v", err)
	}
	return s, nil
}

func join(field, key string) string { return jsonx.Join(field, key) }

// asValidation returns err as a *ValidationError, if it is one.
func asValidation(err error) (*ValidationError, bool) {
	var ve *ValidationError
	ok := errors.As(err, &ve)
	return ve, ok
}
