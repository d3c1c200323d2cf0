package inbound

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/internal/seal"
)

// Defaults of Config.
const (
	// DefaultMaxBytes bounds a request body, files included: 10 MiB.
	DefaultMaxBytes = 10 << 20
	// DefaultRate is the calls a second each inbound webhook admits (per process).
	DefaultRate = 100
	// DefaultRetention is how long files and webhook-ids are kept: seven days, the
	// window within which a sender usually retries and a subscriber downloads.
	DefaultRetention = 7 * 24 * time.Hour
	// CacheTTL bounds how long the receive path may use an inbound webhook as it was read:
	// a put or delete takes effect on every instance within it.
	CacheTTL = time.Second
)

// Config configures the inbound service. Zero values mean the defaults.
type Config struct {
	// DB is the CRM database holding walhook's schema: calls are landed in its WAL
	// (required).
	DB *pgxpool.Pool
	// CRM is the CRM database, whose WAL the reader reads, when walhook's tables live in a
	// separate state database (DB; WALHOOK_STATE_DATABASE_URL); nil means DB. Then a call's
	// rows are written to DB first and its message to CRM after (see land).
	CRM *pgxpool.Pool
	// Authorize reports whether a request carries an API token, as the webhook API checks
	// them; commands and file downloads need it (nil: refuse them all).
	Authorize func(*http.Request) bool
	// PublicURL is walhook's external base URL ("https://hooks.example.com"), used in file
	// URLs and webhookUrl. Empty: file URLs are paths ("/api/v3/inbound/files/…") and
	// webhookUrl is built from the command's request. (A call's own Host header is never
	// trusted: a subscriber following a file URL sends its API token there.)
	PublicURL string
	// MaxBytes bounds a request body (default DefaultMaxBytes); MaxCallBytes the call
	// object, which must fit one delivery item (matcher.ItemLimit).
	MaxBytes     int64
	MaxCallBytes int
	// Rate and Burst are each inbound webhook's token bucket: Rate calls a second (default
	// DefaultRate; negative: unlimited), Burst at once (default Rate).
	Rate  float64
	Burst int
	// Retention is how long files and webhook-ids are kept (default DefaultRetention);
	// PruneInterval how often Run prunes (default 10 minutes).
	Retention     time.Duration
	PruneInterval time.Duration
	// Enqueue writes a webhook.send body to the durable delivery queue for target, the id
	// of a stored Outgoing (the sender's Enqueue); nil answers webhook.send 501.
	// CheckHeaders validates webhook.send's headers as the webhook API validates static
	// headers; nil accepts any.
	CheckHeaders func(map[string]string) error
	// Secrets, when set, seals verify secrets and send signatures at rest
	// (WALHOOK_SECRET_KEY).
	Secrets    *seal.Sealer
	Enqueue    func(ctx context.Context, target string, body []byte) (deliveryID string, err error)
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service serves the inbound commands and receive endpoints and prunes what it keeps.
// It is safe for concurrent use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	st      *store
	lim     *limiter
	met     *metrics
	handler http.Handler

	cacheMu sync.Mutex
	cache   map[string]cached
}

type cached struct {
	wh   *Webhook
	read time.Time
}

// New returns the service. It does no I/O.
func New(cfg Config) *Service {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxCallBytes <= 0 {
		cfg.MaxCallBytes = 1<<20 - 512
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(cfg.Rate))
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Authorize == nil {
		cfg.Authorize = func(*http.Request) bool { return false }
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	s := &Service{cfg: cfg, log: cfg.Logger, st: &store{pool: cfg.DB, seal: cfg.Secrets}, lim: newLimiter(cfg.Rate, cfg.Burst),
		met: newMetrics(cfg.Registerer), cache: map[string]cached{}}
	s.handler = s.routes()
	return s
}

// Handler serves /api/v3/: the commands, the receive endpoints and file downloads.
func (s *Service) Handler() http.Handler { return s.handler }

// Run prunes files and webhook-ids past the retention every PruneInterval until ctx
// ends; it returns nil. Errors are logged and retried at the next interval.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.PruneInterval)
	defer t.Stop()
	for {
		files, calls, err := s.st.prune(ctx, s.cfg.Retention)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("prune inbound files and webhook-ids", "err", err)
		case files+calls > 0:
			s.log.Info("pruned inbound files and webhook-ids", "files", files, "webhook_ids", calls)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// lookup returns the inbound webhook, read at most CacheTTL ago.
func (s *Service) lookup(ctx context.Context, id string, now time.Time) (*Webhook, error) {
	s.cacheMu.Lock()
	c, ok := s.cache[id]
	s.cacheMu.Unlock()
	if ok && now.Sub(c.read) < CacheTTL {
		return c.wh, nil
	}
	wh, err := s.st.get(ctx, id)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	if len(s.cache) > 10000 {
		clear(s.cache) // bounded: an attacker probing uuids only fills it with real ones
	}
	s.cache[id] = cached{wh, now}
	s.cacheMu.Unlock()
	return wh, nil
}

// forget drops an inbound webhook from this instance's cache (after put or delete).
func (s *Service) forget(id string) {
	s.cacheMu.Lock()
	delete(s.cache, id)
	s.cacheMu.Unlock()
}
