package matcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/ratelog"
	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/mapping"
)

// Config configures a Matcher. Zero values mean the defaults.
type Config struct {
	// DB is the database holding walhook's schema (walhook.webhooks); Run and Load need it.
	DB *pgxpool.Pool
	// CRM is the CRM database, queried by Render for expansions, link parents and related
	// rows; nil means DB. Configure it with ConfigureCRMPool.
	CRM *pgxpool.Pool
	// Mapping must have been validated against the live schema (mapping.Validate).
	Mapping *mapping.Mapping
	// ReloadInterval is how often Run reloads every webhook as a safety net besides
	// LISTEN/NOTIFY (default 30s).
	ReloadInterval time.Duration
	// Debounce is how long Run waits for more notifications after one before reloading, so
	// a burst of API writes costs one reload (default 20ms).
	Debounce time.Duration
	// MaxExpandRows bounds each one-to-many expansion of a rendered item: at most this
	// many rows per owning row, the first by the target's key (default
	// DefaultMaxExpandRows). The item's truncated member names the cut ones.
	MaxExpandRows int
	// MaxBodyBytes bounds one request body (default DefaultMaxBodyBytes): Render keeps
	// each item within ItemLimit(MaxBodyBytes), so that a request of one item fits, and
	// the sender packs items into requests of at most MaxBodyBytes.
	MaxBodyBytes int
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// Secrets opens the webhooks' sealed secrets (WALHOOK_SECRET_KEY); nil when none are
	// sealed. It must be the key the API's store seals with.
	Secrets *seal.Sealer
}

// Render bounds (DESIGN.md §15).
const (
	// DefaultMaxExpandRows is Config.MaxExpandRows when zero: as many rows as a chunk
	// has items, enough for a contact's tasks or a deal's line items; more is a list to
	// page through with the CRM's API, not to push in every event.
	DefaultMaxExpandRows = 100
	// DefaultMaxBodyBytes is Config.MaxBodyBytes when zero: 1 MiB, what nginx accepts by
	// default (client_max_body_size), so that a receiver behind a stock reverse proxy
	// never answers 413; a chunk of 100 plain CRM items is ~200 KiB.
	DefaultMaxBodyBytes = 1 << 20
	// EnvelopeReserveBytes is the room ItemLimit leaves in a body for the request's
	// envelope ({"webhook_id":…,"delivery_id":…,"items":[…]}, ~120 bytes).
	EnvelopeReserveBytes = 512
)

// ItemLimit returns the bound of one rendered item under a body bound of maxBodyBytes
// (zero: the default): maxBodyBytes less EnvelopeReserveBytes.
func ItemLimit(maxBodyBytes int) int {
	if maxBodyBytes <= 0 {
		maxBodyBytes = DefaultMaxBodyBytes
	}
	return max(maxBodyBytes-EnvelopeReserveBytes, 1)
}

// Matcher decides which webhooks want each event and renders delivery items.
//
// Webhooks are compiled once, when they are loaded, into an immutable index keyed by event
// name ("Account.Create"), entity wildcard ("Account.*") and "*"; Match swaps nothing and
// locks nothing (the index is replaced atomically), so it is safe for concurrent use and
// an event's cost does not grow with webhooks that subscribe to other events. Deleted
// webhooks are not in the index. Paused and disabled ones are (Webhook.Held): their events
// are matched, and the sender holds them in its durable queue until they are resumed.
type Matcher struct {
	cfg   Config
	log   *slog.Logger
	met   *metrics
	cat   *catalog
	store *Store
	ix    atomic.Pointer[index]

	loadMu      sync.Mutex // serialises Load
	lastInvalid string     // the last install error logged, under loadMu
	types       typeCache
	cutLog      *ratelog.Limiter // warnings about items cut to the bounds, per webhook
	// itemBytes is the mean item size of the last chunk rendered: Render sizes its buffer
	// from it rather than growing it item by item.
	itemBytes atomic.Int64
}

var errNoMapping = errors.New("matcher: no mapping configured")

// New returns a Matcher with an empty index. It does no I/O.
func New(cfg Config) *Matcher {
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = 30 * time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 20 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CRM == nil {
		cfg.CRM = cfg.DB
	}
	if cfg.MaxExpandRows <= 0 {
		cfg.MaxExpandRows = DefaultMaxExpandRows
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	m := &Matcher{cfg: cfg, log: cfg.Logger, met: newMetrics(cfg.Registerer, cfg.Mapping),
		cutLog: ratelog.New(time.Minute)}
	if cfg.Mapping != nil {
		m.cat = newCatalog(cfg.Mapping)
	}
	if cfg.DB != nil {
		m.store = NewStore(cfg.DB).SealSecrets(cfg.Secrets)
	}
	m.ix.Store(newIndex(nil))
	return m
}

// Match appends to dst one Match per webhook that wants ev, and returns dst. It is safe for
// concurrent use and does not allocate unless it appends beyond dst's capacity.
func (m *Matcher) Match(ev *event.Event, dst []Match) []Match {
	n := len(dst)
	dst = m.ix.Load().match(ev, dst)
	m.met.count(ev, len(dst)-n)
	return dst
}

// Set replaces the index with whs, compiled; it needs no database (tests, benchmarks).
// Webhooks that are deleted are left out (paused and disabled ones stay in); one that does not compile is left out
// and its error returned (the others are still installed). A webhook whose ChunkSize is 0
// gets ChunkSize and ChunkDelay from its options, as Store fills them.
func (m *Matcher) Set(whs []*Webhook) error {
	for _, wh := range whs {
		if wh.ChunkSize == 0 {
			wh.ChunkSize, wh.ChunkDelay = chunking(wh.Options)
		}
	}
	return m.install(whs)
}

// install compiles whs and swaps the index.
func (m *Matcher) install(whs []*Webhook) error {
	if m.cat == nil {
		return errNoMapping
	}
	prev := m.ix.Load()
	subs := make([]*subscription, 0, len(whs))
	var errs []error
	for _, wh := range whs {
		if wh.IsDeleted {
			continue
		}
		if old := prev.byID[wh.ID]; old != nil && sameWebhook(old.wh, wh) {
			subs = append(subs, old) // unchanged: keep its compiled form and *Webhook
			continue
		}
		s, err := compile(m.cat, wh, false)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhook %s: %w", wh.ID, err))
			continue
		}
		subs = append(subs, s)
	}
	m.ix.Store(newIndex(subs))
	m.met.webhooks.Set(float64(len(subs)))
	m.met.invalid.Set(float64(len(errs)))
	return errors.Join(errs...)
}

// sameWebhook reports whether two loads of a webhook are identical.
func sameWebhook(a, b *Webhook) bool {
	return a.ID == b.ID && a.URL == b.URL && slices.Equal(a.Events, b.Events) && a.InsecureSSL == b.InsecureSSL &&
		a.Signature == b.Signature && bytes.Equal(a.Options, b.Options) && a.HTTPAuthUser == b.HTTPAuthUser &&
		a.HTTPAuthPassword == b.HTTPAuthPassword && a.Signing == b.Signing && a.Created.Equal(b.Created) &&
		a.Modified.Equal(b.Modified) && a.IsDeleted == b.IsDeleted && a.ChunkSize == b.ChunkSize &&
		a.ChunkDelay == b.ChunkDelay && a.Status == b.Status && a.DisabledReason == b.DisabledReason &&
		(a.DisabledAt == nil) == (b.DisabledAt == nil) &&
		(a.DisabledAt == nil || a.DisabledAt.Equal(*b.DisabledAt)) &&
		a.Format == b.Format && a.Space == b.Space && a.PreviousSignature == b.PreviousSignature &&
		sameTime(a.SignatureRotatedAt, b.SignatureRotatedAt) && maps.Equal(a.Headers, b.Headers) && a.Timeout == b.Timeout
}

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Load reads every live webhook from the database and installs them, replacing the index.
// A webhook that no longer fits the mapping (a field was renamed, an entity removed) is
// left out and logged; that is not an error of Load. On a database error the index is
// left as it was.
func (m *Matcher) Load(ctx context.Context) error {
	if m.store == nil {
		return errors.New("matcher: load webhooks: no database")
	}
	m.loadMu.Lock()
	defer m.loadMu.Unlock()
	whs, err := m.store.Live(ctx)
	if err != nil {
		m.met.reloads.WithLabelValues("error").Inc()
		return fmt.Errorf("matcher: %w", err)
	}
	err = m.install(whs)
	if msg := errText(err); msg != m.lastInvalid {
		m.lastInvalid = msg // logged once per change, not on every reload
		if err != nil {
			m.log.Error("webhooks left out of the matcher", "err", err)
		}
	}
	m.met.reloads.WithLabelValues("ok").Inc()
	return nil
}

// Run keeps the index current until ctx is done, then returns nil. It LISTENs on
// NotifyChannel on a connection of its own and reloads every webhook after each burst of
// notifications (so a change reaches Match within milliseconds), and every ReloadInterval
// as a safety net. Connection errors are logged and retried with backoff; the periodic
// reload continues meanwhile.
func (m *Matcher) Run(ctx context.Context) error {
	if m.store == nil {
		return errors.New("matcher: run: no database")
	}
	backoff := time.Second
	var lastLog time.Time
	for {
		listened, err := m.listen(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if listened {
			backoff = time.Second
		}
		if time.Since(lastLog) > time.Minute {
			m.log.Warn("webhook change notifications interrupted; retrying", "backoff", backoff, "err", err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		if err := m.Load(ctx); err != nil && ctx.Err() == nil && time.Since(lastLog) > time.Minute {
			m.log.Warn("reload webhooks", "err", err)
			lastLog = time.Now()
		}
		backoff = min(backoff*2, m.cfg.ReloadInterval)
	}
}

// listen runs one LISTEN session; listened reports whether it got as far as listening.
func (m *Matcher) listen(ctx context.Context) (listened bool, err error) {
	pc, err := m.cfg.DB.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("listen for webhook changes: %w", err)
	}
	conn := pc.Hijack() // a LISTEN connection must not go back to the pool
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return false, fmt.Errorf("listen on %s: %w", NotifyChannel, err)
	}
	// Loading after LISTEN: a change committed in between is either loaded now or notified.
	if err := m.Load(ctx); err != nil {
		return true, err
	}
	next := time.Now().Add(m.cfg.ReloadInterval)
	for {
		wctx, cancel := context.WithDeadline(ctx, next)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, nil
		case err == nil:
			if err := m.drain(ctx, conn); err != nil {
				return true, err
			}
		case !pgconn.Timeout(err):
			return true, fmt.Errorf("wait for webhook changes: %w", err)
		}
		if err := m.Load(ctx); err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			m.log.Warn("reload webhooks", "err", err)
		}
		next = time.Now().Add(m.cfg.ReloadInterval)
	}
}

// drain consumes the notifications that arrive within Debounce of each other.
func (m *Matcher) drain(ctx context.Context, conn *pgx.Conn) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, m.cfg.Debounce)
		_, err := conn.WaitForNotification(dctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			continue
		case pgconn.Timeout(err):
			return nil
		}
		return fmt.Errorf("wait for webhook changes: %w", err)
	}
}
