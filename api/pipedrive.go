package api

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
)

// PipedrivePath is the collection of Pipedrive's webhooks API (DESIGN.md §12), at the path
// of Pipedrive's own (https://api.pipedrive.com/v1/webhooks).
const PipedrivePath = "/v1/webhooks"

// PipedriveStore is what the Pipedrive API needs of the webhook store beyond Store;
// *matcher.Store satisfies it. Pipedrive webhooks are walhook webhooks with a Pipedrive
// id, so the delivery log, dead letters, redeliver and pause/resume of the Pipeliner API
// work for them (by their walhook id). Methods taking a Pipedrive id answer an error
// wrapping matcher.ErrNotFound for an unknown or deleted one.
type PipedriveStore interface {
	// CreatePipedrive stores wh with its Pipedrive fields and format in one statement.
	CreatePipedrive(ctx context.Context, wh *matcher.Webhook) (*matcher.Webhook, error)
	// Pipedrive lists the live Pipedrive webhooks by id; only one when id > 0.
	Pipedrive(ctx context.Context, id int64) ([]matcher.PipedriveWebhook, error)
	// DeletePipedrive deletes the live Pipedrive webhook id.
	DeletePipedrive(ctx context.Context, id int64) error
}

var _ PipedriveStore = (*matcher.Store)(nil)

// pipedriveRoutes are Pipedrive's webhook endpoints. They answer in Pipedrive's shapes
// (pdWrap), not the Pipeliner envelope.
func pipedriveRoutes() []route {
	return []route{
		{method: "POST", path: PipedrivePath, name: "pipedrive_create", serve: (*API).pdCreate},
		{method: "GET", path: PipedrivePath, name: "pipedrive_list", serve: (*API).pdList},
		{method: "GET", path: PipedrivePath + "/{id}", name: "pipedrive_get", serve: (*API).pdGet},
		{method: "DELETE", path: PipedrivePath + "/{id}", name: "pipedrive_delete", serve: (*API).pdDelete},
	}
}

// registerPipedrive adds Pipedrive's routes to mux, with their metrics labels.
func (a *API) registerPipedrive(mux *http.ServeMux) {
	a.pd, _ = a.cfg.Store.(PipedriveStore)
	methods := map[string][]string{}
	for _, rt := range pipedriveRoutes() {
		mux.Handle(rt.method+" "+rt.path, a.pdWrap(rt))
		methods[rt.path] = append(methods[rt.path], rt.method)
		a.met.duration.WithLabelValues(rt.name)
		for _, c := range []string{"2xx", "4xx", "5xx"} {
			a.met.requests.WithLabelValues(rt.name, c)
		}
	}
	for path, ms := range methods {
		allow := strings.Join(ms, ", ")
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writePipedriveError(w, errorf(http.StatusMethodNotAllowed, "", "method "+r.Method+" not allowed here (allowed: "+allow+")"))
		}))
	}
	mux.Handle("/v1/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writePipedriveError(w, errorf(http.StatusNotFound, "", "no such endpoint"))
	}))
}

// pdWrap is wrap for Pipedrive's routes: the token may also come as the api_token query
// parameter or the x-api-token header, and errors take Pipedrive's shapes.
func (a *API) pdWrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer a.finish(rt, r, sw, start, writePipedriveError)
		t, ok := a.pdToken(r)
		if !ok {
			writePipedriveError(sw, errorf(http.StatusUnauthorized, "", "unauthorized access: missing or invalid api_token (query parameter api_token, header x-api-token, or Authorization: Bearer)"))
			return
		}
		if t.spaces != nil {
			// Pipedrive webhooks have no space: they are visible in every one, so only a
			// token that may act in every space manages them.
			writePipedriveError(sw, errorf(http.StatusForbidden, "", "this API token is limited to spaces; Pipedrive webhooks belong to every space and need a token without @spaces"))
			return
		}
		if a.pd == nil {
			writePipedriveError(sw, errorf(http.StatusNotImplemented, "", "this store keeps no Pipedrive webhooks"))
			return
		}
		if err := rt.serve(a, sw, r); err != nil {
			if err.status == http.StatusInternalServerError {
				a.log.Error("api request failed", "route", rt.name, "err", err.msg)
				err.msg = "internal error"
			}
			writePipedriveError(sw, err)
		}
	})
}

// pdToken returns the configured token r carries in any of Pipedrive's places.
func (a *API) pdToken(r *http.Request) (apiToken, bool) {
	if t, ok := a.tokens.find(r); ok {
		return t, true
	}
	for _, given := range []string{r.URL.Query().Get("api_token"), r.Header.Get("X-Api-Token")} {
		if given != "" {
			if t, ok := a.tokens.match(given); ok {
				return t, true
			}
		}
	}
	return apiToken{}, false
}

// writePipedriveError writes Pipedrive's error shapes: a validation error (one naming a
// field) as 400 {"success":false,"status":"error","errors":{field: message}}, anything
// else as {"success":false,"error":message} with its status.
func writePipedriveError(w http.ResponseWriter, e *apiError) {
	var b []byte
	status := e.status
	if e.field != "" && (status == http.StatusUnprocessableEntity || status == http.StatusBadRequest) {
		status = http.StatusBadRequest
		b, _ = json.Marshal(map[string]any{"success": false, "status": "error", "errors": map[string]string{e.field: e.msg}})
	} else {
		b, _ = json.Marshal(map[string]any{"success": false, "error": e.msg})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writePipedrive writes {"success":true,"status":"ok"} with "data" when data is not nil.
func writePipedrive(w http.ResponseWriter, status int, data []byte) {
	b := []byte(`{"success":true,"status":"ok"`)
	if data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	b = append(b, '}', '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// pdActions maps both versions' event_action vocabularies to walhook's actions. merged has
// no source in a CRM database (nil).
var pdActions = map[string][]event.Action{
	"added": {event.ActionCreate}, "create": {event.ActionCreate},
	"updated": {event.ActionUpdate}, "change": {event.ActionUpdate},
	"deleted": {event.ActionDelete}, "delete": {event.ActionDelete},
	"merged": nil,
	"*":      {event.ActionCreate, event.ActionUpdate, event.ActionDelete},
}

// pdCreate handles POST /v1/webhooks, with a form-urlencoded or JSON body.
func (a *API) pdCreate(w http.ResponseWriter, r *http.Request) *apiError {
	in, aerr := a.pdInput(w, r)
	if aerr != nil {
		return aerr
	}
	wh, aerr := a.pdWebhook(r.Context(), in)
	if aerr != nil {
		return aerr
	}
	created, err := a.pd.CreatePipedrive(r.Context(), wh)
	if err != nil {
		return storeError(err)
	}
	writePipedrive(w, http.StatusCreated, appendPipedriveWebhook(nil, matcher.PipedriveWebhook{Webhook: created}))
	return nil
}

// pdInput reads a create body, form-urlencoded (what Pipedrive documents) or JSON (what
// its current client sends), into field → text. JSON numbers keep their text; null is
// absent.
func (a *API) pdInput(w http.ResponseWriter, r *http.Request) (map[string]string, *apiError) {
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return nil, aerr
	}
	in := map[string]string{}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" || (ct == "" && len(strings.TrimSpace(string(body))) > 0 && strings.TrimSpace(string(body))[0] == '{') {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, errorf(http.StatusBadRequest, "", "the body is not a JSON object: "+syntaxError(body))
		}
		for k, v := range raw {
			var s string
			switch {
			case string(v) == "null":
				continue
			case json.Unmarshal(v, &s) == nil:
				in[k] = s
			case jsonx.Kind(v) == "number" || jsonx.Kind(v) == "boolean":
				in[k] = string(v)
			default:
				return nil, invalid(k, "must be a string or a number")
			}
		}
		return in, nil
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "", "the body is neither JSON nor form-urlencoded: "+err.Error())
	}
	for k := range vals {
		in[k] = vals.Get(k)
	}
	return in, nil
}

// pdWebhook validates a create body and returns the webhook to store. Every error names
// its field.
func (a *API) pdWebhook(ctx context.Context, in map[string]string) (*matcher.Webhook, *apiError) {
	for _, f := range []string{"subscription_url", "event_action", "event_object"} {
		if in[f] == "" {
			return nil, invalid(f, "required")
		}
	}
	action, object := in["event_action"], in["event_object"]
	acts, ok := pdActions[action]
	if !ok {
		return nil, invalid("event_action", "%s is not an event action (added, updated, deleted, merged, * or v2's create, change, delete, *)", shorten(action))
	}
	if object != "*" && !contains(mapping.PipedriveObjects, object) {
		return nil, invalid("event_object", "%s is not an event object (%s or *)", shorten(object), strings.Join(mapping.PipedriveObjects, ", "))
	}
	if acts == nil {
		return nil, invalid("event_action", "merged has no source in a CRM database: walhook sees a merge as the changes and deletes it makes")
	}
	version := in["version"]
	switch version {
	case "":
		version = "2.0"
	case "1.0", "2.0":
	default:
		return nil, invalid("version", "%s is not a webhooks version (1.0 or 2.0)", shorten(version))
	}
	var userID int64
	if s := in["user_id"]; s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, invalid("user_id", "%s is not a user id (a non-negative integer)", shorten(s))
		}
		userID = n
	}
	if len(in["name"]) > 255 {
		return nil, invalid("name", "longer than 255 bytes")
	}
	if a.validator == nil {
		return nil, errorf(http.StatusInternalServerError, "", "api: no mapping configured")
	}
	events, objects := a.cfg.Mapping.PipedriveEvents(object, acts)
	if len(events) == 0 {
		return nil, invalid("event_object", "the mapping provides no %s for event_action %s (set pipedrive: %s on an entity of the mapping; notes are the comments of links with action Comment and are only added)",
			object, action, object)
	}
	if err := a.checkURL(ctx, in["subscription_url"]); err != nil {
		err.field, err.msg = "subscription_url", "subscription_url"+strings.TrimPrefix(err.msg, "url")
		return nil, err
	}
	wh := &matcher.Webhook{
		URL: in["subscription_url"], Events: events, Options: json.RawMessage("{}"),
		HTTPAuthUser: in["http_auth_user"], HTTPAuthPassword: in["http_auth_password"],
		Signing: matcher.SigningPipeliner, Format: matcher.FormatPipedriveV2,
		Pipedrive: &matcher.Pipedrive{EventAction: action, EventObject: object, Version: version,
			Name: in["name"], UserID: userID, Objects: objects},
	}
	if version == "1.0" {
		wh.Format = matcher.FormatPipedriveV1
	}
	if err := a.checkWebhook(wh); err != nil {
		return nil, err
	}
	return wh, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// pdList handles GET /v1/webhooks: every webhook created through this API.
func (a *API) pdList(w http.ResponseWriter, r *http.Request) *apiError {
	whs, err := a.pd.Pipedrive(r.Context(), 0)
	if err != nil {
		return storeError(err)
	}
	b := []byte{'['}
	for i, wh := range whs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendPipedriveWebhook(b, wh)
	}
	writePipedrive(w, http.StatusOK, append(b, ']'))
	return nil
}

// pdGet handles GET /v1/webhooks/{id}.
func (a *API) pdGet(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := pdID(r)
	if aerr != nil {
		return aerr
	}
	whs, err := a.pd.Pipedrive(r.Context(), id)
	if err != nil {
		return pdStoreError(err)
	}
	writePipedrive(w, http.StatusOK, appendPipedriveWebhook(nil, whs[0]))
	return nil
}

// pdDelete handles DELETE /v1/webhooks/{id}.
func (a *API) pdDelete(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := pdID(r)
	if aerr != nil {
		return aerr
	}
	if err := a.pd.DeletePipedrive(r.Context(), id); err != nil {
		return pdStoreError(err)
	}
	writePipedrive(w, http.StatusOK, nil)
	return nil
}

// pdID reads the integer id of the path; anything else is an unknown webhook.
func pdID(r *http.Request) (int64, *apiError) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusNotFound, "", "Webhook not found")
	}
	return id, nil
}

func pdStoreError(err error) *apiError {
	if errors.Is(err, matcher.ErrNotFound) {
		return errorf(http.StatusNotFound, "", "Webhook not found")
	}
	return storeError(err)
}

// pdTime writes Pipedrive's timestamps: UTC, "2006-01-02 15:04:05".
func pdTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.DateTime)
}

// appendPipedriveWebhook appends Pipedrive's WEBHOOK (DESIGN.md §12) for wh, with
// walhook's own id (walhook_id) and status in additional_data; http_auth_password masked.
// company_id, owner_id and admin_id have no source in a CRM database: 0, or the user_id
// given on create for owner_id and admin_id.
func appendPipedriveWebhook(dst []byte, wh matcher.PipedriveWebhook) []byte {
	pd := wh.Pipedrive
	if pd == nil {
		pd = &matcher.Pipedrive{}
	}
	nullable := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	password := ""
	if wh.HTTPAuthPassword != "" {
		password = passwordMask
	}
	active := 1
	if wh.Held() {
		active = 0
	}
	status := wh.Status
	if status == "" {
		status = matcher.StatusActive
	}
	var lastStatus any
	if wh.LastStatus != nil {
		lastStatus = *wh.LastStatus
	}
	created := wh.Created
	type additional struct {
		WalhookID      string   `json:"walhook_id"`
		Status         string   `json:"status"`
		DisabledReason *string  `json:"disabled_reason"`
		Events         []string `json:"events"`
	}
	v := struct {
		ID               int64      `json:"id"`
		WalhookID        string     `json:"walhook_id"`
		CompanyID        int64      `json:"company_id"`
		OwnerID          int64      `json:"owner_id"`
		UserID           int64      `json:"user_id"`
		EventAction      string     `json:"event_action"`
		EventObject      string     `json:"event_object"`
		SubscriptionURL  string     `json:"subscription_url"`
		IsActive         int        `json:"is_active"`
		AddTime          any        `json:"add_time"`
		RemoveTime       any        `json:"remove_time"`
		Type             string     `json:"type"`
		HTTPAuthUser     any        `json:"http_auth_user"`
		HTTPAuthPassword any        `json:"http_auth_password"`
		AdditionalData   additional `json:"additional_data"`
		RemoveReason     any        `json:"remove_reason"`
		LastDeliveryTime any        `json:"last_delivery_time"`
		LastHTTPStatus   any        `json:"last_http_status"`
		AdminID          int64      `json:"admin_id"`
		Version          string     `json:"version"`
		Name             string     `json:"name"`
	}{
		ID: pd.ID, WalhookID: wh.ID, OwnerID: pd.UserID, UserID: pd.UserID,
		EventAction: pd.EventAction, EventObject: pd.EventObject, SubscriptionURL: wh.URL,
		IsActive: active, AddTime: pdTime(&created), Type: "general",
		HTTPAuthUser: nullable(wh.HTTPAuthUser), HTTPAuthPassword: nullable(password),
		AdditionalData:   additional{WalhookID: wh.ID, Status: status, Events: wh.Events},
		LastDeliveryTime: pdTime(wh.LastAttempt), LastHTTPStatus: lastStatus,
		AdminID: pd.UserID, Version: pd.Version, Name: pd.Name,
	}
	if wh.DisabledReason != "" {
		v.AdditionalData.DisabledReason = &wh.DisabledReason
		v.RemoveReason = wh.DisabledReason
	}
	b, _ := json.Marshal(v)
	return append(dst, b...)
}
