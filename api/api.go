package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
)

// BasePath is the webhooks collection; {space_id} may be anything.
const BasePath = "/api/v100/rest/spaces/{space_id}/entities/Webhooks"

// OpenAPIPath serves the OpenAPI 3.0 document, without authentication.
const OpenAPIPath = "/api/openapi.json"

// Store is what the API needs of the webhook store; *matcher.Store satisfies it. Methods
// taking an id answer an error wrapping matcher.ErrNotFound for an unknown or deleted
// webhook; Update passes through the error of apply.
type Store interface {
	Create(ctx context.Context, wh *matcher.Webhook) (*matcher.Webhook, error)
	Get(ctx context.Context, id string) (*matcher.Webhook, error)
	List(ctx context.Context, space string, legacy bool, offset, limit int) ([]*matcher.Webhook, int, error)
	Update(ctx context.Context, id string, apply func(*matcher.Webhook) error) (*matcher.Webhook, error)
	Delete(ctx context.Context, id string) error
}

var _ Store = (*matcher.Store)(nil)

// Config configures the API. Zero values mean the defaults.
type Config struct {
	// Store keeps the webhooks (required).
	Store Store
	// Mapping, validated against the live schema, defines the events, entities and fields
	// that webhooks may name (required).
	Mapping *mapping.Mapping
	// Tokens are the accepted API tokens; with none, every call is refused (401).
	Tokens []string
	// AllowPrivateTargets accepts webhook URLs on loopback, private, link-local and
	// metadata addresses (WALHOOK_ALLOW_PRIVATE_TARGETS).
	AllowPrivateTargets bool
	// Resolver resolves webhook URL hosts for the private-target check (default: the
	// system resolver); LookupTimeout bounds each lookup (default 2s).
	Resolver      Resolver
	LookupTimeout time.Duration
	// Deliveries serves the delivery sub-resources; nil answers them with 501.
	Deliveries DeliveryLog
	// Outcomes are the outcome words the delivery log's status search and replay accept
	// (sender.OutcomeNames); empty accepts any lowercase word.
	Outcomes []string
	// Trial serves test-send and preview; nil answers them with 501.
	Trial Trial
	// Backfills serves the backfill sub-resource; nil answers it with 501.
	Backfills Backfills
	// MaxTimeout bounds a webhook's timeout (WALHOOK_MAX_WEBHOOK_TIMEOUT; default 60s).
	MaxTimeout time.Duration
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// API serves the webhook REST API. It is safe for concurrent use.
type API struct {
	cfg       Config
	log       *slog.Logger
	met       *metrics
	tokens    tokens
	validator *matcher.Validator
	handler   http.Handler
	pd        PipedriveStore // the store's Pipedrive side; nil when it has none
}

// route is one registered endpoint.
type route struct {
	method, path, name string
	public             bool // served without a token
	serve              func(a *API, w http.ResponseWriter, r *http.Request) *apiError
}

// routes returns every endpoint; New registers exactly these, and a test checks that the
// OpenAPI document describes exactly these.
func routes() []route {
	return []route{
		{method: "POST", path: BasePath, name: "create", serve: (*API).create},
		{method: "GET", path: BasePath, name: "list", serve: (*API).list},
		{method: "GET", path: BasePath + "/{id}", name: "get", serve: (*API).get},
		{method: "PATCH", path: BasePath + "/{id}", name: "update", serve: (*API).update},
		{method: "DELETE", path: BasePath + "/{id}", name: "delete", serve: (*API).delete},
		{method: "GET", path: BasePath + "/{id}/deliveries", name: "deliveries", serve: (*API).deliveries},
		{method: "GET", path: BasePath + "/{id}/deliveries/{delivery_id}", name: "delivery", serve: (*API).delivery},
		{method: "POST", path: BasePath + "/{id}/replay", name: "replay", serve: (*API).replay},
		{method: "GET", path: BasePath + "/{id}/dead-letters", name: "dead_letters", serve: (*API).deadLetters},
		{method: "POST", path: BasePath + "/{id}/redeliver", name: "redeliver", serve: (*API).redeliver},
		{method: "POST", path: BasePath + "/{id}/pause", name: "pause", serve: (*API).pause},
		{method: "POST", path: BasePath + "/{id}/resume", name: "resume", serve: (*API).resume},
		{method: "GET", path: BasePath + "/{id}/secret", name: "secret", serve: (*API).secret},
		{method: "POST", path: BasePath + "/{id}/test", name: "test", serve: (*API).testSend},
		{method: "POST", path: BasePath + "/preview", name: "preview", serve: (*API).preview},
		{method: "POST", path: BasePath + "/{id}/backfill", name: "backfill_start", serve: (*API).startBackfill},
		{method: "GET", path: BasePath + "/{id}/backfill", name: "backfill_get", serve: (*API).getBackfill},
		{method: "DELETE", path: BasePath + "/{id}/backfill", name: "backfill_cancel", serve: (*API).cancelBackfill},
		{method: "GET", path: OpenAPIPath, name: "openapi", public: true, serve: (*API).openAPI},
	}
}

// New returns the API. It does no I/O.
func New(cfg Config) *API {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.LookupTimeout <= 0 {
		cfg.LookupTimeout = 2 * time.Second
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 60 * time.Second
	}
	if cfg.Resolver == nil {
		cfg.Resolver = defaultResolver()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{cfg: cfg, log: cfg.Logger, tokens: newTokens(cfg.Tokens), met: newMetrics(cfg.Registerer)}
	if cfg.Mapping != nil {
		a.validator = matcher.NewValidator(cfg.Mapping)
	}
	mux := http.NewServeMux()
	methods := map[string][]string{}
	for _, rt := range routes() {
		mux.Handle(rt.method+" "+rt.path, a.wrap(rt))
		methods[rt.path] = append(methods[rt.path], rt.method)
	}
	for path, ms := range methods {
		if !overlapsWildcard(path, methods) {
			mux.Handle(path, a.methodNotAllowed(ms))
			continue
		}
		// A literal path where another route has a wildcard (…/Webhooks/preview beside
		// …/Webhooks/{id}): a pattern for every method would conflict with the other's
		// method patterns, so it gets one per method instead.
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if !slices.Contains(ms, m) {
				mux.Handle(m+" "+path, a.methodNotAllowed(ms))
			}
		}
	}
	mux.Handle("/api/", a.notFound())
	a.registerPipedrive(mux)
	a.handler = mux
	return a
}

// overlapsWildcard reports whether another of paths matches some of path's requests
// through a wildcard segment where path has a literal one.
func overlapsWildcard(path string, paths map[string][]string) bool {
	segs := strings.Split(path, "/")
	for other := range paths {
		theirs := strings.Split(other, "/")
		if other == path || len(theirs) != len(segs) {
			continue
		}
		overlap := true
		for i := range segs {
			if segs[i] != theirs[i] && !strings.HasPrefix(theirs[i], "{") {
				overlap = false
				break
			}
		}
		if overlap {
			return true
		}
	}
	return false
}

// Handler returns the API's HTTP handler, to be mounted at the server's root; it serves
// only paths under /api/ and, Pipedrive's, under /v1/.
func (a *API) Handler() http.Handler { return a.handler }

// finish ends a request of route rt, deferred by each dialect's wrapper: a panic is
// logged and answered 500 in the dialect's error shape (writeErr), and the request is
// counted and logged at debug level.
func (a *API) finish(rt route, r *http.Request, sw *statusWriter, start time.Time, writeErr func(http.ResponseWriter, *apiError)) {
	if p := recover(); p != nil {
		a.log.Error("api handler panicked", "route", rt.name, "panic", fmt.Sprint(p))
		if sw.status == 0 {
			writeErr(sw, errorf(http.StatusInternalServerError, "", "internal error"))
		}
	}
	a.met.observe(rt.name, sw.status, time.Since(start))
	a.log.Debug("api request", "method", r.Method, "route", rt.name, "status", sw.status,
		"duration_ms", time.Since(start).Milliseconds())
}

// wrap adds authentication, panic recovery, metrics and logging to a route.
func (a *API) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer a.finish(rt, r, sw, start, writeError)
		if !rt.public {
			t, ok := a.tokens.find(r)
			if !ok {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="walhook"`)
				writeError(sw, errorf(http.StatusUnauthorized, "", "missing or invalid API token (Authorization: Bearer <token>)"))
				return
			}
			if space := r.PathValue("space_id"); !t.inSpace(space) {
				writeError(sw, errorf(http.StatusForbidden, "space_id", fmt.Sprintf("space_id: this API token is limited to other spaces than %s", shorten(space))))
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, t))
		}
		if err := rt.serve(a, sw, r); err != nil {
			if err.status == http.StatusInternalServerError {
				// The cause (a database error) is logged, not shown.
				a.log.Error("api request failed", "route", rt.name, "err", err.msg)
				err.msg = "internal error"
			}
			writeError(sw, err)
		}
	})
}

func (a *API) methodNotAllowed(methods []string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, errorf(http.StatusMethodNotAllowed, "", fmt.Sprintf("method %s not allowed here (allowed: %s)", r.Method, allow)))
	})
}

func (a *API) notFound() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "", "no such endpoint"))
	})
}

// statusWriter records the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status and passes it on.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
