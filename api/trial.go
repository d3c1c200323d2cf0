package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/matcher"
)

// Trial serves test-send and preview (DESIGN.md §14); the pipeline implements it with the
// matcher (Sample, Preview) and the sender (SendTest). Methods must be safe for concurrent
// use and honour ctx.
type Trial interface {
	// Sample builds one sample delivery item for wh from a recent CRM row of a subscribed
	// entity (matcher.Matcher.Sample); an error wrapping matcher.ErrNoSample when no
	// subscribed entity has a row.
	Sample(ctx context.Context, wh *matcher.Webhook) (*matcher.Sample, error)
	// Preview answers what wh would send for the limit latest rows of each of its
	// entities (matcher.Matcher.Preview). wh is not stored.
	Preview(ctx context.Context, wh *matcher.Webhook, limit int) (*matcher.Preview, error)
	// SendTest sends item to wh once, synchronously, signed as a delivery, marked as a
	// test; never retried, queued or logged as a delivery. A failed request is an
	// outcome, not an error: the error is only for a request that could not be made
	// (ctx ended).
	SendTest(ctx context.Context, wh *matcher.Webhook, item json.RawMessage) (TestOutcome, error)
}

// TestOutcome is what a test request did.
type TestOutcome struct {
	// DeliveryID is the request's Webhook-Id.
	DeliveryID string
	// Body is the exact request body sent.
	Body []byte
	// Outcome is delivered, http_error, timeout, connection_error or blocked, as in the
	// delivery log.
	Outcome string
	// Status is the response status, 0 without a response.
	Status  int
	Latency time.Duration
	// Response is the start of the response body (up to 4 KiB).
	Response []byte
	// Err describes a failure without a response; "" otherwise.
	Err string
}

// Preview bounds.
const (
	defaultPreviewRows = 10
)

// testSend handles POST …/{id}/test: one signed sample, built from a recent row of a
// subscribed entity, sent at once; it answers the receiver's status, latency and the start
// of its response — 200 whatever the receiver did (the outcome says), 409 when no
// subscribed entity has a row.
func (a *API) testSend(w http.ResponseWriter, r *http.Request) *apiError {
	wh, aerr := a.wiredLookup(r, a.cfg.Trial != nil, "test-send")
	if aerr != nil {
		return aerr
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	if aerr := emptyObject(body); aerr != nil {
		return aerr
	}
	s, err := a.cfg.Trial.Sample(r.Context(), wh)
	if errors.Is(err, matcher.ErrNoSample) {
		return errorf(http.StatusConflict, "events", "events: no sample to send: "+noSampleReason(err))
	}
	if err != nil {
		return storeError(err)
	}
	out, err := a.cfg.Trial.SendTest(r.Context(), wh, s.Item)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", fmt.Sprintf("send test to webhook %s: %v", wh.ID, err))
	}
	writeRaw(w, http.StatusOK, appendTestResult(nil, s, out))
	return nil
}

// noSampleReason is the part of a Sample error meant for the client: what follows the
// webhook id.
func noSampleReason(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, ": "); ok {
		msg = after
	}
	return msg
}

// emptyObject accepts an empty body, {} or null.
func emptyObject(body []byte) *apiError {
	if len(body) == 0 || jsonx.Kind(body) == "null" {
		return nil
	}
	if !json.Valid(body) {
		return errorf(http.StatusBadRequest, "", "body: malformed JSON: "+syntaxError(body))
	}
	members, err := jsonx.DecodeObject("body", body)
	if err != nil {
		return errorf(http.StatusBadRequest, "", err.Error())
	}
	if len(members) > 0 {
		return invalid(members[0].Key, "unknown field (this request takes no fields)")
	}
	return nil
}

// appendTestResult appends the data of a test-send response.
func appendTestResult(dst []byte, s *matcher.Sample, out TestOutcome) []byte {
	str := func(v string) []byte { return jsonx.AppendString(nil, v) }
	orNull := func(v string) []byte {
		if v == "" {
			return []byte("null")
		}
		return str(v)
	}
	status := []byte("null")
	if out.Status != 0 {
		status = strconv.AppendInt(nil, int64(out.Status), 10)
	}
	resp := strings.ToValidUTF8(strings.ReplaceAll(string(out.Response), "\x00", ""), "\uFFFD")
	body := out.Body
	if !json.Valid(body) {
		body = str(string(body))
	}
	dst = fmt.Appendf(dst, `{"outcome":%s,"status":%s,"latency_ms":%s,"response":%s,"error":%s,"delivery_id":%s,`+
		`"event_id":%s,"event":%s,"entity":%s,"entity_id":%s,"filtered_out":%s,"body":`,
		str(out.Outcome), status, strconv.FormatFloat(float64(out.Latency.Microseconds())/1000, 'f', -1, 64),
		str(resp), orNull(out.Err), str(out.DeliveryID), str(string(s.EventID)), str(string(s.Event)),
		str(string(s.Entity)), str(s.EntityID), orNull(s.FilteredOut))
	dst = append(dst, body...)
	return append(dst, '}')
}

// preview handles POST …/Webhooks/preview: a create body (validated as create validates
// it, not stored) and an optional limit (1–100, default 10; or the limit query
// parameter); it answers the rendered items of the latest rows of each subscribed entity
// that pass the filters, and the others with the failing filter.
func (a *API) preview(w http.ResponseWriter, r *http.Request) *apiError {
	if a.cfg.Trial == nil {
		return errorf(http.StatusNotImplemented, "", "preview is not available on this instance (no sender is configured)")
	}
	limit, limited := defaultPreviewRows, false
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > matcher.MaxPreviewRows {
			return errorf(http.StatusBadRequest, "limit", fmt.Sprintf("limit: %s is not an integer from 1 to %d", shorten(v), matcher.MaxPreviewRows))
		}
		limit, limited = n, true
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	in, aerr := decodeInputWith(body, func(key string, raw json.RawMessage) (bool, *apiError) {
		if key != "limit" {
			return false, nil
		}
		if limited {
			return true, invalid("limit", "given both in the body and as a query parameter")
		}
		var n int
		if jsonx.Kind(raw) != "number" || json.Unmarshal(raw, &n) != nil || n < 1 || n > matcher.MaxPreviewRows {
			return true, invalid("limit", "must be an integer from 1 to %d, got %s", matcher.MaxPreviewRows, shorten(string(raw)))
		}
		limit = n
		return true, nil
	})
	if aerr != nil {
		return aerr
	}
	wh, aerr := a.webhookOf(r.Context(), r.PathValue("space_id"), in)
	if aerr != nil {
		return aerr
	}
	p, err := a.cfg.Trial.Preview(r.Context(), wh, limit)
	if err != nil {
		return storeError(err)
	}
	writeRaw(w, http.StatusOK, appendPreview(nil, limit, p))
	return nil
}

// appendPreview appends the data of a preview response; items are embedded exactly as
// rendered.
func appendPreview(dst []byte, limit int, p *matcher.Preview) []byte {
	dst = fmt.Appendf(dst, `{"limit":%d,"items":[`, limit)
	for i, it := range p.Items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, it...)
	}
	out := p.FilteredOut
	if out == nil {
		out = []matcher.Rejection{}
	}
	b, _ := json.Marshal(out)
	dst = append(dst, `],"filtered_out":`...)
	dst = append(dst, b...)
	return append(dst, '}')
}
