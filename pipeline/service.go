package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/walhook/walhook/api"
	"github.com/walhook/walhook/backfill"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/inbound"
	"github.com/walhook/walhook/internal/seal"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/sender"
)

// Config is everything one walhook needs besides its HTTP listener. Each component's
// section holds its own settings; New fills in what they share (the database, the
// mapping, the webhook store, the logger and the registerer), so those fields of the
// sections are ignored.
type Config struct {
	// DB is the database holding walhook's schema (required for Load and Run; New does
	// not use it): the CRM database, unless CRM names another.
	DB *pgxpool.Pool
	// CRM is the CRM database, queried to render expansions and link parents, when
	// walhook's state lives elsewhere (WALHOOK_STATE_DATABASE_URL); nil means DB.
	CRM *pgxpool.Pool
	// Mapping must have been validated against the live schema (required).
	Mapping *mapping.Mapping
	Reader  cdc.Config
	Matcher matcher.Config
	Sender  sender.Config
	API     api.Config
	// Inbound configures inbound webhooks (DESIGN.md §13); New fills in its database,
	// token check, call bound (the matcher's item bound), logger and registerer.
	Inbound inbound.Config
	// Backfill configures backfills (DESIGN.md §14); New fills in its databases, mapping,
	// logger and registerer.
	Backfill backfill.Config
	// Secrets, when set, seals the webhooks' stored secrets (WALHOOK_SECRET_KEY).
	Secrets *seal.Sealer
	// Logger and Registerer are shared by every component; nil means discard and none.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service is one assembled walhook: reader, matcher, sender and API.
type Service struct {
	reader    *cdc.Reader
	matcher   *matcher.Matcher
	sender    *sender.Sender
	api       *api.API
	inbound   *inbound.Service
	backfills *backfill.Service
	handler   *Handler
}

// New assembles the components. It does no I/O. The reader is built first, so that the
// sender gets its Ack at construction: no component is built half-way.
func New(cfg Config) (*Service, error) {
	if cfg.Mapping == nil {
		return nil, errors.New("pipeline: config has no mapping")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rc := cfg.Reader
	rc.Mapping, rc.Logger, rc.Registerer = cfg.Mapping, cfg.Logger, cfg.Registerer
	reader, err := cdc.New(rc)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	store := matcher.NewStore(cfg.DB).SealSecrets(cfg.Secrets)
	mc := cfg.Matcher
	mc.DB, mc.CRM, mc.Mapping, mc.Logger, mc.Registerer = cfg.DB, cfg.CRM, cfg.Mapping, cfg.Logger, cfg.Registerer
	mc.Secrets = cfg.Secrets
	m := matcher.New(mc)
	sc := cfg.Sender
	sc.Webhooks, sc.Logger, sc.Registerer = sendTargets{store, cfg.DB, cfg.Secrets}, cfg.Logger, cfg.Registerer
	bc := cfg.Backfill
	bc.DB, bc.CRM, bc.Mapping, bc.Logger, bc.Registerer = cfg.DB, cfg.CRM, cfg.Mapping, cfg.Logger, cfg.Registerer
	bf := backfill.New(bc)
	// The sender acknowledges through the backfills' tracker: a chunk's acknowledgement
	// carries its window's low watermark with it.
	tracker := bf.Tracker(reader.Ack)
	snd := sender.New(sc, m, cfg.DB, tracker.Ack)
	ac := cfg.API
	ac.Store, ac.Mapping, ac.Logger, ac.Registerer = store, cfg.Mapping, cfg.Logger, cfg.Registerer
	ac.Deliveries, ac.Outcomes = deliveryLog{snd}, sender.OutcomeNames()
	ac.Trial = trial{m, snd}
	ac.Backfills = bf
	ic := cfg.Inbound
	ic.DB, ic.CRM, ic.Logger, ic.Registerer, ic.Secrets = cfg.DB, cfg.CRM, cfg.Logger, cfg.Registerer, cfg.Secrets
	ic.Authorize = api.TokenCheck(ac.Tokens)
	ic.MaxCallBytes = matcher.ItemLimit(mc.MaxBodyBytes)
	ic.Enqueue, ic.CheckHeaders = snd.Enqueue, api.CheckHeaders
	h := NewHandler(m, snd)
	h.Log = cfg.Logger
	h.Backfills = tracker
	return &Service{reader: reader, matcher: m, sender: snd, api: api.New(ac), inbound: inbound.New(ic), backfills: bf, handler: h}, nil
}

// Load reads the webhooks, so that the first event meets them all.
func (s *Service) Load(ctx context.Context) error {
	if err := s.matcher.Load(ctx); err != nil {
		return fmt.Errorf("load webhooks: %w", err)
	}
	return nil
}

// API is the webhook API's handler, to be mounted at /api/ and /v1/ (Pipedrive's).
func (s *Service) API() http.Handler { return s.api.Handler() }

// Inbound is the inbound webhooks' handler, to be mounted at /api/v3/.
func (s *Service) Inbound() http.Handler { return s.inbound.Handler() }

// Health is the reader's standing problem (a lost or missing slot), or nil.
func (s *Service) Health() error { return s.reader.Health() }

// Run runs the reader, the matcher's reloads and the sender's queue workers until ctx
// ends (nil) or one of them fails for good (its error). Call Load first, and Close after.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.reader.Run(gctx, s.handler) })
	g.Go(func() error { return s.matcher.Run(gctx) })
	g.Go(func() error { return s.sender.Run(gctx) })
	g.Go(func() error { return s.inbound.Run(gctx) })
	g.Go(func() error { return s.backfills.Run(gctx) })
	return g.Wait()
}

// Close flushes the sender (queueing what is in memory, writing the delivery log) once
// Run has returned. It returns the first error.
func (s *Service) Close(ctx context.Context) error { return s.sender.Close(ctx) }
