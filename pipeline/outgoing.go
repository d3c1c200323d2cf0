package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/inbound"
	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/sender"
)

// sendTargets is the sender's webhook store: the webhooks, and the targets of the inbound
// webhook.send command, whose one chunk each the durable queue delivers. A send's target
// is active, signed Pipeliner-style when it has a signature, and never disabled (a 410 or
// a failing window leaves it to retries and the dead letters).
type sendTargets struct {
	*matcher.Store
	db      *pgxpool.Pool
	secrets *seal.Sealer
}

var _ sender.WebhookStore = sendTargets{}

// Get returns the webhook id, or the webhook.send target id.
func (t sendTargets) Get(ctx context.Context, id string) (*matcher.Webhook, error) {
	wh, err := t.Store.Get(ctx, id)
	if !errors.Is(err, matcher.ErrNotFound) {
		return wh, err
	}
	o, oerr := inbound.LookupOutgoing(ctx, t.db, t.secrets, id)
	if errors.Is(oerr, inbound.ErrNotFound) {
		return nil, err // matcher.ErrNotFound: the sender drops the chunk
	}
	if oerr != nil {
		return nil, fmt.Errorf("look up webhook %s: %w", id, oerr)
	}
	return &matcher.Webhook{ID: o.ID, URL: o.URL, Signature: o.Signature, Headers: o.Headers, Status: matcher.StatusActive,
		Events: []string{}}, nil
}
