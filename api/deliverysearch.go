package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/matcher"
)

// maxSearchBytes bounds an event id, entity or entity id searched for.
const maxSearchBytes = 512

// outcomeWord is what an outcome looks like when Config.Outcomes does not list them.
var outcomeWord = regexp.MustCompile(`^[a-z][a-z_]{0,39}$`)

// parseFilter reads the search of GET …/{id}/deliveries: event_id, entity, entity_id,
// status (an outcome word or an HTTP status code) and since (RFC 3339). A malformed
// parameter is a 400 naming it.
func (a *API) parseFilter(r *http.Request) (DeliveryFilter, *apiError) {
	q := r.URL.Query()
	var f DeliveryFilter
	for _, p := range []struct {
		key string
		dst *string
	}{{"event_id", &f.EventID}, {"entity", &f.Entity}, {"entity_id", &f.EntityID}} {
		if !q.Has(p.key) {
			continue
		}
		v := q.Get(p.key)
		switch {
		case v == "":
			return f, errorf(http.StatusBadRequest, p.key, p.key+": must not be empty")
		case len(v) > maxSearchBytes:
			return f, errorf(http.StatusBadRequest, p.key, fmt.Sprintf("%s: longer than %d bytes", p.key, maxSearchBytes))
		}
		*p.dst = v
	}
	if f.Entity != "" && f.EntityID == "" {
		return f, errorf(http.StatusBadRequest, "entity", "entity: narrows entity_id, which is missing (entity=Account&entity_id=42)")
	}
	if q.Has("status") {
		var aerr *apiError
		if f.Outcome, f.Status, aerr = a.parseStatus("status", q.Get("status")); aerr != nil {
			return f, aerr
		}
	}
	if q.Has("since") {
		t, aerr := parseTime("since", q.Get("since"))
		if aerr != nil {
			return f, aerr
		}
		f.Since = t
	}
	return f, nil
}

// parseStatus reads an attempt's status: an outcome word (Config.Outcomes) or an HTTP
// status code from 100 to 599.
func (a *API) parseStatus(key, v string) (outcome string, status int, aerr *apiError) {
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return "", 0, errorf(http.StatusBadRequest, key, fmt.Sprintf("%s: %s is not an HTTP status code (100 to 599)", key, shorten(v)))
		}
		return "", n, nil
	}
	if len(a.cfg.Outcomes) > 0 && slices.Contains(a.cfg.Outcomes, v) || len(a.cfg.Outcomes) == 0 && outcomeWord.MatchString(v) {
		return v, 0, nil
	}
	words := "an outcome word"
	if len(a.cfg.Outcomes) > 0 {
		words = "an outcome (" + strings.Join(a.cfg.Outcomes, ", ") + ")"
	}
	return "", 0, errorf(http.StatusBadRequest, key, fmt.Sprintf("%s: %s is not %s or an HTTP status code", key, shorten(v), words))
}

// parseTime reads an RFC 3339 time.
func parseTime(key, v string) (time.Time, *apiError) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, key, fmt.Sprintf("%s: %s is not an RFC 3339 time (such as 2026-11-30T14:17:00Z)", key, shorten(v)))
	}
	return t, nil
}

// delivery handles GET /{id}/deliveries/{delivery_id}.
func (a *API) delivery(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := a.logTarget(r)
	if aerr != nil {
		return aerr
	}
	deliveryID := r.PathValue("delivery_id")
	c, err := a.cfg.Deliveries.Delivery(r.Context(), id, deliveryID)
	if errors.Is(err, matcher.ErrNotFound) {
		return errorf(http.StatusNotFound, "delivery_id", "delivery_id: "+shorten(deliveryID)+" not found in the delivery log")
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// replayFields are the members of a replay body.
const replayFields = "since, until, status"

// replay handles POST /{id}/replay with {"since": RFC 3339, "until": RFC 3339 (default
// now), "status": an outcome word or an HTTP status code (optional)}. Every mistake is
// a 400 naming the field.
func (a *API) replay(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := a.logTarget(r)
	if aerr != nil {
		return aerr
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	rw, aerr := a.decodeReplay(body, time.Now())
	if aerr != nil {
		return aerr
	}
	res, err := a.cfg.Deliveries.Replay(r.Context(), id, rw)
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// decodeReplay decodes and validates a replay body; until defaults to now.
func (a *API) decodeReplay(body []byte, now time.Time) (ReplayWindow, *apiError) {
	var rw ReplayWindow
	if !json.Valid(body) {
		return rw, errorf(http.StatusBadRequest, "", "body: malformed JSON: "+syntaxError(body))
	}
	members, err := jsonx.DecodeObject("body", body)
	if err != nil {
		return rw, errorf(http.StatusBadRequest, "", err.Error())
	}
	bad := func(aerr *apiError) *apiError {
		aerr.status = http.StatusBadRequest
		return aerr
	}
	var hasSince, hasUntil bool
	for _, mb := range members {
		switch mb.Key {
		case "since", "until":
			v, aerr := decodeRequired[string](mb.Key, mb.Value, "string (an RFC 3339 time)")
			if aerr != nil {
				return rw, bad(aerr)
			}
			t, aerr := parseTime(mb.Key, *v)
			if aerr != nil {
				return rw, aerr
			}
			if mb.Key == "since" {
				rw.Since, hasSince = t, true
			} else {
				rw.Until, hasUntil = t, true
			}
		case "status":
			var v string
			switch jsonx.Kind(mb.Value) {
			case "null":
				continue
			case "number", "string":
				if err := json.Unmarshal(mb.Value, &v); err != nil {
					v = string(mb.Value) // a number
				}
			default:
				return rw, errorf(http.StatusBadRequest, "status", "status: must be an outcome word or an HTTP status code, got "+jsonx.Kind(mb.Value))
			}
			var aerr *apiError
			if rw.Outcome, rw.Status, aerr = a.parseStatus("status", v); aerr != nil {
				return rw, aerr
			}
		default:
			return rw, errorf(http.StatusBadRequest, mb.Key, fmt.Sprintf("%s: unknown field (fields: %s)", shorten(mb.Key), replayFields))
		}
	}
	if !hasSince {
		return rw, errorf(http.StatusBadRequest, "since", "since: required (an RFC 3339 time: the start of the window)")
	}
	if !hasUntil {
		rw.Until = now
	}
	if !rw.Until.After(rw.Since) {
		return rw, errorf(http.StatusBadRequest, "until", fmt.Sprintf("until: %s is not after since (%s)",
			rw.Until.Format(time.RFC3339Nano), rw.Since.Format(time.RFC3339Nano)))
	}
	return rw, nil
}
