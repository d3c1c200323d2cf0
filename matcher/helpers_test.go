package matcher

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// env is a test database holding the sample CRM with walhook set up on it.
type env struct {
	dsn  string
	slot string
	m    *mapping.Mapping
	pool *pgxpool.Pool

	tb         testing.TB // the test owning the env (and the reader)
	readerOnce sync.Once
	col        *collector
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	c := crmtest.New(tb)
	e := &env{tb: tb, dsn: c.DSN, m: c.Mapping, slot: c.Slot}
	e.pool = newPool(tb, c.DSN, nil)
	return e
}

// newPool opens a pool configured for Render, with an optional tracer.
func newPool(tb testing.TB, dsn string, tracer pgx.QueryTracer) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	ConfigureCRMPool(cfg)
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func (e *env) matcher(tb testing.TB) *Matcher {
	tb.Helper()
	return New(Config{DB: e.pool, Mapping: e.m})
}

func (e *env) exec(tb testing.TB, sql string, args ...any) {
	tb.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("exec %.100q: %v", sql, err)
	}
}

// collector is the replication Handler of the tests: it keeps events by transaction.
type collector struct {
	mu      sync.Mutex
	byXID   map[uint32][]*event.Event
	commits chan event.Txn
	reader  *cdc.Reader
}

func (c *collector) HandleEvent(_ context.Context, ev *event.Event) error {
	c.mu.Lock()
	c.byXID[ev.XID] = append(c.byXID[ev.XID], ev)
	c.mu.Unlock()
	return nil
}

func (c *collector) HandleCommit(_ context.Context, txn event.Txn) error {
	c.reader.Ack(txn.EndLSN)
	c.commits <- txn
	return nil
}

// startReader starts the replication reader once, for the lifetime of the env's test.
func (e *env) startReader() {
	tb := e.tb
	e.readerOnce.Do(func() {
		c := &collector{byXID: map[uint32][]*event.Event{}, commits: make(chan event.Txn, 1024)}
		r, err := cdc.New(cdc.Config{ConnString: e.dsn, Slot: e.slot, Publication: "walhook", Mapping: e.m})
		if err != nil {
			tb.Fatal(err)
		}
		c.reader = r
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx, c) }()
		tb.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("reader: %v", err)
			}
		})
		e.col = c
	})
}

// capture runs sql in one transaction and returns the events the replication reader
// raises for it, in order.
func (e *env) capture(tb testing.TB, sql string, args ...any) []*event.Event {
	tb.Helper()
	e.startReader()
	ctx := context.Background()
	var xid int64
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid)
	})
	if err != nil {
		tb.Fatalf("exec %.100q: %v", sql, err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case txn := <-e.col.commits:
			if txn.XID != uint32(xid) {
				continue
			}
			e.col.mu.Lock()
			defer e.col.mu.Unlock()
			return e.col.byXID[txn.XID]
		case <-timeout:
			tb.Fatalf("no commit of transaction %d from the reader", xid)
		}
	}
}

// names returns the event names.
func names(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = string(ev.Name)
	}
	return out
}

// webhook returns a webhook with a fresh id.
func webhook(id string, events []string, options string) *Webhook {
	return &Webhook{ID: id, URL: "https://example.com/hook", Events: events, Options: json.RawMessage(options)}
}

// matchedIDs returns the ids of the webhooks that match ev.
func matchedIDs(m *Matcher, ev *event.Event) []string {
	var ids []string
	for _, mt := range m.Match(ev, nil) {
		ids = append(ids, mt.Webhook.ID)
	}
	return ids
}

// compiled returns wh's compiled subscription as Match hands it out: the matcher's when wh
// is installed in m, else compiled for the test as a stored webhook is.
func compiled(tb testing.TB, m *Matcher, wh *Webhook) Subscription {
	tb.Helper()
	if s := m.ix.Load().byID[wh.ID]; s != nil && s.wh == wh {
		return Subscription{s}
	}
	s, err := compile(m.cat, wh, false)
	if err != nil {
		tb.Fatalf("compile webhook %s: %v", wh.ID, err)
	}
	return Subscription{s}
}
