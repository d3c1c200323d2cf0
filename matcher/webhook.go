package matcher

import (
	"encoding/json"
	"time"

	"github.com/walhook/walhook/cdc"
)

// Signing modes (the webhook's "signing" field).
const (
	SigningPipeliner        = "pipeliner"
	SigningStandardWebhooks = "standard-webhooks"
)

// Webhook is one stored subscription, as the store loads it. Options is kept exactly as the
// client sent it (GET returns it unchanged); the matcher compiles it once per change of the
// webhook, never per event.
type Webhook struct {
	ID          string
	URL         string
	Events      []string
	InsecureSSL bool
	// Signature is the HMAC key ("" = unsigned).
	Signature string
	// Options is the raw options object as sent.
	Options          json.RawMessage
	HTTPAuthUser     string
	HTTPAuthPassword string
	// Signing is SigningPipeliner (default) or SigningStandardWebhooks.
	Signing   string
	Created   time.Time
	Modified  time.Time
	IsDeleted bool
	// DisabledAt is set when the sender disabled the webhook after failing for its whole
	// retry window; nil while enabled.
	DisabledAt *time.Time

	// ChunkSize is options.chunk_size (1–100, default 100).
	ChunkSize int
	// ChunkDelay is options.chunk_delay: chunk N of a burst is due N × ChunkDelay after
	// chunk 0.
	ChunkDelay time.Duration
}

// Match is one event matched by one webhook: a delivery item to be.
type Match struct {
	Webhook *Webhook
	Event   *cdc.Event
}
