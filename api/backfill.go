package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/walhook/walhook/backfill"
	"github.com/walhook/walhook/internal/jsonx"
)

// Backfills serves a webhook's backfill (DESIGN.md §14); *backfill.Service satisfies it.
// Every method is called only for a webhook that exists and the caller may see.
type Backfills interface {
	// Start starts a backfill; a request the mapping does not accept is a
	// *matcher.ValidationError, a webhook with one running backfill.ErrRunning.
	Start(ctx context.Context, webhookID string, req backfill.Request) (*backfill.Backfill, error)
	// Latest returns the webhook's latest backfill (an error wrapping matcher.ErrNotFound
	// when it has none); Cancel cancels its running one.
	Latest(ctx context.Context, webhookID string) (*backfill.Backfill, error)
	Cancel(ctx context.Context, webhookID string) (*backfill.Backfill, error)
}

var _ Backfills = (*backfill.Service)(nil)

// backfillTarget checks that backfills are wired and the webhook exists.
func (a *API) backfillTarget(r *http.Request) (string, *apiError) {
	wh, aerr := a.wiredLookup(r, a.cfg.Backfills != nil, "backfill")
	if aerr != nil {
		return "", aerr
	}
	return wh.ID, nil
}

// startBackfill handles POST …/{id}/backfill with {"entities": [...], "filter": {...},
// "rate": n}.
func (a *API) startBackfill(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := a.backfillTarget(r)
	if aerr != nil {
		return aerr
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	if !json.Valid(body) {
		return errorf(http.StatusBadRequest, "", "body: malformed JSON: "+syntaxError(body))
	}
	members, err := jsonx.DecodeObject("body", body)
	if err != nil {
		return errorf(http.StatusBadRequest, "", err.Error())
	}
	var req backfill.Request
	for _, mb := range members {
		switch mb.Key {
		case "entities":
			v, aerr := decodeRequired[[]string]("entities", mb.Value, "array of entity names")
			if aerr != nil {
				return aerr
			}
			req.Entities = *v
		case "filter":
			if k := jsonx.Kind(mb.Value); k != "object" && k != "null" {
				return invalid("filter", "must be an object ({\"Opportunity\": {\"filter\": {...}, \"filter-op\": {...}}}), got %s", k)
			}
			req.Filter = mb.Value
		case "rate":
			v, aerr := decodeNullable[int]("rate", mb.Value, "integer")
			if aerr != nil {
				return aerr
			}
			if *v != nil {
				if **v <= 0 {
					return invalid("rate", "must be between 1 and %d rows per second", backfill.MaxRate)
				}
				req.Rate = **v
			}
		default:
			return invalid(mb.Key, "unknown field (fields: entities, filter, rate)")
		}
	}
	if req.Entities == nil {
		return invalid("entities", "required: the entities whose current rows to send")
	}
	b, err := a.cfg.Backfills.Start(r.Context(), id, req)
	if errors.Is(err, backfill.ErrRunning) {
		return errorf(http.StatusConflict, "id", "a backfill of this webhook is running: wait for it or cancel it (DELETE …/backfill)")
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusAccepted, b)
	return nil
}

// getBackfill handles GET …/{id}/backfill: the latest backfill and its progress.
func (a *API) getBackfill(w http.ResponseWriter, r *http.Request) *apiError {
	return a.backfillCall(w, r, Backfills.Latest, "this webhook has no backfill")
}

// cancelBackfill handles DELETE …/{id}/backfill: cancels the running backfill.
func (a *API) cancelBackfill(w http.ResponseWriter, r *http.Request) *apiError {
	return a.backfillCall(w, r, Backfills.Cancel, "this webhook has no running backfill")
}

func (a *API) backfillCall(w http.ResponseWriter, r *http.Request, call func(Backfills, context.Context, string) (*backfill.Backfill, error), none string) *apiError {
	id, aerr := a.backfillTarget(r)
	if aerr != nil {
		return aerr
	}
	b, err := call(a.cfg.Backfills, r.Context(), id)
	if errors.Is(err, backfill.ErrNotFound) {
		return errorf(http.StatusNotFound, "backfill", none)
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
