package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sethvargo/go-envconfig"
	"github.com/walhook/walhook/internal/seal"
)

// Config is walhook's whole configuration, read from the environment (DESIGN.md §2).
// README.md's Configuration table lists every variable: keep the two in step.
type Config struct {
	// DatabaseURL is the CRM database, as a postgres:// URL or key=value string. Only run
	// and setup need it (requireDatabase); it holds a password, so never print it:
	// LogValue redacts it.
	DatabaseURL string `env:"WALHOOK_DATABASE_URL"`
	// StateDatabaseURL, when set, holds walhook's own tables (webhooks, queue, logs); the
	// CRM database then keeps only the publication, the slot and the skip-key helper.
	StateDatabaseURL string `env:"WALHOOK_STATE_DATABASE_URL"`
	// ListenAddr is the address of the webhook API, /metrics, /healthz and /readyz.
	ListenAddr string `env:"WALHOOK_LISTEN_ADDR, default=:8080"`
	// APITokens are the bearer tokens the webhook API accepts (comma-separated).
	APITokens []string `env:"WALHOOK_API_TOKENS"`
	// MappingFile is the mapping YAML; empty means the bundled sample CRM mapping.
	MappingFile string `env:"WALHOOK_MAPPING_FILE"`
	// Slot is the logical replication slot.
	Slot string `env:"WALHOOK_SLOT, default=walhook"`
	// Publication is the publication of the mapped tables.
	Publication string `env:"WALHOOK_PUBLICATION, default=walhook"`
	// AllowPrivateTargets lets deliveries reach loopback, private, link-local and metadata
	// addresses (demo and tests only).
	AllowPrivateTargets bool `env:"WALHOOK_ALLOW_PRIVATE_TARGETS, default=false"`
	// LogLevel is one of debug, info, warn, error.
	LogLevel string `env:"WALHOOK_LOG_LEVEL, default=info"`
	// LogFormat is json or text.
	LogFormat string `env:"WALHOOK_LOG_FORMAT, default=json"`
	// StandbyInterval is the longest time between standby status updates (the
	// acknowledged LSN) to the server, whatever the traffic.
	StandbyInterval time.Duration `env:"WALHOOK_STANDBY_INTERVAL, default=10s"`
	// ConfirmDelay is how long the reader coalesces acknowledgements before it confirms
	// an advanced position to the server: about what a crash replays.
	ConfirmDelay time.Duration `env:"WALHOOK_CONFIRM_DELAY, default=100ms"`
	// ReconnectBackoff is the wait before the reader reconnects after losing the
	// replication connection.
	ReconnectBackoff time.Duration `env:"WALHOOK_RECONNECT_BACKOFF, default=1s"`
	// MemoryLimitBytes bounds the memory for events in flight; past it, chunks go to the
	// durable queue.
	MemoryLimitBytes int64 `env:"WALHOOK_MEMORY_LIMIT_BYTES, default=8388608"`

	// ---- Sender settings (see README.md, Delivery) ----
	// DeliveryLinger is how long a partly filled chunk waits for more events.
	DeliveryLinger time.Duration `env:"WALHOOK_DELIVERY_LINGER, default=5ms"`
	// RequestTimeout bounds one delivery attempt, connect to response body.
	RequestTimeout time.Duration `env:"WALHOOK_REQUEST_TIMEOUT, default=10s"`
	// RetryMinBackoff and RetryMaxBackoff bound the jittered exponential retry waits.
	RetryMinBackoff time.Duration `env:"WALHOOK_RETRY_MIN_BACKOFF, default=1s"`
	RetryMaxBackoff time.Duration `env:"WALHOOK_RETRY_MAX_BACKOFF, default=10m"`
	// RetryWindow is how long a chunk is retried before it is dead-lettered.
	RetryWindow time.Duration `env:"WALHOOK_RETRY_WINDOW, default=24h"`
	// WebhookConcurrency is the number of ordered lanes (requests in flight) per webhook.
	WebhookConcurrency int `env:"WALHOOK_WEBHOOK_CONCURRENCY, default=1"`
	// DelayHorizon: chunks due later than this (chunk_delay) wait in the durable queue.
	DelayHorizon time.Duration `env:"WALHOOK_DELAY_HORIZON, default=1s"`
	// SpillWait is how often the reader, waiting at the memory limit, moves slow
	// webhooks' chunks to the queue.
	SpillWait time.Duration `env:"WALHOOK_SPILL_WAIT, default=100ms"`
	// SlowAfter makes a webhook slow when a delivery attempt has been in flight for longer:
	// only slow (or failing) webhooks spill; healthy ones hold the reader back.
	SlowAfter time.Duration `env:"WALHOOK_SLOW_AFTER, default=2s"`
	// QueueWorkers deliver from the durable queue; QueuePollInterval is their idle poll.
	QueueWorkers      int           `env:"WALHOOK_QUEUE_WORKERS, default=8"`
	QueuePollInterval time.Duration `env:"WALHOOK_QUEUE_POLL_INTERVAL, default=1s"`
	// BreakerThreshold consecutive failures open a webhook's breaker for BreakerCooldown.
	BreakerThreshold int           `env:"WALHOOK_BREAKER_THRESHOLD, default=5"`
	BreakerCooldown  time.Duration `env:"WALHOOK_BREAKER_COOLDOWN, default=30s"`
	// DeliveryLogRetention and DeadLetterRetention bound what the delivery log keeps.
	DeliveryLogRetention time.Duration `env:"WALHOOK_DELIVERY_LOG_RETENTION, default=168h"`
	DeadLetterRetention  time.Duration `env:"WALHOOK_DEAD_LETTER_RETENTION, default=720h"`
	// PayloadRetention is how long the delivery log keeps each chunk's request body
	// (compressed) for GET …/deliveries/{delivery_id} and replay; 0 keeps none.
	PayloadRetention time.Duration `env:"WALHOOK_PAYLOAD_RETENTION, default=72h"`

	// ---- Render bounds (see README.md, Delivery items; DESIGN.md §15) ----
	// MaxBodyBytes bounds one request body and one rendered item (1 MiB: nginx's default
	// client_max_body_size).
	MaxBodyBytes int `env:"WALHOOK_MAX_BODY_BYTES, default=1048576"`
	// MaxExpandRows bounds the rows of one one-to-many expansion of one item.
	MaxExpandRows int `env:"WALHOOK_MAX_EXPAND_ROWS, default=100"`

	// ---- Inbound webhooks (see README.md, Inbound webhooks; DESIGN.md §13) ----
	// InboundMaxBytes bounds one inbound call's request body, files included (413 past it).
	InboundMaxBytes int64 `env:"WALHOOK_INBOUND_MAX_BYTES, default=10485760"`
	// InboundRate is the calls a second each inbound webhook accepts per instance (429 with
	// Retry-After past it); InboundBurst how many at once.
	InboundRate  float64 `env:"WALHOOK_INBOUND_RATE, default=100"`
	InboundBurst int     `env:"WALHOOK_INBOUND_BURST, default=100"`
	// InboundRetention is how long inbound files and webhook-ids are kept.
	InboundRetention time.Duration `env:"WALHOOK_INBOUND_RETENTION, default=168h"`
	// PublicURL is walhook's external base URL, used in inbound file URLs and webhookUrl.
	PublicURL string `env:"WALHOOK_PUBLIC_URL"`
	// ---- Backfills (see README.md, Backfill; DESIGN.md §14) ----
	// BackfillChunkRows is how many rows one backfill chunk reads (one window).
	BackfillChunkRows int `env:"WALHOOK_BACKFILL_CHUNK_ROWS, default=500"`
	// ---- Secrets and per-webhook bounds (DESIGN.md §15) ----
	// SecretKey, when set (at least 32 bytes), seals stored signatures, Basic-auth
	// passwords and static headers (AES-256-GCM). Never logged.
	SecretKey string `env:"WALHOOK_SECRET_KEY"`
	// SignatureRotationGrace is how long a replaced signature still signs deliveries.
	SignatureRotationGrace time.Duration `env:"WALHOOK_SIGNATURE_ROTATION_GRACE, default=24h"`
	// MaxWebhookTimeout bounds a webhook's own timeout.
	MaxWebhookTimeout time.Duration `env:"WALHOOK_MAX_WEBHOOK_TIMEOUT, default=60s"`
}

// configVariables returns every variable Config reads, in field order.
func configVariables() []string {
	var vars []string
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		if name, _, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ","); name != "" {
			vars = append(vars, name)
		}
	}
	return vars
}

// configDefaults maps each variable Config reads to its default ("" when none), from the
// struct tags, so help cannot disagree with the code.
func configDefaults() map[string]string {
	defaults := map[string]string{}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		name, opts, _ := strings.Cut(typ.Field(i).Tag.Get("env"), ",")
		if name == "" {
			continue
		}
		_, def, _ := strings.Cut(opts, "default=")
		defaults[name] = def
	}
	return defaults
}

// Bounds of the render bounds' variables.
const (
	minMaxBodyBytes  = 16 << 10
	maxMaxBodyBytes  = 1 << 30
	maxMaxExpandRows = 10000
)

// errConfig is wrapped by every configuration error.
var errConfig = errors.New("config")

// configErrorf returns "config: VARIABLE: message".
func configErrorf(variable, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errConfig, variable, fmt.Sprintf(format, args...))
}

var (
	identifierName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	logLevels      = []string{"debug", "info", "warn", "error"}
	logFormats     = []string{"json", "text"}
)

// loadConfig reads and validates the configuration. Its error is one line naming the
// variable at fault, and never contains a password.
func loadConfig(ctx context.Context, l envconfig.Lookuper) (Config, error) {
	var c Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &c, Lookuper: l}); err != nil {
		return Config{}, decodeError(err, l)
	}
	c.APITokens = slices.DeleteFunc(trimAll(c.APITokens), func(s string) bool { return s == "" })
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func trimAll(ss []string) []string {
	for i, s := range ss {
		ss[i] = strings.TrimSpace(s)
	}
	return ss
}

// decodeError rewrites envconfig's error, which names the Go field, to name the
// variable and say what kind of value it wants.
func decodeError(err error, l envconfig.Lookuper) error {
	field, _, _ := strings.Cut(err.Error(), ":")
	f, ok := reflect.TypeFor[Config]().FieldByName(field)
	if !ok {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	variable, _, _ := strings.Cut(f.Tag.Get("env"), ",")
	value, _ := l.Lookup(variable)
	want := "a valid " + f.Type.String()
	switch f.Type {
	case reflect.TypeFor[time.Duration]():
		want = "a duration (such as 500ms, 10s or 1m30s)"
	case reflect.TypeFor[bool]():
		want = "a boolean (true or false)"
	case reflect.TypeFor[int64]():
		want = "a whole number"
	}
	return configErrorf(variable, "%q is not %s", value, want)
}

// validate checks the values, in field order, and reports the first bad one.
func (c Config) validate() error {
	if c.DatabaseURL != "" {
		if _, err := pgconn.ParseConfig(c.DatabaseURL); err != nil {
			return configErrorf("WALHOOK_DATABASE_URL", "%s", scrubSecrets(err.Error(), c.DatabaseURL))
		}
	}
	if c.StateDatabaseURL != "" {
		if _, err := pgconn.ParseConfig(c.StateDatabaseURL); err != nil {
			return configErrorf("WALHOOK_STATE_DATABASE_URL", "%s", scrubSecrets(err.Error(), c.StateDatabaseURL))
		}
	}
	if _, port, err := net.SplitHostPort(c.ListenAddr); err != nil || port == "" {
		return configErrorf("WALHOOK_LISTEN_ADDR", "%q is not host:port or :port", c.ListenAddr)
	}
	for _, v := range []struct{ variable, value string }{
		{"WALHOOK_SLOT", c.Slot}, {"WALHOOK_PUBLICATION", c.Publication},
	} {
		if !identifierName.MatchString(v.value) {
			return configErrorf(v.variable, "%q is not a lowercase identifier (1 to 63 of a-z, 0-9 and _, not starting with a digit)", v.value)
		}
	}
	if !slices.Contains(logLevels, c.LogLevel) {
		return configErrorf("WALHOOK_LOG_LEVEL", "%q is not one of %s", c.LogLevel, strings.Join(logLevels, ", "))
	}
	if !slices.Contains(logFormats, c.LogFormat) {
		return configErrorf("WALHOOK_LOG_FORMAT", "%q is not one of %s", c.LogFormat, strings.Join(logFormats, ", "))
	}
	for _, d := range []struct {
		variable string
		value    time.Duration
	}{
		{"WALHOOK_STANDBY_INTERVAL", c.StandbyInterval}, {"WALHOOK_CONFIRM_DELAY", c.ConfirmDelay},
		{"WALHOOK_RECONNECT_BACKOFF", c.ReconnectBackoff},
		{"WALHOOK_DELIVERY_LINGER", c.DeliveryLinger}, {"WALHOOK_REQUEST_TIMEOUT", c.RequestTimeout},
		{"WALHOOK_RETRY_MIN_BACKOFF", c.RetryMinBackoff}, {"WALHOOK_RETRY_MAX_BACKOFF", c.RetryMaxBackoff},
		{"WALHOOK_RETRY_WINDOW", c.RetryWindow}, {"WALHOOK_DELAY_HORIZON", c.DelayHorizon},
		{"WALHOOK_SPILL_WAIT", c.SpillWait}, {"WALHOOK_SLOW_AFTER", c.SlowAfter}, {"WALHOOK_QUEUE_POLL_INTERVAL", c.QueuePollInterval},
		{"WALHOOK_BREAKER_COOLDOWN", c.BreakerCooldown}, {"WALHOOK_DELIVERY_LOG_RETENTION", c.DeliveryLogRetention},
		{"WALHOOK_DEAD_LETTER_RETENTION", c.DeadLetterRetention}, {"WALHOOK_INBOUND_RETENTION", c.InboundRetention},
		{"WALHOOK_SIGNATURE_ROTATION_GRACE", c.SignatureRotationGrace}, {"WALHOOK_MAX_WEBHOOK_TIMEOUT", c.MaxWebhookTimeout},
	} {
		if d.value <= 0 {
			return configErrorf(d.variable, "%s is not positive", d.value)
		}
	}
	for _, n := range []struct {
		variable string
		value    int
	}{
		{"WALHOOK_WEBHOOK_CONCURRENCY", c.WebhookConcurrency}, {"WALHOOK_QUEUE_WORKERS", c.QueueWorkers},
		{"WALHOOK_BREAKER_THRESHOLD", c.BreakerThreshold}, {"WALHOOK_INBOUND_BURST", c.InboundBurst},
		{"WALHOOK_BACKFILL_CHUNK_ROWS", c.BackfillChunkRows},
	} {
		if n.value < 1 {
			return configErrorf(n.variable, "%d is less than 1", n.value)
		}
	}
	if c.PayloadRetention < 0 {
		return configErrorf("WALHOOK_PAYLOAD_RETENTION", "%s is negative (0 keeps no request bodies)", c.PayloadRetention)
	}
	if c.RetryMaxBackoff < c.RetryMinBackoff {
		return configErrorf("WALHOOK_RETRY_MAX_BACKOFF", "%s is less than WALHOOK_RETRY_MIN_BACKOFF (%s)", c.RetryMaxBackoff, c.RetryMinBackoff)
	}
	if c.MemoryLimitBytes <= 0 {
		return configErrorf("WALHOOK_MEMORY_LIMIT_BYTES", "%d is not positive", c.MemoryLimitBytes)
	}
	if c.MaxBodyBytes < minMaxBodyBytes || c.MaxBodyBytes > maxMaxBodyBytes {
		return configErrorf("WALHOOK_MAX_BODY_BYTES", "%d is not from %d (16 KiB) to %d (1 GiB)", c.MaxBodyBytes, minMaxBodyBytes, maxMaxBodyBytes)
	}
	if c.MaxExpandRows < 1 || c.MaxExpandRows > maxMaxExpandRows {
		return configErrorf("WALHOOK_MAX_EXPAND_ROWS", "%d is not from 1 to %d", c.MaxExpandRows, maxMaxExpandRows)
	}
	if c.SecretKey != "" && len(c.SecretKey) < seal.MinKeyBytes {
		return configErrorf("WALHOOK_SECRET_KEY", "%d bytes, want at least %d (e.g. the output of openssl rand -base64 32)", len(c.SecretKey), seal.MinKeyBytes)
	}
	if c.MaxWebhookTimeout < time.Second {
		return configErrorf("WALHOOK_MAX_WEBHOOK_TIMEOUT", "%s is less than 1s", c.MaxWebhookTimeout)
	}
	if c.InboundMaxBytes < 1 {
		return configErrorf("WALHOOK_INBOUND_MAX_BYTES", "%d is less than 1", c.InboundMaxBytes)
	}
	if c.InboundRate <= 0 {
		return configErrorf("WALHOOK_INBOUND_RATE", "%g is not positive", c.InboundRate)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return configErrorf("WALHOOK_PUBLIC_URL", "%q is not an http or https URL", c.PublicURL)
		}
	}
	return nil
}

// requireDatabase reports a missing WALHOOK_DATABASE_URL, for the commands that need it.
func (c Config) requireDatabase() error {
	if c.DatabaseURL == "" {
		return fmt.Errorf("%w: WALHOOK_DATABASE_URL is required (the CRM database, such as postgres://walhook@db.example.com/crm)", errConfig)
	}
	return nil
}

// LogValue shows the configuration without secrets: the database URL's password is
// masked and the API tokens are counted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("database_url", redactConnString(c.DatabaseURL)),
		slog.String("state_database_url", redactConnString(c.StateDatabaseURL)),
		slog.String("listen_addr", c.ListenAddr),
		slog.Int("api_tokens", len(c.APITokens)),
		slog.String("mapping_file", c.MappingFile),
		slog.String("slot", c.Slot),
		slog.String("publication", c.Publication),
		slog.Bool("allow_private_targets", c.AllowPrivateTargets),
		slog.String("log_level", c.LogLevel),
		slog.String("log_format", c.LogFormat),
		slog.Duration("standby_interval", c.StandbyInterval),
		slog.Duration("confirm_delay", c.ConfirmDelay),
		slog.Duration("reconnect_backoff", c.ReconnectBackoff),
		slog.Int64("memory_limit_bytes", c.MemoryLimitBytes),
		slog.Bool("secret_key_set", c.SecretKey != ""),
		slog.Int("max_body_bytes", c.MaxBodyBytes),
		slog.Int("max_expand_rows", c.MaxExpandRows),
		slog.Int64("inbound_max_bytes", c.InboundMaxBytes),
		slog.Float64("inbound_rate", c.InboundRate),
		slog.Int("inbound_burst", c.InboundBurst),
		slog.Duration("payload_retention", c.PayloadRetention),
		slog.Duration("inbound_retention", c.InboundRetention),
		slog.String("public_url", c.PublicURL),
		slog.Int("backfill_chunk_rows", c.BackfillChunkRows),
	)
}

const mask = "xxxxx"

var (
	// kvPassword matches a password in a key=value string or a URL query, quoted or not.
	kvPassword = regexp.MustCompile(`(?i)(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)`)
	urlScheme  = regexp.MustCompile(`^(?i)postgres(?:ql)?://`)
)

// redactConnString masks the passwords in a connection URL or key=value string, even a
// malformed one: in a URL, everything between the user name and the last "@" counts as
// the password.
func redactConnString(s string) string {
	s = kvPassword.ReplaceAllString(s, "${1}="+mask)
	loc := urlScheme.FindStringIndex(s)
	if loc == nil {
		return s
	}
	rest := s[loc[1]:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return s[:loc[1]] + user + ":" + mask + rest[at:]
}

// secrets returns the strings in a connection string that may be passwords, in the
// forms an error message may quote them, longest first.
func secrets(connString string) []string {
	var raw []string
	for _, m := range kvPassword.FindAllStringSubmatch(connString, -1) {
		raw = append(raw, strings.Trim(m[2], "'"))
	}
	if loc := urlScheme.FindStringIndex(connString); loc != nil {
		rest := connString[loc[1]:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				raw = append(raw, pw)
			}
		}
	}
	var out []string
	for _, r := range raw {
		quoted := strconv.Quote(r)
		out = append(out, r, quoted[1:len(quoted)-1])
		if u, err := url.PathUnescape(r); err == nil {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(r); err == nil {
			out = append(out, u)
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" || s == mask })
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// scrubSecrets masks every password of connString that appears in msg.
func scrubSecrets(msg, connString string) string {
	for _, s := range secrets(connString) {
		msg = strings.ReplaceAll(msg, s, mask)
	}
	return msg
}
