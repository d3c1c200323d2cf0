package inbound

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/walhook/walhook/internal/uuidx"
)

// Paths, under /api/v3/ (DESIGN.md §13; both receive spellings appear in PIPEFORCE's docs).
const (
	CommandPath = "/api/v3/command/"
	ReceivePath = "/api/v3/webhook.receive"
	FilesPath   = "/api/v3/inbound/files/"
)

// httpError is answered to the client as is, in the error envelope of DESIGN.md §4.
type httpError struct {
	status int
	field  string
	msg    string
}

func errorf(status int, field, format string, args ...any) *httpError {
	return &httpError{status: status, field: field, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, e *httpError) {
	b, _ := json.Marshal(struct {
		Success bool   `json:"success"`
		Code    int    `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	}{false, e.status, e.field, e.msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}

// writeJSON answers v as a bare JSON object (PIPEFORCE's commands answer so).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, errorf(http.StatusInternalServerError, "", "encode response"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(CommandPath+"webhook.receive", s.receive)
	mux.HandleFunc(ReceivePath, s.receive)
	mux.Handle("POST "+CommandPath+"webhook.put", s.authed(s.put))
	mux.Handle("GET "+CommandPath+"webhook.get", s.authed(s.get))
	mux.Handle("POST "+CommandPath+"webhook.get", s.authed(s.get))
	mux.Handle("POST "+CommandPath+"webhook.delete", s.authed(s.delete))
	mux.Handle("POST "+CommandPath+"webhook.send", s.authed(s.send))
	mux.Handle("GET "+FilesPath+"{call}/{idx}", s.authed(s.file))
	for path, allow := range map[string]string{"webhook.put": "POST", "webhook.get": "GET, POST", "webhook.delete": "POST", "webhook.send": "POST"} {
		mux.HandleFunc(CommandPath+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, errorf(http.StatusMethodNotAllowed, "", "method %s not allowed for %s (allowed: %s)", r.Method, path, allow))
		})
	}
	mux.HandleFunc("/api/v3/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "", "no such command (commands: webhook.put, webhook.get, webhook.delete, webhook.send, webhook.receive)"))
	})
	return mux
}

// authed requires an API token, as the webhook API does.
func (s *Service) authed(h func(w http.ResponseWriter, r *http.Request) *httpError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Authorize(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="walhook"`)
			writeError(w, errorf(http.StatusUnauthorized, "", "missing or invalid API token (Authorization: Bearer <token>)"))
			return
		}
		if err := h(w, r); err != nil {
			if err.status == http.StatusInternalServerError {
				s.log.Error("inbound command failed", "path", r.URL.Path, "err", err.msg)
				err.msg = "internal error"
			}
			writeError(w, err)
		}
	})
}

// receive lands one call (see the package documentation) and answers 200 with its id.
func (s *Service) receive(w http.ResponseWriter, r *http.Request) {
	outcome := outcomeError
	defer func() { s.met.calls.WithLabelValues(outcome).Inc() }()
	fail := func(o string, e *httpError) {
		outcome = o
		if e.status == http.StatusInternalServerError {
			s.log.Error("inbound call failed", "err", e.msg)
			e.msg = "internal error: the call was not accepted; retry"
		}
		writeError(w, e)
	}
	now := time.Now()
	id := r.URL.Query().Get("uuid")
	if !uuidx.Is(id) {
		fail(outcomeNotFound, errorf(http.StatusNotFound, "uuid", "uuid: no inbound webhook %.64q", id))
		return
	}
	wh, err := s.lookup(r.Context(), strings.ToLower(id), now)
	if errors.Is(err, ErrNotFound) {
		fail(outcomeNotFound, errorf(http.StatusNotFound, "uuid", "uuid: no inbound webhook %s", id))
		return
	}
	if err != nil {
		fail(outcomeError, errorf(http.StatusInternalServerError, "", "%v", err))
		return
	}
	if ok, wait := s.lim.allow(wh.UUID, now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		fail(outcomeRateLimited, errorf(http.StatusTooManyRequests, "", "over the rate limit of inbound webhook %s (%g calls a second)", wh.UUID, s.cfg.Rate))
		return
	}
	tooLarge := errorf(http.StatusRequestEntityTooLarge, "", "request body over the limit of %d bytes", s.cfg.MaxBytes)
	if r.ContentLength > s.cfg.MaxBytes {
		fail(outcomeTooLarge, tooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			fail(outcomeTooLarge, tooLarge)
			return
		}
		fail(outcomeBadRequest, errorf(http.StatusBadRequest, "", "read request body: %v", err))
		return
	}
	if wh.Verify != nil {
		if err := wh.Verify.verify(r.Header, body, now); err != nil {
			fail(outcomeBadSig, errorf(http.StatusUnauthorized, "", "%v", err))
			return
		}
	}
	ct := r.Header.Get("Content-Type")
	bodyJSON, files, err := parseBody(ct, body)
	if err != nil {
		fail(outcomeBadRequest, errorf(http.StatusBadRequest, "", "%v", err))
		return
	}
	callID := uuid.NewString()
	obj := callObject{uuid: wh.UUID, eventKey: wh.EventKey, receivedAt: now, method: r.Method, mediaType: ct,
		header: r.Header, query: r.URL.Query(), body: bodyJSON, files: files,
		fileURL: func(i int) string { return fmt.Sprintf("%s%s%s/%d", s.cfg.PublicURL, FilesPath, callID, i) }}
	call := obj.appendJSON(make([]byte, 0, len(bodyJSON)+512))
	if len(call) > s.cfg.MaxCallBytes {
		fail(outcomeTooLarge, errorf(http.StatusRequestEntityTooLarge, "",
			"the call's event (%d bytes without its files) is over the limit of one delivery item, %d bytes; send large content as multipart files",
			len(call), s.cfg.MaxCallBytes))
		return
	}
	start := time.Now()
	landedID, dup, err := s.land(r.Context(), &landing{webhookUUID: wh.UUID, messageID: r.Header.Get("webhook-id"), callID: callID,
		key: wh.EventKey, call: call, files: files, skipKey: r.Header.Get("Webhook-Skip-Key"), receivedAt: now})
	if err != nil {
		fail(outcomeError, errorf(http.StatusInternalServerError, "", "%v", err))
		return
	}
	s.met.landing.Observe(time.Since(start).Seconds())
	outcome = outcomeLanded
	if dup {
		outcome = outcomeDuplicate
	} else {
		s.met.bytes.Add(float64(len(body)))
	}
	writeJSON(w, http.StatusOK, struct {
		ID        string `json:"id"`
		UUID      string `json:"uuid"`
		EventKey  string `json:"eventKey"`
		Duplicate bool   `json:"duplicate"`
	}{landedID, wh.UUID, wh.EventKey, dup})
}

// file serves one file of a call, byte for byte.
func (s *Service) file(w http.ResponseWriter, r *http.Request) *httpError {
	callID := r.PathValue("call")
	idx, err := strconv.Atoi(r.PathValue("idx"))
	if !uuidx.Is(callID) || err != nil || idx < 0 {
		return errorf(http.StatusNotFound, "", "no such file")
	}
	f, err := s.st.file(r.Context(), callID, idx)
	if errors.Is(err, ErrNotFound) {
		return errorf(http.StatusNotFound, "", "no such file (unknown, or pruned after the retention window)")
	}
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "%v", err)
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", strings.ToValidUTF8(f.filename, "_")))
	_, _ = w.Write(f.content)
	return nil
}
