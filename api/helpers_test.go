package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testlog"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/matcher"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const token = "test-token-123"

// fakeResolver answers from a table; other hosts resolve to a public address.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := f[host]
	if !ok {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	if len(ips) == 0 {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out, nil
}

var testResolver = fakeResolver{
	"internal.example.com": {"93.184.216.34", "10.0.0.5"},
	"metadata.example.com": {"169.254.169.254"},
	"nxdomain.example.com": {},
}

// env is a database with the sample CRM and walhook's schema, and the API served on it.
type env struct {
	dsn    string
	m      *mapping.Mapping
	pool   *pgxpool.Pool
	store  *matcher.Store
	srv    *httptest.Server
	logs   *testlog.Buffer
	deliv  DeliveryLog
	api    *API
	client *http.Client
}

func newEnv(tb testing.TB, mod func(*Config)) *env {
	tb.Helper()
	c := crmtest.New(tb)
	dsn, m := c.DSN, c.Mapping
	pool := c.Pool(tb, nil)
	e := &env{dsn: dsn, m: m, pool: pool, store: matcher.NewStore(pool), logs: &testlog.Buffer{}}
	cfg := Config{Store: e.store, Mapping: m, Tokens: []string{"other", token}, Resolver: testResolver,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	e.api = New(cfg)
	e.srv = httptest.NewServer(e.api.Handler())
	tb.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	return e
}

// response is a decoded API response.
type response struct {
	Status  int
	Raw     []byte
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Code    int             `json:"code"`
	Field   string          `json:"field"`
	Message string          `json:"message"`
	Total   int             `json:"total"`
	Page    struct {
		EndCursor   *string `json:"end_cursor"`
		HasNextPage bool    `json:"has_next_page"`
		HasPrevious bool    `json:"has_previous_page"`
	} `json:"page_info"`
}

const collection = "/api/v100/rest/spaces/any-space/entities/Webhooks"

// do sends a request with the test token and decodes the envelope.
func (e *env) do(tb testing.TB, method, path, body string) response {
	tb.Helper()
	return e.doAuth(tb, method, path, body, "Bearer "+token)
}

func (e *env) doAuth(tb testing.TB, method, path, body, auth string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Raw: raw}
	if err := json.Unmarshal(raw, &r); err != nil {
		tb.Fatalf("%s %s: response is not JSON: %v\n%s", method, path, err, raw)
	}
	r.Status = resp.StatusCode
	return r
}

// view is a webhook as the API returns it.
type view struct {
	ID               string          `json:"id"`
	URL              string          `json:"url"`
	Events           []string        `json:"events"`
	InsecureSSL      bool            `json:"insecure_ssl"`
	Signature        *string         `json:"signature"`
	Options          json.RawMessage `json:"options"`
	HTTPAuthUser     *string         `json:"http_auth_user"`
	HTTPAuthPassword *string         `json:"http_auth_password"`
	Signing          string          `json:"signing"`
	Created          string          `json:"created"`
	Modified         string          `json:"modified"`
	IsDeleted        bool            `json:"is_deleted"`
	Status           string          `json:"status"`
	DisabledAt       *string         `json:"disabled_at"`
	DisabledReason   *string         `json:"disabled_reason"`
}

func (r response) webhook(tb testing.TB) view {
	tb.Helper()
	var v view
	if err := json.Unmarshal(r.Data, &v); err != nil {
		tb.Fatalf("data is not a webhook: %v\n%s", err, r.Raw)
	}
	return v
}
