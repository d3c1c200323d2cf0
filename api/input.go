package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/walhook/walhook/internal/jsonx"
)

// passwordMask is what responses show instead of http_auth_password. Sent back unchanged
// in a PATCH, it keeps the stored password.
const passwordMask = "********"

// input is a decoded POST or PATCH body: a nil field was absent, a field holding nil was
// JSON null.
type input struct {
	Name             **string
	URL              *string
	Events           *[]string
	InsecureSSL      *bool
	Signature        **string
	Options          *json.RawMessage
	HTTPAuthUser     **string
	HTTPAuthPassword **string
	Signing          **string
	DisabledAt       *bool // present: must be null (re-enable)
	Headers          *map[string]string
	Timeout          **float64
}

// readOnly are response fields a client may echo back but not set.
var readOnly = map[string]bool{"id": true, "created": true, "modified": true, "is_deleted": true,
	"status": true, "disabled_reason": true, "space_id": true,
	"is_delete_protected": true, "application": true, "client": true, "application_id": true, "client_id": true}

// readBody reads at most limit bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body: larger than %d bytes", limit))
	case err != nil:
		return nil, errorf(http.StatusBadRequest, "", "body: "+err.Error())
	case !utf8.Valid(body):
		return nil, errorf(http.StatusBadRequest, "", "body: not valid UTF-8")
	}
	return body, nil
}

// decodeInput decodes a webhook body. Errors are *apiError: 400 when the body is not a
// JSON object, 422 for a field of the wrong type, unknown or read-only.
func decodeInput(body []byte) (*input, *apiError) {
	return decodeInputWith(body, nil)
}

// decodeInputWith is decodeInput for a body that may hold more members than a webhook's:
// extra is offered each member first and reports whether it took it.
func decodeInputWith(body []byte, extra func(key string, raw json.RawMessage) (bool, *apiError)) (*input, *apiError) {
	if !json.Valid(body) {
		return nil, errorf(http.StatusBadRequest, "", "body: malformed JSON: "+syntaxError(body))
	}
	members, err := jsonx.DecodeObject("body", body)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "", err.Error())
	}
	in := &input{}
	for _, mb := range members {
		if extra != nil {
			took, err := extra(mb.Key, mb.Value)
			if err != nil {
				return nil, err
			}
			if took {
				continue
			}
		}
		if err := in.set(mb.Key, mb.Value); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func syntaxError(body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err.Error()
	}
	return "not one JSON value"
}

func (in *input) set(key string, raw json.RawMessage) *apiError {
	var err *apiError
	switch key {
	case "name":
		in.Name, err = decodeNullable[string](key, raw, "string")
	case "url":
		in.URL, err = decodeRequired[string](key, raw, "string")
	case "events":
		var v *[]string
		if v, err = decodeRequired[[]string](key, raw, "array of strings"); err == nil {
			in.Events = v
		}
	case "insecure_ssl":
		var v **bool
		if v, err = decodeNullable[bool](key, raw, "boolean"); err == nil {
			in.InsecureSSL = new(bool)
			if *v != nil {
				*in.InsecureSSL = **v
			}
		}
	case "signature":
		in.Signature, err = decodeNullable[string](key, raw, "string")
	case "options":
		if k := jsonx.Kind(raw); k != "object" && k != "null" {
			return errorf(http.StatusUnprocessableEntity, key, fmt.Sprintf("options: must be an object, got %s", k))
		}
		in.Options = &raw
	case "http_auth_user":
		in.HTTPAuthUser, err = decodeNullable[string](key, raw, "string")
	case "http_auth_password":
		in.HTTPAuthPassword, err = decodeNullable[string](key, raw, "string")
	case "signing":
		in.Signing, err = decodeNullable[string](key, raw, "string")
	case "headers":
		var v **map[string]string
		if v, err = decodeNullable[map[string]string](key, raw, "object of strings"); err == nil {
			in.Headers = new(map[string]string)
			if *v != nil {
				*in.Headers = **v
			}
		}
	case "timeout":
		in.Timeout, err = decodeNullable[float64](key, raw, "number of seconds")
	case "disabled_at":
		if jsonx.Kind(raw) != "null" {
			return errorf(http.StatusUnprocessableEntity, key, "disabled_at: only null is accepted (it resumes the webhook, like POST …/{id}/resume)")
		}
		in.DisabledAt = new(bool)
	default:
		if key == "status" || key == "disabled_reason" {
			return errorf(http.StatusUnprocessableEntity, key, fmt.Sprintf("%s: read-only field (POST …/{id}/pause and …/{id}/resume change the status)", key))
		}
		if readOnly[key] {
			return errorf(http.StatusUnprocessableEntity, key, fmt.Sprintf("%s: read-only field", key))
		}
		return errorf(http.StatusUnprocessableEntity, key, fmt.Sprintf("%s: unknown field (fields: name, url, events, insecure_ssl, signature, options, http_auth_user, http_auth_password, signing, headers, timeout)", shorten(key)))
	}
	return err
}

// decodeRequired decodes a non-null value of type T.
func decodeRequired[T any](key string, raw json.RawMessage, want string) (*T, *apiError) {
	if jsonx.Kind(raw) == "null" {
		return nil, errorf(http.StatusUnprocessableEntity, key, key+": must not be null")
	}
	v, err := decodeNullable[T](key, raw, want)
	if err != nil {
		return nil, err
	}
	return *v, nil
}

// decodeNullable decodes a value of type T or null.
func decodeNullable[T any](key string, raw json.RawMessage, want string) (**T, *apiError) {
	out := new(*T)
	if jsonx.Kind(raw) == "null" {
		return out, nil
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		msg := fmt.Sprintf("%s: must be %s %s, got %s", key, article(want), want, jsonx.Kind(raw))
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			msg = fmt.Sprintf("%s[%s]: must be a string, got %s", key, te.Field, te.Value)
		} else if errors.As(err, &te) && jsonx.Kind(raw) == "array" {
			msg = fmt.Sprintf("%s: must be %s %s, got an array holding a %s", key, article(want), want, te.Value)
		}
		return nil, errorf(http.StatusUnprocessableEntity, key, msg)
	}
	*out = &v
	return out, nil
}

func article(s string) string {
	if s != "" && (s[0] == 'a' || s[0] == 'o') {
		return "an"
	}
	return "a"
}

// shorten quotes a client's string for a message, cut to 80 bytes.
func shorten(s string) string {
	if len(s) > 80 {
		cut := 80
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}
