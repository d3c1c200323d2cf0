package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/uuidx"
)

// maxCommandBytes bounds a command's body.
const maxCommandBytes = 1 << 20

// params are a command's parameters: query parameters, form fields and the members of a
// JSON object body, the body's winning over the query's.
type params map[string]json.RawMessage

func readParams(r *http.Request) (params, *httpError) {
	p := params{}
	for k, vs := range r.URL.Query() {
		p[k] = appendString(nil, vs[len(vs)-1])
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxCommandBytes))
	if err != nil {
		return nil, errorf(http.StatusRequestEntityTooLarge, "", "command body over %d bytes, or unreadable", maxCommandBytes)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return p, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "", "form body: %v", err)
		}
		for k, vs := range vals {
			p[k] = appendString(nil, vs[len(vs)-1])
		}
		return p, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return nil, errorf(http.StatusBadRequest, "", "command body must be a JSON object of parameters (or use query parameters)")
	}
	for k, v := range obj {
		p[k] = v
	}
	return p, nil
}

// str returns a string parameter; ok is false when it is absent or null.
func (p params) str(name string) (s string, ok bool, e *httpError) {
	raw, present := p[name]
	if !present || string(raw) == "null" {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, errorf(http.StatusUnprocessableEntity, name, "%s: must be a string", name)
	}
	return s, true, nil
}

// verify returns the verify parameter: an object, or (from a query) its JSON text; null
// or "" clears it. set is false when it is absent.
func (p params) verify() (v *Verify, set bool, e *httpError) {
	raw, present := p["verify"]
	if !present {
		return nil, false, nil
	}
	if s := ""; json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return nil, true, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	v = &Verify{}
	if err := dec.Decode(v); err != nil {
		return nil, false, errorf(http.StatusUnprocessableEntity, "verify",
			`verify: must be {"type":"standard-webhooks","secret":"whsec_…"} or {"type":"hmac-sha256","header":"X-Signature","secret":"…"} (%v)`, err)
	}
	if err := v.check(); err != nil {
		field, _, _ := strings.Cut(err.Error(), ":")
		return nil, false, errorf(http.StatusUnprocessableEntity, field, "%v", err)
	}
	return v, true, nil
}

// webhookOut is an inbound webhook as the commands answer it.
type webhookOut struct {
	UUID        string    `json:"uuid"`
	EventKey    string    `json:"eventKey"`
	WebhookURL  string    `json:"webhookUrl"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
	Description string    `json:"description"`
	Verify      *Verify   `json:"verify"`
}

func (s *Service) out(r *http.Request, wh *Webhook) webhookOut {
	base := s.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return webhookOut{UUID: wh.UUID, EventKey: wh.EventKey, WebhookURL: base + ReceivePath + "?uuid=" + wh.UUID,
		Created: wh.Created.UTC(), Modified: wh.Modified.UTC(), Description: wh.Description, Verify: wh.Verify.masked()}
}

// put creates an inbound webhook (no uuid) or edits one (uuid): webhook.put.
func (s *Service) put(w http.ResponseWriter, r *http.Request) *httpError {
	p, e := readParams(r)
	if e != nil {
		return e
	}
	key, hasKey, e := p.str("eventKey")
	if e != nil {
		return e
	}
	if hasKey {
		if err := event.CheckInboundKey(key, false); err != nil {
			return errorf(http.StatusUnprocessableEntity, "eventKey", "eventKey: %q %v", key, err)
		}
	}
	desc, hasDesc, e := p.str("description")
	if e != nil {
		return e
	}
	verify, hasVerify, e := p.verify()
	if e != nil {
		return e
	}
	id, hasID, e := p.str("uuid")
	if e != nil {
		return e
	}
	if !hasID {
		if !hasKey {
			return errorf(http.StatusUnprocessableEntity, "eventKey", "eventKey: required (e.g. webhook.salesforce.lead.created)")
		}
		wh, err := s.st.create(r.Context(), &Webhook{EventKey: key, Description: desc, Verify: verify})
		if err != nil {
			return errorf(http.StatusInternalServerError, "", "%v", err)
		}
		writeJSON(w, http.StatusOK, s.out(r, wh))
		return nil
	}
	var wh *Webhook
	if e := byUUID(id, func(id string) (err error) {
		wh, err = s.st.update(r.Context(), id, func(wh *Webhook) error {
			if hasKey {
				wh.EventKey = key
			}
			if hasDesc {
				wh.Description = desc
			}
			if hasVerify {
				wh.Verify = verify
			}
			return nil
		})
		return err
	}); e != nil {
		return e
	}
	s.forget(wh.UUID)
	writeJSON(w, http.StatusOK, s.out(r, wh))
	return nil
}

// byUUID runs op with id lowercased once id has a UUID's form: a malformed or unknown uuid
// answers 404 naming it, another store error 500.
func byUUID(id string, op func(id string) error) *httpError {
	if !uuidx.Is(id) {
		return errorf(http.StatusNotFound, "uuid", "uuid: no inbound webhook %.64q", id)
	}
	err := op(strings.ToLower(id))
	if errors.Is(err, ErrNotFound) {
		return errorf(http.StatusNotFound, "uuid", "uuid: no inbound webhook %s", id)
	}
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "%v", err)
	}
	return nil
}

// get answers one inbound webhook (uuid) or all of them: webhook.get.
func (s *Service) get(w http.ResponseWriter, r *http.Request) *httpError {
	p, e := readParams(r)
	if e != nil {
		return e
	}
	id, hasID, e := p.str("uuid")
	if e != nil {
		return e
	}
	if !hasID {
		whs, err := s.st.list(r.Context())
		if err != nil {
			return errorf(http.StatusInternalServerError, "", "%v", err)
		}
		out := make([]webhookOut, len(whs))
		for i, wh := range whs {
			out[i] = s.out(r, wh)
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	var wh *Webhook
	if e := byUUID(id, func(id string) (err error) {
		wh, err = s.st.get(r.Context(), id)
		return err
	}); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, s.out(r, wh))
	return nil
}

// delete removes an inbound webhook: webhook.delete. Its URL answers 404 from then on
// (within CacheTTL on other instances).
func (s *Service) delete(w http.ResponseWriter, r *http.Request) *httpError {
	p, e := readParams(r)
	if e != nil {
		return e
	}
	id, hasID, e := p.str("uuid")
	if e != nil {
		return e
	}
	if !hasID {
		return errorf(http.StatusUnprocessableEntity, "uuid", "uuid: required")
	}
	if e := byUUID(id, func(lower string) error {
		id = lower
		return s.st.delete(r.Context(), id)
	}); e != nil {
		return e
	}
	s.forget(id)
	writeJSON(w, http.StatusOK, struct {
		UUID    string `json:"uuid"`
		Deleted bool   `json:"deleted"`
	}{id, true})
	return nil
}

// send sends one outgoing webhook through the durable queue: webhook.send. The target is
// stored (walhook.outgoing_sends) and the body queued for it; the answer is the delivery id,
// the Webhook-Id header of every attempt.
func (s *Service) send(w http.ResponseWriter, r *http.Request) *httpError {
	p, e := readParams(r)
	if e != nil {
		return e
	}
	target, ok, e := p.str("url")
	if e != nil {
		return e
	}
	if u, err := url.Parse(target); !ok || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(http.StatusUnprocessableEntity, "url", "url: required, an http or https URL")
	}
	o := &Outgoing{URL: target}
	var body []byte
	if raw, ok := p["body"]; ok {
		// A string is sent as it is; any other JSON value as its JSON.
		var sb string
		if json.Unmarshal(raw, &sb) == nil {
			body = []byte(sb)
		} else {
			body = raw
		}
	}
	if raw, ok := p["headers"]; ok && string(raw) != "null" {
		if s := ""; json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
		if err := json.Unmarshal(raw, &o.Headers); err != nil {
			return errorf(http.StatusUnprocessableEntity, "headers", "headers: must be an object of header names to string values")
		}
		if s.cfg.CheckHeaders != nil {
			if err := s.cfg.CheckHeaders(o.Headers); err != nil {
				return errorf(http.StatusUnprocessableEntity, "headers", "%v", err)
			}
		}
	}
	if o.Signature, _, e = p.str("signature"); e != nil {
		return e
	}
	if s.cfg.Enqueue == nil {
		return errorf(http.StatusNotImplemented, "", "webhook.send needs the sender, which this instance does not run")
	}
	id, err := s.st.createOutgoing(r.Context(), o)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "%v", err)
	}
	deliveryID, err := s.cfg.Enqueue(r.Context(), id, body)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "%v", err)
	}
	writeJSON(w, http.StatusOK, struct {
		DeliveryID string `json:"deliveryId"`
		URL        string `json:"url"`
	}{deliveryID, target})
	return nil
}
