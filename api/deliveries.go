package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/matcher"
)

// DeliveryLog serves a webhook's delivery sub-resources; the sender implements it
// (wired in package pipeline). Every method is called only for a webhook that exists,
// with arguments the API has validated; a dead letter or a delivery that does not exist
// is an error wrapping matcher.ErrNotFound. Methods must be safe for concurrent use.
type DeliveryLog interface {
	// Deliveries returns one page of the webhook's delivery attempts that f selects,
	// newest first, as a JSON-encodable slice, and how many there are in all.
	Deliveries(ctx context.Context, webhookID string, f DeliveryFilter, p Page) (items any, total int, err error)
	// Delivery returns one logged chunk of the webhook, by delivery id: its items' ids,
	// its attempts and its request body while retained, JSON-encodable.
	Delivery(ctx context.Context, webhookID, deliveryID string) (any, error)
	// DeadLetters returns one page of the webhook's dead-lettered chunks (in the
	// implementation's order) and how many there are in all.
	DeadLetters(ctx context.Context, webhookID string, p Page) (items any, total int, err error)
	// Redeliver queues the dead letter deadLetterID of the webhook for delivery again, or
	// all of its dead letters when deadLetterID is "", and returns how many were queued.
	Redeliver(ctx context.Context, webhookID, deadLetterID string) (int, error)
	// Replay queues again the logged chunks of the webhook in w and answers what it did,
	// JSON-encodable ({"replayed": n, "skipped": {reason: n}}).
	Replay(ctx context.Context, webhookID string, w ReplayWindow) (any, error)
}

// DeliveryFilter is the search of GET …/{id}/deliveries; zero fields select everything.
type DeliveryFilter struct {
	// EventID: attempts of chunks carrying that event.
	EventID string
	// EntityID: attempts of chunks carrying an item of that entity id; Entity, set only
	// with EntityID, narrows it to one entity.
	Entity, EntityID string
	// Outcome (a word of Config.Outcomes) or Status (an HTTP status): attempts that ended
	// so. At most one is set.
	Outcome string
	Status  int
	// Since: attempts made at or after it.
	Since time.Time
}

// ReplayWindow is the body of POST …/{id}/replay: the chunks whose first attempt was
// made in [Since, Until) and, with Outcome or Status, whose latest attempt ended so.
type ReplayWindow struct {
	Since, Until time.Time
	Outcome      string
	Status       int
}

func (a *API) deliveries(w http.ResponseWriter, r *http.Request) *apiError {
	f, aerr := a.parseFilter(r)
	if aerr != nil {
		return aerr
	}
	return a.listLog(w, r, func(ctx context.Context, id string, p Page) (any, int, error) {
		return a.cfg.Deliveries.Deliveries(ctx, id, f, p)
	})
}

func (a *API) deadLetters(w http.ResponseWriter, r *http.Request) *apiError {
	return a.listLog(w, r, func(ctx context.Context, id string, p Page) (any, int, error) {
		return a.cfg.Deliveries.DeadLetters(ctx, id, p)
	})
}

func (a *API) listLog(w http.ResponseWriter, r *http.Request, fetch func(context.Context, string, Page) (any, int, error)) *apiError {
	id, aerr := a.logTarget(r)
	if aerr != nil {
		return aerr
	}
	p, aerr := parsePage(r)
	if aerr != nil {
		return aerr
	}
	items, total, err := fetch(r.Context(), id, p)
	if err != nil {
		return storeError(err)
	}
	data, err := json.Marshal(items)
	if err != nil {
		return errorf(http.StatusInternalServerError, "", "encode delivery log: "+err.Error())
	}
	if string(data) == "null" {
		data = []byte("[]")
	}
	n := 0
	var arr []json.RawMessage
	if json.Unmarshal(data, &arr) == nil {
		n = len(arr)
	}
	writeRaw(w, http.StatusOK, data, pageInfo(p, n, total))
	return nil
}

// redeliver handles POST /{id}/redeliver with {"dead_letter_id": "…"} (one) or an empty
// body or {} (all).
func (a *API) redeliver(w http.ResponseWriter, r *http.Request) *apiError {
	id, aerr := a.logTarget(r)
	if aerr != nil {
		return aerr
	}
	body, aerr := readBody(w, r, a.cfg.MaxBodyBytes)
	if aerr != nil {
		return aerr
	}
	deadLetter := ""
	if len(body) > 0 {
		if !json.Valid(body) {
			return errorf(http.StatusBadRequest, "", "body: malformed JSON: "+syntaxError(body))
		}
		members, err := jsonx.DecodeObject("body", body)
		if err != nil {
			return errorf(http.StatusBadRequest, "", err.Error())
		}
		for _, mb := range members {
			if mb.Key != "dead_letter_id" {
				return invalid(mb.Key, "unknown field (fields: dead_letter_id)")
			}
			v, aerr := decodeNullable[string]("dead_letter_id", mb.Value, "string")
			if aerr != nil {
				return aerr
			}
			if *v != nil {
				deadLetter = **v
			}
		}
	}
	n, err := a.cfg.Deliveries.Redeliver(r.Context(), id, deadLetter)
	if errors.Is(err, matcher.ErrNotFound) && deadLetter != "" {
		return errorf(http.StatusNotFound, "dead_letter_id", "dead_letter_id: "+shorten(deadLetter)+" not found")
	}
	if err != nil {
		return storeError(err)
	}
	writeJSON(w, http.StatusOK, map[string]int{"redelivered": n})
	return nil
}

// logTarget checks that the delivery log is wired and the webhook exists.
func (a *API) logTarget(r *http.Request) (string, *apiError) {
	wh, aerr := a.wiredLookup(r, a.cfg.Deliveries != nil, "the delivery log")
	if aerr != nil {
		return "", aerr
	}
	return wh.ID, nil
}

// wiredLookup answers 501 naming what when the feature a route needs is not wired on this
// instance (wired false), and otherwise the path's webhook, as lookup does.
func (a *API) wiredLookup(r *http.Request, wired bool, what string) (*matcher.Webhook, *apiError) {
	if !wired {
		return nil, errorf(http.StatusNotImplemented, "", what+" is not available on this instance")
	}
	return a.lookup(r)
}
