package api

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an error answered to the client as is: its status and message are meant for
// the client and hold no secrets.
type apiError struct {
	status int
	field  string
	msg    string
}

// Error returns the message shown to the client.
func (e *apiError) Error() string { return e.msg }

func errorf(status int, field, msg string) *apiError {
	return &apiError{status: status, field: field, msg: msg}
}

// writeRaw writes the success envelope around data, which must be valid JSON; extra holds
// further members, already encoded (",\"total\":3").
func writeRaw(w http.ResponseWriter, status int, data []byte, extra ...[]byte) {
	b := make([]byte, 0, len(data)+64)
	b = append(b, `{"success":true,"data":`...)
	b = append(b, data...)
	for _, e := range extra {
		b = append(b, e...)
	}
	b = append(b, '}', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSON writes the success envelope around v, encoded with encoding/json.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "", "encode response: "+err.Error()))
		return
	}
	writeRaw(w, status, data)
}

// writeError writes the error envelope.
func writeError(w http.ResponseWriter, e *apiError) {
	body := struct {
		Success bool   `json:"success"`
		Code    int    `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	}{false, e.status, e.field, e.msg}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}
