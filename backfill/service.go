package backfill

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
)

// States of a backfill (Backfill.State).
const (
	StateRunning   = "running"
	StateDone      = "done"
	StateCancelled = "cancelled"
	StateFailed    = "failed"
)

// Defaults and bounds.
const (
	// DefaultRate is a backfill's pace when its request names none, in rows per second.
	DefaultRate = 1000
	// MaxRate bounds a requested rate.
	MaxRate = 100000
	// DefaultChunkRows is how many rows one chunk reads.
	DefaultChunkRows = 500
	// DefaultInFlight is how many chunks may be in the WAL ahead of the reader.
	DefaultInFlight = 4
)

// ErrNotFound is returned (wrapped) when a webhook has no backfill (or no running one, to
// cancel); it wraps matcher.ErrNotFound, which the API answers with 404.
var ErrNotFound error = notFound{}

type notFound struct{}

func (notFound) Error() string { return "no backfill" }
func (notFound) Unwrap() error { return matcher.ErrNotFound }

// ErrRunning is returned (wrapped) by Start when the webhook has a backfill running.
var ErrRunning = errors.New("a backfill of this webhook is running")

// prometheusRegisterer is the metrics registry a Service registers with.
type prometheusRegisterer = prometheus.Registerer

// Config configures a Service. Zero values mean the defaults.
type Config struct {
	// DB is walhook's state database (required); CRM the CRM database, whose rows are read
	// and into whose WAL the chunks go (nil: DB).
	DB, CRM *pgxpool.Pool
	// Mapping must have been validated against the live schema (required).
	Mapping *mapping.Mapping
	// ChunkRows is the rows one chunk reads; InFlight the chunks that may wait in the WAL
	// for the reader.
	ChunkRows, InFlight int
	// Poll is how often the Service looks for backfills to run (default 1s); Start wakes
	// it at once.
	Poll       time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service starts, runs, reports and cancels backfills. Its methods are safe for
// concurrent use.
type Service struct {
	cfg  Config
	log  *slog.Logger
	met  *metrics
	wake chan struct{}

	mu     sync.Mutex
	active map[string]bool // backfills this instance runs
	types  map[string]map[string]string
}

// New returns a Service. It does no I/O.
func New(cfg Config) *Service {
	if cfg.CRM == nil {
		cfg.CRM = cfg.DB
	}
	if cfg.ChunkRows <= 0 {
		cfg.ChunkRows = DefaultChunkRows
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: cfg.Logger, met: newMetrics(cfg.Registerer), wake: make(chan struct{}, 1),
		active: map[string]bool{}, types: map[string]map[string]string{}}
}

// Request is what POST …/backfill asks for.
type Request struct {
	// Entities are the entities whose rows are sent (required).
	Entities []string
	// Filter, in the options' syntax ({"Opportunity": {"filter": …, "filter-op": …}}),
	// narrows the rows; null or empty for none.
	Filter json.RawMessage
	// Rate is the pace in rows per second; 0 means DefaultRate.
	Rate int
}

// Backfill is a backfill and its progress, as the API shows it.
type Backfill struct {
	ID        string          `json:"id"`
	WebhookID string          `json:"webhook_id"`
	State     string          `json:"state"`
	Entities  []string        `json:"entities"`
	Filter    json.RawMessage `json:"filter"`
	Rate      int             `json:"rate"`
	// RowsDone are the rows read so far, of RowsTotal counted when it started; RowsReread
	// the rows read again because they changed while their chunk was read.
	RowsDone   int64 `json:"rows_done"`
	RowsTotal  int64 `json:"rows_total"`
	RowsReread int64 `json:"rows_reread"`
	// ETASeconds is the time left at the pace so far; nil when not running or unknown.
	ETASeconds *float64   `json:"eta_seconds"`
	Error      *string    `json:"error"`
	Created    time.Time  `json:"created"`
	Modified   time.Time  `json:"modified"`
	Finished   *time.Time `json:"finished"`
}

// Check validates a request against the mapping, answering an *matcher.InvalidError that
// names the field.
func (s *Service) Check(req Request) error {
	if len(req.Entities) == 0 {
		return matcher.Invalidf("entities", "required: a non-empty list of entity names")
	}
	for i, name := range req.Entities {
		e := s.cfg.Mapping.Entity(name)
		if e == nil || !e.Events {
			return matcher.Invalidf(fmt.Sprintf("entities[%d]", i), "unknown entity %q", name)
		}
		if slices.Index(req.Entities, name) != i {
			return matcher.Invalidf(fmt.Sprintf("entities[%d]", i), "entity %q listed twice", name)
		}
	}
	rf, err := matcher.CompileRowFilter(s.cfg.Mapping, "filter", req.Filter)
	if err != nil {
		return err
	}
	if rf != nil {
		var members map[string]json.RawMessage
		_ = json.Unmarshal(req.Filter, &members)
		for name := range members {
			if !slices.Contains(req.Entities, name) {
				return matcher.Invalidf("filter."+name, "entity %q is not in entities", name)
			}
		}
	}
	if req.Rate < 0 || req.Rate > MaxRate {
		return matcher.Invalidf("rate", "must be between 1 and %d rows per second", MaxRate)
	}
	return nil
}

// Start records a backfill of webhook webhookID and wakes the runner. The webhook must
// exist (the caller checks); a webhook with a running backfill gets ErrRunning.
func (s *Service) Start(ctx context.Context, webhookID string, req Request) (*Backfill, error) {
	if err := s.Check(req); err != nil {
		return nil, err
	}
	if req.Rate == 0 {
		req.Rate = DefaultRate
	}
	var filter any
	if len(req.Filter) > 0 && string(req.Filter) != "null" {
		filter = string(req.Filter)
	}
	id := uuid.New().String()
	_, err := s.cfg.DB.Exec(ctx, `INSERT INTO walhook.backfills (id, webhook_id, entities, filter, rate)
		VALUES ($1, $2, $3, $4::json, $5)`, id, webhookID, req.Entities, filter, req.Rate)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return nil, fmt.Errorf("start a backfill of webhook %s: %w", webhookID, ErrRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("start a backfill of webhook %s: %w", webhookID, err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return s.get(ctx, `id = $1`, id)
}

// Latest returns the webhook's latest backfill; ErrNotFound when it has none.
func (s *Service) Latest(ctx context.Context, webhookID string) (*Backfill, error) {
	return s.get(ctx, `webhook_id = $1`, webhookID)
}

// Cancel cancels the webhook's running backfill and returns it; ErrNotFound when none
// runs. Chunks already in the WAL are still delivered; no new one is read.
func (s *Service) Cancel(ctx context.Context, webhookID string) (*Backfill, error) {
	var id string
	err := s.cfg.DB.QueryRow(ctx, `UPDATE walhook.backfills SET state = 'cancelled', finished = now(), modified = now()
		WHERE webhook_id = $1 AND state = 'running' RETURNING id::text`, webhookID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("cancel the backfill of webhook %s: %w", webhookID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("cancel the backfill of webhook %s: %w", webhookID, err)
	}
	s.met.finished.WithLabelValues(StateCancelled).Inc()
	// The end message releases a window left open, even if no worker runs the backfill
	// now (its worker stopped between a low watermark and its chunk). The worker that
	// sees the cancel emits it again; a repeat is harmless.
	if err := s.end(ctx, id); err != nil {
		s.log.Warn("cancel backfill: emit its end", "backfill_id", id, "err", err)
	}
	return s.get(ctx, `id = $1`, id)
}

const backfillColumns = `id::text, webhook_id::text, state, entities, filter::text, rate, rows_done, rows_total,
	rows_reread, error, created, modified, finished`

// get reads the newest backfill satisfying where (with $1 = arg).
func (s *Service) get(ctx context.Context, where, arg string) (*Backfill, error) {
	if _, err := uuid.Parse(arg); err != nil {
		return nil, fmt.Errorf("backfill of %q: %w", arg, ErrNotFound)
	}
	var b Backfill
	var filter *string
	err := s.cfg.DB.QueryRow(ctx, `SELECT `+backfillColumns+` FROM walhook.backfills WHERE `+where+`
		ORDER BY created DESC LIMIT 1`, arg).Scan(&b.ID, &b.WebhookID, &b.State, &b.Entities, &filter, &b.Rate,
		&b.RowsDone, &b.RowsTotal, &b.RowsReread, &b.Error, &b.Created, &b.Modified, &b.Finished)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("backfill of %s: %w", arg, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read backfill of %s: %w", arg, err)
	}
	if filter != nil {
		b.Filter = json.RawMessage(*filter)
	} else {
		b.Filter = json.RawMessage("null")
	}
	if b.State == StateRunning && b.RowsDone > 0 && b.RowsTotal >= b.RowsDone {
		b.ETASeconds = eta(b.RowsTotal-b.RowsDone, b.RowsDone, time.Since(b.Created), b.Rate)
	}
	return &b, nil
}

// eta is the time left for left rows: at the pace so far (done rows in elapsed), but never
// faster than the rate allows (the first chunk is read at once, before any pacing).
func eta(left, done int64, elapsed time.Duration, rate int) *float64 {
	pace := float64(done) / elapsed.Seconds()
	if pace > float64(rate) || elapsed <= 0 {
		pace = float64(rate)
	}
	e := float64(left) / pace
	return &e
}
