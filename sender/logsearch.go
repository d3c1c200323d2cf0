package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/s2"

	"github.com/walhook/walhook/internal/uuidx"
	"github.com/walhook/walhook/matcher"
)

// DeliveryAttempt is one attempt to deliver a chunk, as the delivery log keeps it.
type DeliveryAttempt struct {
	DeliveryID  string    `json:"delivery_id"`
	Attempt     int       `json:"attempt"`
	AttemptedAt time.Time `json:"attempted_at"`
	Items       int       `json:"items"`
	// Outcome is delivered, http_error, timeout, connection_error or blocked.
	Outcome string `json:"outcome"`
	// Status is the response status; nil when there was no response.
	Status          *int    `json:"status"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Error describes a failure (never containing credentials); empty on success.
	Error string `json:"error"`
	// Response is the start (up to 4 KiB) of the response body.
	Response string `json:"response"`
}

// EntityRef is one entity that a chunk's items are about.
type EntityRef struct {
	Entity   string `json:"entity"`
	EntityID string `json:"entity_id"`
}

// Delivery is one delivery log entry: one attempt to deliver one chunk, with what the
// chunk carried. EventIDs and Entities are empty when the chunk's record was not kept
// (see chunkRecord; such as a one-off send of the inbound webhook.send command).
type Delivery struct {
	DeliveryAttempt
	// EventIDs are the ids of the chunk's items, in order.
	EventIDs []string `json:"event_ids"`
	// Entities are the entities of the chunk's items, each once, in order of first item.
	Entities []EntityRef `json:"entities"`
}

// Chunk is a logged chunk: what it carried, every attempt to deliver it, oldest first,
// and its request body while the payload retention keeps it.
type Chunk struct {
	DeliveryID string      `json:"delivery_id"`
	Items      int         `json:"items"`
	EventIDs   []string    `json:"event_ids"`
	Entities   []EntityRef `json:"entities"`
	// Body is the request body exactly as sent (a JSON value); nil when it is not kept
	// (any more).
	Body     json.RawMessage   `json:"body"`
	Attempts []DeliveryAttempt `json:"attempts"`
}

// OutcomeNames returns the outcome words in the order of the outcomes: what the
// delivery log's outcome column holds, and what a DeliveryFilter may ask for.
func OutcomeNames() []string { return slices.Clone(outcomeNames[:]) }

// DeliveryFilter selects delivery log entries; zero fields select everything.
type DeliveryFilter struct {
	// EventID selects the attempts of chunks carrying that event.
	EventID string
	// EntityID selects the attempts of chunks carrying an item about that entity id;
	// Entity, when set with it, narrows it to that entity.
	Entity, EntityID string
	// Outcome (one of OutcomeNames) and Status (an HTTP status) select attempts that ended
	// so.
	Outcome string
	Status  int
	// Since selects attempts made at or after it.
	Since time.Time
}

// ErrBadFilter is wrapped by the error of a filter that cannot select anything (an
// unknown outcome, an entity without an entity id).
var ErrBadFilter = errors.New("bad delivery log filter")

// check validates the filter.
func (f DeliveryFilter) check() error {
	if f.Outcome != "" && !slices.Contains(outcomeNames[:], f.Outcome) {
		return fmt.Errorf("%w: outcome %q is not one of %s", ErrBadFilter, f.Outcome, strings.Join(outcomeNames[:], ", "))
	}
	if f.Entity != "" && f.EntityID == "" {
		return fmt.Errorf("%w: entity needs an entity id", ErrBadFilter)
	}
	return nil
}

// where returns the conditions on the delivery log (alias l) of webhook $1 that select
// f, and their arguments from $2. Every filter is served by an index of migration 0003
// or 0010 (TestDeliverySearchUsesIndexes checks the plans): the webhook's entries by id
// (delivery_log_webhook), since (delivery_log_webhook_attempted), failures
// (delivery_log_failed), and event and entity ids through the GIN indexes of
// delivery_chunks, joined back on delivery_log_delivery. The SQL is built per filter
// rather than with "($2 = ” OR …)" terms, which a generic plan could not use indexes
// for.
func (f DeliveryFilter) where(webhookID string) (string, []any) {
	args := []any{webhookID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := []string{"l.webhook_id = $1"}
	if !f.Since.IsZero() {
		conds = append(conds, "l.attempted_at >= "+arg(f.Since))
	}
	failed := false
	if f.Outcome != "" {
		conds = append(conds, "l.outcome = "+arg(f.Outcome))
		failed = f.Outcome != OutcomeDelivered.String()
	}
	if f.Status != 0 {
		conds = append(conds, "l.status = "+arg(f.Status))
		failed = failed || f.Status < 200 || f.Status > 299
	}
	if failed {
		conds = append(conds, "l.outcome <> 'delivered'") // delivery_log_failed
	}
	if f.EventID != "" || f.EntityID != "" {
		var cc []string
		if f.EventID != "" {
			cc = append(cc, "c.event_ids @> ARRAY["+arg(f.EventID)+"::text]")
		}
		if f.EntityID != "" {
			id := arg(f.EntityID)
			cc = append(cc, "c.entity_ids @> ARRAY["+id+"::text]")
			if f.Entity != "" {
				cc = append(cc, "EXISTS (SELECT FROM unnest(c.entities, c.entity_ids) AS p(entity, entity_id) WHERE p.entity = "+
					arg(f.Entity)+" AND p.entity_id = "+id+")")
			}
		}
		conds = append(conds, "l.delivery_id IN (SELECT c.delivery_id FROM walhook.delivery_chunks c WHERE c.webhook_id = $1 AND "+
			strings.Join(cc, " AND ")+")")
	}
	return strings.Join(conds, " AND "), args
}

// deliveriesSQL returns the page query and the count query of f.
func (f DeliveryFilter) deliveriesSQL(webhookID string, offset, limit int) (page, count string, args []any) {
	where, args := f.where(webhookID)
	n := len(args)
	page = `SELECT l.delivery_id::text, l.attempt, l.attempted_at, l.items, l.outcome, l.status,
			l.duration_seconds, coalesce(l.error, ''), coalesce(l.response, ''),
			coalesce(c.event_ids, '{}'), coalesce(c.entities, '{}'), coalesce(c.entity_ids, '{}')
		FROM walhook.delivery_log l
		LEFT JOIN walhook.delivery_chunks c ON c.webhook_id = l.webhook_id AND c.delivery_id = l.delivery_id
		WHERE ` + where + fmt.Sprintf(` ORDER BY l.id DESC OFFSET $%d LIMIT $%d`, n+1, n+2)
	count = `SELECT count(*) FROM walhook.delivery_log l WHERE ` + where
	return page, count, append(args, max(offset, 0), max(limit, 0))
}

// Deliveries returns one page of the webhook's delivery log entries that f selects,
// newest first, and the number of them in all. Entries are written asynchronously, so
// the latest attempts appear within a fraction of a second. A filter that cannot select
// anything is an error wrapping ErrBadFilter.
func (s *Sender) Deliveries(ctx context.Context, webhookID string, f DeliveryFilter, offset, limit int) ([]Delivery, int, error) {
	if err := f.check(); err != nil {
		return nil, 0, err
	}
	if !uuidx.Is(webhookID) {
		return []Delivery{}, 0, nil
	}
	page, count, args := f.deliveriesSQL(webhookID, offset, limit)
	total, err := s.st.count(ctx, count, args[:len(args)-2]...)
	if err != nil {
		return nil, 0, fmt.Errorf("count delivery log of webhook %s: %w", webhookID, err)
	}
	rows, _ := s.st.pool.Query(ctx, page, args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var entities, entityIDs []string
		err := r.Scan(&d.DeliveryID, &d.Attempt, &d.AttemptedAt, &d.Items, &d.Outcome, &d.Status,
			&d.DurationSeconds, &d.Error, &d.Response, &d.EventIDs, &entities, &entityIDs)
		d.Entities = entityRefs(entities, entityIDs)
		if d.EventIDs == nil {
			d.EventIDs = []string{}
		}
		return d, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read delivery log of webhook %s: %w", webhookID, err)
	}
	if out == nil {
		out = []Delivery{}
	}
	return out, total, nil
}

func entityRefs(entities, ids []string) []EntityRef {
	out := make([]EntityRef, 0, len(ids))
	for i, id := range ids {
		if i < len(entities) {
			out = append(out, EntityRef{Entity: entities[i], EntityID: id})
		}
	}
	return out
}

// ErrChunkNotFound is wrapped by DeliveryChunk's error when the webhook's delivery log
// has no chunk with that delivery id. It wraps matcher.ErrNotFound.
var ErrChunkNotFound error = chunkNotFound{}

type chunkNotFound struct{}

func (chunkNotFound) Error() string { return "delivery not found in the delivery log" }
func (chunkNotFound) Unwrap() error { return matcher.ErrNotFound }

// maxLoggedBody bounds the length a stored body may claim: a larger one is not decoded.
const maxLoggedBody = 1 << 30

// DeliveryChunk returns the webhook's logged chunk deliveryID: its items' ids, its
// attempts, and its request body while retained. An unknown chunk is an error wrapping
// ErrChunkNotFound.
func (s *Sender) DeliveryChunk(ctx context.Context, webhookID, deliveryID string) (*Chunk, error) {
	if !uuidx.Is(webhookID) || !uuidx.Is(deliveryID) {
		return nil, fmt.Errorf("delivery %q of webhook %q: %w", deliveryID, webhookID, ErrChunkNotFound)
	}
	c := &Chunk{DeliveryID: strings.ToLower(deliveryID), EventIDs: []string{}, Entities: []EntityRef{}}
	var entities, entityIDs []string
	var packed []byte
	var found bool
	err := s.st.pool.QueryRow(ctx, `SELECT items, event_ids, entities, entity_ids, body
		FROM walhook.delivery_chunks WHERE webhook_id = $1 AND delivery_id = $2`, webhookID, deliveryID).
		Scan(&c.Items, &c.EventIDs, &entities, &entityIDs, &packed)
	switch {
	case err == nil:
		found = true
		if c.EventIDs == nil {
			c.EventIDs = []string{}
		}
		c.Entities = entityRefs(entities, entityIDs)
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("read delivery %s of webhook %s: %w", deliveryID, webhookID, err)
	}
	rows, _ := s.st.pool.Query(ctx, `SELECT delivery_id::text, attempt, attempted_at, items, outcome, status,
			duration_seconds, coalesce(error, ''), coalesce(response, '')
		FROM walhook.delivery_log WHERE webhook_id = $1 AND delivery_id = $2 ORDER BY id`, webhookID, deliveryID)
	c.Attempts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeliveryAttempt, error) {
		var a DeliveryAttempt
		err := r.Scan(&a.DeliveryID, &a.Attempt, &a.AttemptedAt, &a.Items, &a.Outcome, &a.Status,
			&a.DurationSeconds, &a.Error, &a.Response)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("read attempts of delivery %s of webhook %s: %w", deliveryID, webhookID, err)
	}
	if !found && len(c.Attempts) == 0 {
		return nil, fmt.Errorf("delivery %s of webhook %s: %w", deliveryID, webhookID, ErrChunkNotFound)
	}
	if c.Attempts == nil {
		c.Attempts = []DeliveryAttempt{}
	}
	if !found {
		c.Items = c.Attempts[0].Items
	}
	if packed != nil {
		body, err := unpackBody(packed)
		if err != nil {
			return nil, fmt.Errorf("delivery %s of webhook %s: %w", deliveryID, webhookID, err)
		}
		if json.Valid(body) { // every format sends JSON; anything else is shown as not kept
			c.Body = body
		}
	}
	return c, nil
}

// unpackBody decodes a stored body.
func unpackBody(packed []byte) ([]byte, error) {
	n, err := s2.DecodedLen(packed)
	if err == nil && n > maxLoggedBody {
		err = fmt.Errorf("claims %d bytes", n)
	}
	var body []byte
	if err == nil {
		body, err = s2.Decode(nil, packed)
	}
	if err != nil {
		return nil, fmt.Errorf("decode stored request body: %w", err)
	}
	return body, nil
}
