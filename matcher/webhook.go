package matcher

import (
	"encoding/json"
	"time"

	"github.com/walhook/walhook/event"
)

// Webhook statuses (the webhook's "status" field, walhook.webhooks.status).
const (
	// StatusActive: events are delivered.
	StatusActive = "active"
	// StatusPaused: paused through the API; matched events are held in the durable queue
	// until resumed.
	StatusPaused = "paused"
	// StatusDisabled: disabled by the sender (the endpoint answered 410 Gone, or failed for
	// a whole retry window); matched events are held as while paused.
	StatusDisabled = "disabled"
)

// Signing modes (the webhook's "signing" field).
const (
	SigningPipeliner        = "pipeliner"
	SigningStandardWebhooks = "standard-webhooks"
)

// Payload formats (the webhook's format: Webhook.Format).
const (
	// FormatPipeliner: one request per chunk of up to chunk_size items (DESIGN.md §5).
	FormatPipeliner = "pipeliner"
	// FormatPipedriveV1 and FormatPipedriveV2: one event per request, in Pipedrive's
	// payload of that version (DESIGN.md §12).
	FormatPipedriveV1 = "pipedrive-v1"
	FormatPipedriveV2 = "pipedrive-v2"
)

// Webhook is one stored subscription, as the store loads it. Options is kept exactly as the
// client sent it (GET returns it unchanged); the matcher compiles it once per change of the
// webhook, never per event.
type Webhook struct {
	ID string
	// Name is optional ("" = none) and unique among the live webhooks of a Space; it is the
	// key of "walhook apply". Pipedrive webhooks keep their Pipedrive name in Pipedrive.Name.
	Name        string
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
	Signing string
	// Format is the payload format of its requests: FormatPipeliner (also for ""),
	// FormatPipedriveV1 or FormatPipedriveV2.
	Format string
	// Pipedrive holds the Pipedrive fields of a webhook created through Pipedrive's API
	// (DESIGN.md §12); nil for others.
	Pipedrive *Pipedrive
	Created   time.Time
	Modified  time.Time
	IsDeleted bool
	// Status is StatusActive, StatusPaused or StatusDisabled; "" counts as active.
	Status string
	// DisabledAt is when the sender disabled the webhook and DisabledReason why; set only
	// while Status is StatusDisabled.
	DisabledAt     *time.Time
	DisabledReason string

	// Space is the {space_id} the webhook was created under; "" (created before spaces were
	// stored) means every space.
	Space string
	// PreviousSignature is the key a change of Signature replaced, at SignatureRotatedAt:
	// deliveries are signed with both for the rotation grace period.
	PreviousSignature  string
	SignatureRotatedAt *time.Time
	// Headers are static extra request headers, sent with every delivery.
	Headers map[string]string
	// Timeout bounds one delivery attempt; 0 means the sender's default.
	Timeout time.Duration

	// ChunkSize is options.chunk_size (1–100, default 100).
	ChunkSize int
	// ChunkDelay is options.chunk_delay: chunk N of a burst is due N × ChunkDelay after
	// chunk 0.
	ChunkDelay time.Duration
}

// Match is one event matched by one webhook: a delivery item to be.
type Match struct {
	Webhook *Webhook
	Event   *event.Event
	// Sub is the webhook's compiled subscription that matched the event, as the index held
	// it then. Render takes it, so rendering needs no lookup back into the matcher and
	// renders with the options the event was matched with, whatever reloads happened since.
	Sub Subscription
}

// Subscription is a webhook compiled once for matching and rendering (its event patterns,
// filters, projections and expansions). It is immutable, one pointer wide and safe to copy
// and share; the zero Subscription holds nothing (Render refuses it).
type Subscription struct{ *subscription }

// Webhook returns the webhook the subscription was compiled from, nil for the zero
// Subscription.
func (s Subscription) Webhook() *Webhook {
	if s.subscription == nil {
		return nil
	}
	return s.wh
}

// Held reports whether the webhook's events are held rather than delivered: it is paused
// or disabled. Held webhooks still match; the sender queues their chunks without an
// attempt, and the queue's workers leave them until the webhook is resumed.
func (wh *Webhook) Held() bool {
	return wh.Status == StatusPaused || wh.Status == StatusDisabled || wh.DisabledAt != nil
}
