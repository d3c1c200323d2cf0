package jsonx

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestDecodeObject(t *testing.T) {
	ms, err := DecodeObject("body", json.RawMessage(`{"b": 1, "a": {"x": [2]}}`))
	if err != nil || len(ms) != 2 || ms[0].Key != "b" || ms[1].Key != "a" || string(ms[1].Value) != `{"x": [2]}` {
		t.Fatalf("DecodeObject = %v, %v; want b then a, in document order", ms, err)
	}
	for raw, want := range map[string]string{
		`[1]`:              "body: must be an object, got array",
		`{"a": 1, "a": 2}`: "body.a: duplicate key",
		`{"a": }`:          "body",
		``:                 "body: must be an object, got nothing",
	} {
		_, err := DecodeObject("body", json.RawMessage(raw))
		var fe *FieldError
		if !errors.As(err, &fe) || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
			t.Errorf("DecodeObject(%q) = %v, want a *FieldError starting %q", raw, err, want)
		}
	}
}

func TestKind(t *testing.T) {
	for raw, want := range map[string]string{`{}`: "object", ` [1]`: "array", `"s"`: "string", `1.5`: "number",
		`true`: "boolean", `null`: "null", ``: "nothing"} {
		if got := Kind(json.RawMessage(raw)); got != want {
			t.Errorf("Kind(%q) = %q, want %q", raw, got, want)
		}
	}
}
