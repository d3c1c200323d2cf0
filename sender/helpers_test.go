package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/matcher"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// stateDB returns a pool on a fresh database holding walhook's schema (the migrations
// only: no publication or slot).
func stateDB(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return stateDBTraced(tb, nil)
}

// stateDBTraced is stateDB with tracer on the pool's connections (nil: none).
func stateDBTraced(tb testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	tb.Helper()
	dsn := crmtest.StateDSN(tb)
	return newTracedPool(tb, dsn, tracer)
}

func newPool(tb testing.TB, dsn string) *pgxpool.Pool {
	tb.Helper()
	return newTracedPool(tb, dsn, nil)
}

func newTracedPool(tb testing.TB, dsn string, tracer pgx.QueryTracer) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// claimCounter counts the queue workers' looks for due chunks: the claim statements run
// through a pool it traces.
type claimCounter struct{ n atomic.Int64 }

func (c *claimCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "FOR UPDATE SKIP LOCKED") {
		c.n.Add(1)
	}
	return ctx
}

func (*claimCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// itemRenderer renders an event as a delivery item with every ITEM key, as the matcher does.
type itemRenderer struct{}

func (itemRenderer) RenderAppend(_ context.Context, buf []byte, _ matcher.Subscription, evs []*event.Event) ([]json.RawMessage, []byte, error) {
	out := make([]json.RawMessage, len(evs))
	b := buf[:0] // the items share the sender's buffer, as the matcher's do
	for i, ev := range evs {
		n := len(b)
		b = append(b, `{"id":`...)
		b = jsonx.AppendString(b, ev.ID)
		b = append(b, `,"event":`...)
		b = jsonx.AppendString(b, ev.Name)
		b = append(b, `,"entity":`...)
		b = jsonx.AppendString(b, ev.Entity)
		b = append(b, `,"entity_id":`...)
		b = jsonx.AppendString(b, ev.EntityID)
		b = append(b, `,"committed_at":"`...)
		b = ev.CommitTime.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, `","lsn":"`...)
		b = append(b, ev.CommitLSN.String()...)
		b = append(b, `","xid":`...)
		b = strconv.AppendUint(b, uint64(ev.XID), 10)
		b = append(b, `,"data":`...)
		b = ev.New.AppendJSON(b)
		b = append(b, `,"previous":null,"changed_fields":null,"related_entity":null,"truncated":null}`...)
		out[i] = b[n:len(b):len(b)]
	}
	return out, b, nil
}

// Render renders evs into a buffer of their own.
func (r itemRenderer) Render(ctx context.Context, sub matcher.Subscription, evs []*event.Event) ([]json.RawMessage, error) {
	items, _, err := r.RenderAppend(ctx, nil, sub, evs)
	return items, err
}

// gen makes events: transaction k commits at LSN (k+1)<<16.
type gen struct {
	n uint32
}

// txn returns n events of one new transaction; entity(i) names the entity id of event i.
func (g *gen) txn(n int, entity func(i int) string) ([]*event.Event, event.Txn) {
	g.n++
	lsn := event.LSN(uint64(g.n) << 16)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(g.n) * time.Millisecond)
	evs := make([]*event.Event, n)
	for i := range evs {
		seq := uint32(i + 1)
		id := entity(i)
		evs[i] = &event.Event{
			ID:   event.EventID(fmt.Sprintf("%016X-%d-Account.Update", uint64(lsn), seq)),
			Name: "Account.Update", Entity: "Account", EntityID: id,
			CommitLSN: lsn, CommitTime: at, XID: g.n, Seq: seq,
			New: event.Row{{Name: "id", Value: event.Value{Kind: event.KindText, Raw: []byte(id)}}},
		}
	}
	return evs, event.Txn{XID: g.n, CommitLSN: lsn, CommitTime: at, EndLSN: lsn + 8, Events: n}
}

// oneEach gives every event its own entity.
func oneEach(i int) string { return "e" + strconv.Itoa(i) }

// feed hands a transaction to the sender as the reader would.
func feed(tb testing.TB, s *Sender, wh *matcher.Webhook, evs []*event.Event, txn event.Txn) {
	tb.Helper()
	ctx := context.Background()
	for _, ev := range evs {
		if err := s.Add(ctx, matcher.Match{Webhook: wh, Event: ev}); err != nil {
			tb.Fatalf("add: %v", err)
		}
	}
	if err := s.Commit(ctx, txn); err != nil {
		tb.Fatalf("commit: %v", err)
	}
}

// acks records acknowledged LSNs.
type acks struct {
	mu   sync.Mutex
	got  map[event.LSN]int
	cond chan struct{}
}

func newAcks() *acks { return &acks{got: map[event.LSN]int{}, cond: make(chan struct{}, 1)} }

func (a *acks) ack(l event.LSN) {
	a.mu.Lock()
	a.got[l]++
	a.mu.Unlock()
	select {
	case a.cond <- struct{}{}:
	default:
	}
}

func (a *acks) count(l event.LSN) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.got[l]
}

// wait waits until every LSN is acknowledged.
func (a *acks) wait(tb testing.TB, lsns ...event.LSN) {
	tb.Helper()
	eventually(tb, "acknowledgements", func() bool {
		for _, l := range lsns {
			if a.count(l) == 0 {
				return false
			}
		}
		return true
	})
}

// eventually waits for cond with the shared helper (internal/testwait), for 30s (5m in
// benchmarks).
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	timeout := 30 * time.Second
	if _, ok := tb.(*testing.B); ok {
		timeout = 5 * time.Minute
	}
	testwait.For(tb, timeout, what, cond)
}

// testConfig returns a fast configuration for tests.
func testConfig() Config {
	return Config{
		Version:             "test",
		AllowPrivateTargets: true,
		Linger:              time.Millisecond,
		RequestTimeout:      5 * time.Second,
		RetryMinBackoff:     5 * time.Millisecond,
		RetryMaxBackoff:     20 * time.Millisecond,
		QueuePollInterval:   10 * time.Millisecond,
		Registerer:          prometheus.NewRegistry(),
	}
}

// startSender starts a Sender with Run; cleanup closes it and checks that no goroutine
// of the package is left.
func startSender(tb testing.TB, cfg Config, pool *pgxpool.Pool) (*Sender, *acks) {
	tb.Helper()
	a := newAcks()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tlogWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s := New(cfg, itemRenderer{}, pool, a.ack)
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			tb.Errorf("close: %v", err)
		}
		if err := <-done; err != nil {
			tb.Errorf("run: %v", err)
		}
		checkNoLeaks(tb)
	})
	return s, a
}

// tlogWriter sends log lines to the test log.
type tlogWriter struct{ tb testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// checkNoLeaks fails if a goroutine running this package's code outlives Close.
func checkNoLeaks(tb testing.TB) {
	tb.Helper()
	var leaked string
	for range 200 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "walhook/walhook/sender.") && !strings.Contains(g, "_test.go") {
				leaked = g
				break
			}
		}
		if leaked == "" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Errorf("goroutine leaked after Close:\n%s", leaked)
}

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
	user   string
	pass   string
	hasPw  bool
	p      payload
}

type payload struct {
	WebhookID  string `json:"webhook_id"`
	DeliveryID string `json:"delivery_id"`
	Items      []struct {
		ID       string `json:"id"`
		EntityID string `json:"entity_id"`
		Lsn      string `json:"lsn"`
	} `json:"items"`
}

// receiver is a loopback endpoint: each request is decoded and passed to respond, which
// returns the status; accepted requests (2xx) go to got.
type receiver struct {
	srv     *httptest.Server
	respond func(r *request) int
	got     chan *request
	all     chan *request
}

func newReceiver(tb testing.TB, respond func(*request) int) *receiver {
	tb.Helper()
	rc := &receiver{respond: respond, got: make(chan *request, 10000), all: make(chan *request, 10000)}
	if rc.respond == nil {
		rc.respond = func(*request) int { return http.StatusOK }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	tb.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := &request{header: r.Header.Clone(), body: body}
	req.user, req.pass, req.hasPw = r.BasicAuth()
	_ = json.Unmarshal(body, &req.p)
	select {
	case rc.all <- req:
	default:
	}
	status := rc.respond(req)
	if status >= 200 && status < 300 {
		rc.got <- req
	}
	w.WriteHeader(status)
}

// next returns the next accepted request.
func (rc *receiver) next(tb testing.TB) *request {
	tb.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(30 * time.Second):
		tb.Fatal("no request within 30s")
		return nil
	}
}

func newWebhook(url string) *matcher.Webhook {
	return &matcher.Webhook{ID: uuid.NewString(), URL: url, ChunkSize: 100, Signing: matcher.SigningPipeliner}
}

// queueRows counts the webhook's chunks in the queue by state.
func queueRows(tb testing.TB, pool *pgxpool.Pool, webhookID, state string) int {
	tb.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM walhook.delivery_queue
		WHERE webhook_id = $1 AND state = $2`, webhookID, state).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// holdingReceiver is an endpoint that holds every request until release is called (or the
// request ends), counting the requests it took. release may be called more than once; the
// test's cleanup releases and closes it.
type holdingReceiver struct {
	*httptest.Server
	requests atomic.Int64
	release  func()
}

func newHoldingReceiver(tb testing.TB) *holdingReceiver {
	h := &holdingReceiver{}
	released := make(chan struct{})
	h.release = sync.OnceFunc(func() { close(released) })
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-released:
		case <-r.Context().Done():
		}
	}))
	tb.Cleanup(func() {
		h.release()
		h.Close()
	})
	return h
}
