package sender

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/matcher"
)

// Config configures a Sender. The zero value of every field means its default (listed on
// each field); the README names the WALHOOK_ variable of each.
type Config struct {
	// Version goes into the User-Agent header: "walhook/<Version>" (default "dev").
	Version string
	// Logger receives the sender's logs (default: discard). Keys: webhook_id,
	// delivery_id, attempt, err. Bodies, signatures and passwords are never logged.
	Logger *slog.Logger
	// Registerer registers the sender's metrics (default: none registered).
	Registerer prometheus.Registerer

	// AllowPrivateTargets lets deliveries reach loopback, private, link-local and
	// metadata addresses. Off, such addresses are refused at dial time, after DNS.
	AllowPrivateTargets bool
	// Webhooks looks up webhooks for chunks in the durable queue (their URL, signature and
	// status may have changed since the chunk was queued) and disables a webhook whose
	// endpoint answered 410 Gone or failed for a whole retry window. The webhook store
	// (*matcher.Store) satisfies it. When nil, queued chunks are sent with the webhook as
	// this process last saw it through Add, chunks of webhooks it has not seen (or whose
	// loop retired, see HookIdleTimeout) wait, and nothing is disabled (a 410 is retried
	// like any other failure).
	Webhooks WebhookStore

	// Linger is how long a partly filled chunk waits for more events before it is sent
	// (default 5ms). A chunk is only closed between transactions, so a transaction's
	// events stay together.
	Linger time.Duration
	// RequestTimeout bounds one delivery attempt, connection to response body (default
	// 10s), for webhooks without a timeout of their own.
	RequestTimeout time.Duration
	// MaxRequestTimeout is the longest a webhook's own timeout may be (default
	// RequestTimeout); leases of chunks in flight are sized from it.
	MaxRequestTimeout time.Duration
	// RotationGrace is how long a replaced signature still signs deliveries beside the
	// new one (default 24h): Pipeliner mode sends it in WebHook-Signature-Previous,
	// Standard Webhooks mode as a second signature in webhook-signature.
	RotationGrace time.Duration
	// RetryMinBackoff is the first retry's maximum wait (default 1s); each retry doubles
	// it, up to RetryMaxBackoff (default 10m). Waits are drawn with full jitter.
	RetryMinBackoff time.Duration
	RetryMaxBackoff time.Duration
	// RetryWindow is how long a chunk is retried after its first failure before it is
	// dead-lettered (default 24h). A webhook that failed for a whole window is disabled.
	RetryWindow time.Duration
	// Concurrency is the number of ordered lanes per webhook (default 1). Events are
	// assigned to lanes by a hash of entity and entity id; each lane sends one chunk at a
	// time, in order. With more than one lane, chunks are formed per lane.
	Concurrency int
	// DelayHorizon is how far ahead a chunk may be due and still wait in memory (default
	// 1s); a chunk due later (chunk_delay) goes to the durable queue.
	DelayHorizon time.Duration
	// MemoryLimitBytes bounds the memory of events and bodies not yet delivered or
	// queued (default 8 MiB). Past it, Add waits: back-pressure holds the reader while
	// healthy webhooks deliver. Every SpillWait (default 100ms) of waiting, the chunks of
	// slow webhooks — with a first attempt in flight for longer than SlowAfter (default 2s),
	// or whose circuit breaker is open — move to the durable queue; healthy webhooks'
	// chunks never do.
	MemoryLimitBytes int64
	SpillWait        time.Duration
	SlowAfter        time.Duration
	// MaxBodyBytes bounds one request body (default matcher.DefaultMaxBodyBytes, 1 MiB):
	// a chunk whose items would pass it is sent as several requests, in order. Give the
	// matcher the same value, so that every item fits in a request.
	MaxBodyBytes int
	// QueueWorkers is the number of goroutines delivering chunks from the durable queue
	// (default 8); QueuePollInterval how often an idle worker looks for due chunks
	// (default 1s).
	QueueWorkers      int
	QueuePollInterval time.Duration
	// BreakerThreshold is the number of consecutive failures that opens a webhook's
	// circuit breaker (default 5); BreakerCooldown the first open period (default 30s),
	// doubled on each failed probe up to RetryMaxBackoff.
	BreakerThreshold int
	BreakerCooldown  time.Duration
	// DeliveryLogRetention is how long delivery log entries are kept (default 168h);
	// DeadLetterRetention how long dead letters are kept (default 720h).
	DeliveryLogRetention time.Duration
	DeadLetterRetention  time.Duration
	// PayloadRetention is how long the delivery log keeps each chunk's request body,
	// compressed, for GET …/deliveries/{delivery_id} and replay (default 72h); a
	// negative value keeps none (WALHOOK_PAYLOAD_RETENTION=0). Bodies go with their
	// chunk's log entries when DeliveryLogRetention is shorter.
	PayloadRetention time.Duration
	// HookIdleTimeout is how long a webhook's send loop stays with nothing to do — nothing
	// in memory or in flight, nothing of the webhook in the durable queue, its chunk_delay
	// schedule caught up — before it ends and forgets the webhook, its circuit breaker
	// included once that holds nothing back (default 10m). Add starts a new loop for the
	// webhook's next event. It bounds what deleted, disabled or unmatched webhooks keep in
	// memory. It has no WALHOOK_ variable.
	HookIdleTimeout time.Duration
}

// WebhookStore is what the sender needs of the webhook store. *matcher.Store satisfies
// it. Both methods are safe for concurrent use.
type WebhookStore interface {
	// Get returns the live webhook id, whatever its status, or an error wrapping
	// matcher.ErrNotFound when it does not exist or is deleted (its queued chunks are
	// then dropped).
	Get(ctx context.Context, id string) (*matcher.Webhook, error)
	// Disable sets the webhook's status to disabled with reason, unless it is disabled
	// already, and reports whether it changed it. A disabled webhook's events are held in
	// the durable queue until it is resumed through the API.
	Disable(ctx context.Context, id, reason string) (bool, error)
}

// Defaults of Config's fields.
const (
	DefaultLinger               = 5 * time.Millisecond
	DefaultRequestTimeout       = 10 * time.Second
	DefaultRotationGrace        = 24 * time.Hour
	DefaultRetryMinBackoff      = time.Second
	DefaultRetryMaxBackoff      = 10 * time.Minute
	DefaultRetryWindow          = 24 * time.Hour
	DefaultConcurrency          = 1
	DefaultDelayHorizon         = time.Second
	DefaultMemoryLimitBytes     = 8 << 20
	DefaultSpillWait            = 100 * time.Millisecond
	DefaultSlowAfter            = 2 * time.Second
	DefaultQueueWorkers         = 8
	DefaultQueuePollInterval    = time.Second
	DefaultBreakerThreshold     = 5
	DefaultBreakerCooldown      = 30 * time.Second
	DefaultDeliveryLogRetention = 7 * 24 * time.Hour
	DefaultDeadLetterRetention  = 30 * 24 * time.Hour
	DefaultPayloadRetention     = 72 * time.Hour
	DefaultHookIdleTimeout      = 10 * time.Minute
)

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	c.Version = orDefault(c.Version, "dev")
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Linger = orDefault(c.Linger, DefaultLinger)
	c.RequestTimeout = orDefault(c.RequestTimeout, DefaultRequestTimeout)
	c.MaxRequestTimeout = max(c.MaxRequestTimeout, c.RequestTimeout)
	c.RotationGrace = orDefault(c.RotationGrace, DefaultRotationGrace)
	c.RetryMinBackoff = orDefault(c.RetryMinBackoff, DefaultRetryMinBackoff)
	c.RetryMaxBackoff = max(orDefault(c.RetryMaxBackoff, DefaultRetryMaxBackoff), c.RetryMinBackoff)
	c.RetryWindow = orDefault(c.RetryWindow, DefaultRetryWindow)
	c.Concurrency = max(orDefault(c.Concurrency, DefaultConcurrency), 1)
	c.DelayHorizon = orDefault(c.DelayHorizon, DefaultDelayHorizon)
	c.MemoryLimitBytes = orDefault(c.MemoryLimitBytes, DefaultMemoryLimitBytes)
	c.SpillWait = orDefault(c.SpillWait, DefaultSpillWait)
	c.SlowAfter = orDefault(c.SlowAfter, DefaultSlowAfter)
	c.MaxBodyBytes = orDefault(c.MaxBodyBytes, matcher.DefaultMaxBodyBytes)
	c.QueueWorkers = max(orDefault(c.QueueWorkers, DefaultQueueWorkers), 1)
	c.QueuePollInterval = orDefault(c.QueuePollInterval, DefaultQueuePollInterval)
	c.BreakerThreshold = max(orDefault(c.BreakerThreshold, DefaultBreakerThreshold), 1)
	c.BreakerCooldown = orDefault(c.BreakerCooldown, DefaultBreakerCooldown)
	c.DeliveryLogRetention = orDefault(c.DeliveryLogRetention, DefaultDeliveryLogRetention)
	c.DeadLetterRetention = orDefault(c.DeadLetterRetention, DefaultDeadLetterRetention)
	c.PayloadRetention = orDefault(c.PayloadRetention, DefaultPayloadRetention)
	c.HookIdleTimeout = orDefault(c.HookIdleTimeout, DefaultHookIdleTimeout)
	return c
}
