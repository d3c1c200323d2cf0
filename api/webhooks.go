package api

import (
	"context"
	"encoding/base64"
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

// create handles POST: it validates the whole body, then stores the webhook.
func (a *API) create(w http.ResponseWriter, r *http.Request) *apiError {
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	wh, aerr := a.newWebhook(r.Context(), r.PathValue("space_id"), body)
	if aerr != nil {
		return aerr
	}
	created, err := a.cfg.Store.Create(r.Context(), wh)
	if err != nil {
		return storeError(err)
	}
	// The only response that shows the signature in full (GET …/{id}/secret reads it).
	writeRaw(w, http.StatusOK, appendWebhook(nil, created, true))
	return nil
}

// newWebhook decodes and validates a create body for space and returns the webhook to
// store.
func (a *API) newWebhook(ctx context.Context, space string, body []byte) (*matcher.Webhook, *apiError) {
	in, aerr := decodeInput(body)
	if aerr != nil {
		return nil, aerr
	}
	return a.webhookOf(ctx, space, in)
}

// webhookOf returns the webhook a decoded create body describes, in space, validated as a
// whole; it is not stored. Create, preview and CheckCreate all take their webhook from it.
func (a *API) webhookOf(ctx context.Context, space string, in *input) (*matcher.Webhook, *apiError) {
	switch {
	case in.URL == nil:
		return nil, invalid("url", "required")
	case in.Events == nil:
		return nil, invalid("events", "required: a non-empty array of event names")
	case in.DisabledAt != nil:
		return nil, invalid("disabled_at", "cannot be set on create")
	case in.HTTPAuthPassword != nil && *in.HTTPAuthPassword != nil && **in.HTTPAuthPassword == passwordMask:
		return nil, invalid("http_auth_password", "is the placeholder responses show; send the real password")
	}
	wh := &matcher.Webhook{Options: json.RawMessage("{}"), Space: space}
	in.apply(wh)
	if err := a.checkURL(ctx, wh.URL); err != nil {
		return nil, err
	}
	if err := a.checkWebhook(wh); err != nil {
		return nil, err
	}
	return wh, nil
}

// CheckCreate decodes and validates body, a create body (a JSON object), exactly as POST
// does under space, without storing anything, and returns the webhook POST would store
// (Space set, no ID). Its error is a *matcher.ValidationError naming the field, so
// "walhook apply" validates its file with the API's own rules. Like the API's messages,
// it quotes offending values, but never a password. Safe for concurrent use; it needs
// no Store.
func (a *API) CheckCreate(ctx context.Context, space string, body []byte) (*matcher.Webhook, error) {
	wh, aerr := a.newWebhook(ctx, space, body)
	if aerr != nil {
		reason := strings.TrimPrefix(strings.TrimPrefix(aerr.msg, aerr.field+": "), shorten(aerr.field)+": ")
		return nil, matcher.Invalidf(aerr.field, "%s", reason)
	}
	return wh, nil
}

// apply copies the fields present in in onto wh.
func (in *input) apply(wh *matcher.Webhook) {
	setString(&wh.Name, in.Name)
	if in.URL != nil {
		wh.URL = *in.URL
	}
	if in.Events != nil {
		wh.Events = *in.Events
	}
	if in.InsecureSSL != nil {
		wh.InsecureSSL = *in.InsecureSSL
	}
	if in.Options != nil {
		wh.Options = *in.Options
		if jsonx.Kind(wh.Options) == "null" {
			wh.Options = json.RawMessage("{}")
		}
	}
	if in.Signature == nil || *in.Signature == nil || wh.Signature == "" || **in.Signature != maskSignature(wh.Signature) {
		setString(&wh.Signature, in.Signature) // the masked form sent back keeps the stored signature
	}
	setString(&wh.HTTPAuthUser, in.HTTPAuthUser)
	if in.HTTPAuthPassword != nil && (*in.HTTPAuthPassword == nil || **in.HTTPAuthPassword != passwordMask) {
		setString(&wh.HTTPAuthPassword, in.HTTPAuthPassword)
	}
	setString(&wh.Signing, in.Signing)
	if wh.Signing == "" {
		wh.Signing = matcher.SigningPipeliner
	}
	if in.Headers != nil {
		// A value sent back as the mask keeps the stored one.
		headers := make(map[string]string, len(*in.Headers))
		for k, v := range *in.Headers {
			if old, ok := wh.Headers[k]; ok && v == passwordMask {
				v = old
			}
			headers[k] = v
		}
		wh.Headers = headers
	}
	if in.Timeout != nil {
		wh.Timeout = 0
		if *in.Timeout != nil {
			wh.Timeout = time.Duration(**in.Timeout * float64(time.Second))
		}
	}
	if in.DisabledAt != nil {
		resume(wh)
	}
}

// resume makes a paused or disabled webhook active again.
func resume(wh *matcher.Webhook) {
	wh.Status, wh.DisabledAt, wh.DisabledReason = matcher.StatusActive, nil, ""
}

// pause handles POST …/{id}/pause: an active webhook becomes paused; its matched events
// are held in the durable queue until it is resumed. A disabled webhook stays disabled
// (its events are held already, and its reason is kept); pausing twice is harmless.
func (a *API) pause(w http.ResponseWriter, r *http.Request) *apiError {
	return a.setStatus(w, r, func(wh *matcher.Webhook) {
		if wh.Status != matcher.StatusDisabled {
			wh.Status = matcher.StatusPaused
		}
	})
}

// resume handles POST …/{id}/resume: a paused or disabled webhook becomes active; the
// events held meanwhile are delivered first, in order.
func (a *API) resume(w http.ResponseWriter, r *http.Request) *apiError {
	return a.setStatus(w, r, resume)
}

// setStatus applies change to the stored webhook and answers it. Its body, if any, is
// ignored.
func (a *API) setStatus(w http.ResponseWriter, r *http.Request, change func(*matcher.Webhook)) *apiError {
	updated, err := a.cfg.Store.Update(r.Context(), r.PathValue("id"), func(wh *matcher.Webhook) error {
		if err := inSpace(wh, r); err != nil {
			return err
		}
		change(wh)
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	writeRaw(w, http.StatusOK, appendWebhook(nil, updated, false))
	return nil
}

// secret handles GET …/{id}/secret: the signature in full (null when deliveries are not
// signed), which every other response after create shows masked.
func (a *API) secret(w http.ResponseWriter, r *http.Request) *apiError {
	wh, aerr := a.lookup(r)
	if aerr != nil {
		return aerr
	}
	var v struct {
		Signature *string `json:"signature"`
	}
	if wh.Signature != "" {
		v.Signature = &wh.Signature
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func setString(dst *string, v **string) {
	switch {
	case v == nil:
	case *v == nil:
		*dst = ""
	default:
		*dst = **v
	}
}

// update handles PATCH: the fields present replace the stored ones, and the result is
// validated as a whole, as on create. Sending http_auth_password back as "********" keeps
// the stored password.
func (a *API) update(w http.ResponseWriter, r *http.Request) *apiError {
	id := r.PathValue("id")
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	in, aerr := decodeInput(body)
	if aerr != nil {
		return aerr
	}
	if in.URL != nil {
		// Resolving may take a while: not while the row is locked.
		if err := a.checkURL(r.Context(), *in.URL); err != nil {
			return err
		}
	}
	updated, err := a.cfg.Store.Update(r.Context(), id, func(wh *matcher.Webhook) error {
		if err := inSpace(wh, r); err != nil {
			return err
		}
		in.apply(wh)
		if err := a.checkWebhook(wh); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	writeRaw(w, http.StatusOK, appendWebhook(nil, updated, false))
	return nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request) *apiError {
	wh, aerr := a.lookup(r)
	if aerr != nil {
		return aerr
	}
	writeRaw(w, http.StatusOK, appendWebhook(nil, wh, false))
	return nil
}

// lookup returns the live webhook of the path's id, when it belongs to the path's space
// (404 otherwise, as for an unknown id: a webhook of another space does not exist here).
func (a *API) lookup(r *http.Request) (*matcher.Webhook, *apiError) {
	wh, err := a.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if err == nil {
		err = inSpace(wh, r)
	}
	if err != nil {
		return nil, storeError(err)
	}
	return wh, nil
}

// inSpace answers matcher.ErrNotFound for a webhook of another space than the path's.
// Webhooks stored before spaces were (Space "") belong to every space, for tokens not
// limited to spaces only.
func inSpace(wh *matcher.Webhook, r *http.Request) error {
	if wh.Space == "" && !unrestricted(r) || wh.Space != "" && wh.Space != r.PathValue("space_id") {
		return fmt.Errorf("webhook %s is in another space: %w", wh.ID, matcher.ErrNotFound)
	}
	return nil
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) *apiError {
	if _, aerr := a.lookup(r); aerr != nil {
		return aerr
	}
	if err := a.cfg.Store.Delete(r.Context(), r.PathValue("id")); err != nil {
		return storeError(err)
	}
	writeRaw(w, http.StatusOK, []byte("null"))
	return nil
}

// list handles GET on the collection: live webhooks, oldest first, one page at a time.
func (a *API) list(w http.ResponseWriter, r *http.Request) *apiError {
	p, aerr := parsePage(r)
	if aerr != nil {
		return aerr
	}
	whs, total, err := a.cfg.Store.List(r.Context(), r.PathValue("space_id"), unrestricted(r), p.Offset, p.Limit)
	if err != nil {
		return storeError(err)
	}
	data := []byte{'['}
	for i, wh := range whs {
		if i > 0 {
			data = append(data, ',')
		}
		data = appendWebhook(data, wh, false)
	}
	data = append(data, ']')
	writeRaw(w, http.StatusOK, data, pageInfo(p, len(whs), total))
	return nil
}

// Page is one page of a listing: Offset items skipped, at most Limit returned.
type Page struct {
	Offset int
	Limit  int
}

// Paging limits.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// parsePage reads limit (or first, Pipeliner's name) and offset (or after, a cursor from a
// previous page_info).
func parsePage(r *http.Request) (Page, *apiError) {
	q := r.URL.Query()
	p := Page{Limit: defaultLimit}
	for _, key := range []string{"limit", "first"} {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxLimit {
				return p, errorf(http.StatusBadRequest, key, fmt.Sprintf("%s: %s is not an integer from 1 to %d", key, shorten(v), maxLimit))
			}
			p.Limit = n
		}
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errorf(http.StatusBadRequest, "offset", fmt.Sprintf("offset: %s is not a non-negative integer", shorten(v)))
		}
		p.Offset = n
	}
	if v := q.Get("after"); v != "" {
		n, ok := decodeCursor(v)
		if !ok {
			return p, errorf(http.StatusBadRequest, "after", fmt.Sprintf("after: %s is not a cursor from page_info", shorten(v)))
		}
		p.Offset = n
	}
	return p, nil
}

// Cursors are positions in the listing order, opaque to clients.
func encodeCursor(pos int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(pos)))
}

func decodeCursor(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !strings.HasPrefix(string(b), "o:") {
		return 0, false
	}
	n, err := strconv.Atoi(string(b[2:]))
	return n, err == nil && n >= 0
}

// pageInfo encodes the members that follow data in a listing.
func pageInfo(p Page, n, total int) []byte {
	info := struct {
		StartCursor     *string `json:"start_cursor"`
		EndCursor       *string `json:"end_cursor"`
		HasNextPage     bool    `json:"has_next_page"`
		HasPreviousPage bool    `json:"has_previous_page"`
	}{HasNextPage: p.Offset+n < total, HasPreviousPage: p.Offset > 0}
	if n > 0 {
		start, end := encodeCursor(p.Offset), encodeCursor(p.Offset+n)
		info.StartCursor, info.EndCursor = &start, &end
	}
	b, _ := json.Marshal(info)
	return fmt.Appendf(nil, `,"total":%d,"page_info":%s`, total, b)
}

// storeError turns a Store error into a response.
func storeError(err error) *apiError {
	var ae *apiError
	var ve *matcher.ValidationError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, matcher.ErrNameTaken) && errors.As(err, &ve):
		return errorf(http.StatusConflict, ve.Field, ve.Error())
	case errors.As(err, &ve):
		return errorf(http.StatusUnprocessableEntity, ve.Field, ve.Error())
	case errors.Is(err, matcher.ErrNotFound):
		return errorf(http.StatusNotFound, "id", "webhook not found")
	}
	return errorf(http.StatusInternalServerError, "", err.Error())
}

// appendMaskedHeaders appends the static headers with their values masked (they often
// hold a receiver's bearer token); null when there are none.
func appendMaskedHeaders(dst []byte, h map[string]string) []byte {
	if len(h) == 0 {
		return append(dst, "null"...)
	}
	masked := make(map[string]string, len(h))
	for k := range h {
		masked[k] = passwordMask
	}
	b, _ := json.Marshal(masked) // sorted keys
	return append(dst, b...)
}

// signatureShown is how many leading characters of a signature a masked one keeps.
const signatureShown = 4

// maskSignature returns how responses other than create's show a signature: its first
// four characters and "…" ("0123…"), enough to tell keys apart, not to sign. Sent back
// unchanged in a PATCH, it keeps the stored signature.
func maskSignature(sig string) string {
	if len(sig) <= signatureShown {
		return "…"
	}
	return sig[:signatureShown] + "…"
}

// appendWebhook appends the response form of wh: events and options exactly as stored,
// http_auth_password masked, the signature in full only when fullSignature (the create
// response), masked otherwise.
func appendWebhook(dst []byte, wh *matcher.Webhook, fullSignature bool) []byte {
	str := func(s string) []byte {
		if s == "" {
			return []byte("null")
		}
		b, _ := json.Marshal(s)
		return b
	}
	events, _ := json.Marshal(wh.Events)
	password := ""
	if wh.HTTPAuthPassword != "" {
		password = passwordMask
	}
	disabled := ""
	if wh.DisabledAt != nil {
		disabled = formatTime(*wh.DisabledAt)
	}
	signature := wh.Signature
	if signature != "" && !fullSignature {
		signature = maskSignature(signature)
	}
	status := wh.Status
	if status == "" {
		status = matcher.StatusActive
	}
	options := wh.Options
	if len(options) == 0 {
		options = json.RawMessage("{}")
	}
	dst = fmt.Appendf(dst, `{"id":%s,"name":%s,"url":%s,"events":%s,"insecure_ssl":%t,"signature":%s,"options":`,
		str(wh.ID), str(wh.Name), str(wh.URL), events, wh.InsecureSSL, str(signature))
	dst = append(dst, options...)
	dst = append(dst, pipelinerMetadata...)
	dst = fmt.Appendf(dst, `,"http_auth_user":%s,"http_auth_password":%s,"signing":%s,"created":%s,"modified":%s,"is_deleted":%t,"status":%s,"disabled_at":%s,"disabled_reason":%s,"space_id":%s,"headers":`,
		str(wh.HTTPAuthUser), str(password), str(wh.Signing), str(formatTime(wh.Created)), str(formatTime(wh.Modified)),
		wh.IsDeleted, str(status), str(disabled), str(wh.DisabledReason), str(wh.Space))
	dst = appendMaskedHeaders(dst, wh.Headers)
	if wh.Timeout > 0 {
		return fmt.Appendf(dst, `,"timeout":%s}`, strconv.FormatFloat(wh.Timeout.Seconds(), 'f', -1, 64))
	}
	return append(dst, `,"timeout":null}`...)
}

// formatTime writes RFC 3339 in UTC with microseconds.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}
