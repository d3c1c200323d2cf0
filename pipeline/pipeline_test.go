package pipeline_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/sender"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// matchAll matches every event to one webhook.
type matchAll struct{ wh *matcher.Webhook }

func (m matchAll) Match(ev *event.Event, dst []matcher.Match) []matcher.Match {
	return append(dst, matcher.Match{Webhook: m.wh, Event: ev})
}

// renderer renders items with the keys the tests read.
type renderer struct{}

func (renderer) RenderAppend(_ context.Context, buf []byte, _ matcher.Subscription, evs []*event.Event) ([]json.RawMessage, []byte, error) {
	out := make([]json.RawMessage, len(evs))
	for i, ev := range evs {
		b, err := json.Marshal(map[string]any{"id": ev.ID, "event": ev.Name, "entity": ev.Entity,
			"entity_id": ev.EntityID, "data": json.RawMessage(ev.New.AppendJSON(nil))})
		if err != nil {
			return nil, buf, err
		}
		out[i] = b
	}
	return out, buf, nil
}

// env is a sample CRM with walhook set up, a reader, the pipeline and a sender.
type env struct {
	conn   *pgx.Conn
	slot   string
	reader *cdc.Reader
}

func start(t *testing.T, wh *matcher.Webhook) *env {
	t.Helper()
	c := crmtest.New(t)
	e := &env{conn: c.Conn, slot: c.Slot}
	pool := c.Pool(t, nil)
	dsn, m := c.DSN, c.Mapping

	reader, err := cdc.New(cdc.Config{ConnString: dsn, Slot: e.slot, Publication: schema.DefaultName, Mapping: m,
		StandbyInterval: 50 * time.Millisecond, ReconnectBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := sender.New(sender.Config{Version: "e2e", AllowPrivateTargets: true, Linger: time.Millisecond,
		RetryMinBackoff: 10 * time.Millisecond, RetryMaxBackoff: 50 * time.Millisecond,
		BreakerCooldown: 50 * time.Millisecond, QueuePollInterval: 20 * time.Millisecond},
		renderer{}, pool, reader.Ack)
	h := pipeline.NewHandler(matchAll{wh}, s)
	e.reader = reader
	closeAtEnd(t, s)
	runUntilEnd(t, map[string]func(context.Context) error{"sender": s.Run,
		"reader": func(ctx context.Context) error { return reader.Run(ctx, h) }})
	return e
}

// runUntilEnd runs each of runs on its own goroutine until the test ends; then their
// context is cancelled and they are waited for. An error of one fails the test.
func runUntilEnd(t *testing.T, runs map[string]func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for name, run := range runs {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// closeAtEnd closes s when the test ends, after what a later runUntilEnd runs has
// stopped (cleanups run last-registered first).
func closeAtEnd(t *testing.T, s *sender.Sender) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close sender: %v", err)
		}
	})
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

func (e *env) confirmed(t *testing.T) event.LSN {
	t.Helper()
	var lsn event.LSN
	if err := e.conn.QueryRow(context.Background(), `SELECT confirmed_flush_lsn FROM pg_replication_slots
		WHERE slot_name = $1`, e.slot).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}

func (e *env) walLSN(t *testing.T) event.LSN {
	t.Helper()
	var lsn event.LSN
	if err := e.conn.QueryRow(context.Background(), `SELECT pg_current_wal_insert_lsn()`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	return lsn
}

type delivery struct {
	Items []struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  struct {
			Name string `json:"name"`
		} `json:"data"`
	} `json:"items"`
}

// receiver accepts requests while up, answering 503 otherwise; accepted bodies go to got.
func receiver(t *testing.T, up *atomic.Bool, signature string) (*httptest.Server, chan delivery) {
	got := make(chan delivery, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mac := hmac.New(sha256.New, []byte(signature))
		mac.Write(body)
		if r.Header.Get("WebHook-Signature") != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("bad signature")
		}
		var d delivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Errorf("body: %v", err)
		}
		got <- d
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// collect reads accepted deliveries until n items arrived and returns the account names.
func collect(t *testing.T, got chan delivery, n int) []string {
	t.Helper()
	var names []string
	timeout := time.After(60 * time.Second)
	for len(names) < n {
		select {
		case d := <-got:
			for _, it := range d.Items {
				if it.Event == "Account.Create" {
					names = append(names, it.Data.Name)
				}
			}
		case <-timeout:
			t.Fatalf("got %d of %d events", len(names), n)
		}
	}
	return names
}

func TestCRMWritesReachWebhook(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	sig := uuid.NewString()
	srv, got := receiver(t, &up, sig)
	wh := &matcher.Webhook{ID: uuid.NewString(), URL: srv.URL, Signature: sig, ChunkSize: 100}
	e := start(t, wh)
	e.exec(t, `INSERT INTO crm.accounts (name) SELECT 'bulk ' || g FROM generate_series(1, 250) g`)
	for i := range 5 {
		e.exec(t, `INSERT INTO crm.accounts (name) VALUES ($1)`, fmt.Sprintf("single %d", i))
	}
	names := collect(t, got, 255)
	for i := range 250 {
		if names[i] != fmt.Sprintf("bulk %d", i+1) {
			t.Fatalf("event %d is %q: commit order broken", i, names[i])
		}
	}
	for i := range 5 {
		if names[250+i] != fmt.Sprintf("single %d", i) {
			t.Fatalf("event %d is %q", 250+i, names[250+i])
		}
	}
	end := e.walLSN(t)
	testwait.Until(t, 30*time.Second, "the slot to confirm everything written", func() (bool, string, error) {
		got := e.confirmed(t)
		return got >= end, fmt.Sprintf("confirmed_flush_lsn %s, want %s", got, end), nil
	})
}

func TestSlotAdvancesWhileEndpointIsDown(t *testing.T) {
	var up atomic.Bool
	sig := uuid.NewString()
	srv, got := receiver(t, &up, sig)
	wh := &matcher.Webhook{ID: uuid.NewString(), URL: srv.URL, Signature: sig, ChunkSize: 10}
	e := start(t, wh)
	const n = 40
	for i := range n {
		e.exec(t, `INSERT INTO crm.accounts (name) VALUES ($1)`, fmt.Sprintf("acct %02d", i))
	}
	end := e.walLSN(t)
	testwait.Until(t, 30*time.Second, "the slot to advance while the endpoint is down", func() (bool, string, error) {
		got := e.confirmed(t)
		return got >= end, fmt.Sprintf("confirmed_flush_lsn %s, want %s", got, end), nil
	})
	var queued int
	if err := e.conn.QueryRow(context.Background(), `SELECT count(*) FROM walhook.delivery_queue
		WHERE state = 'pending'`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	if queued == 0 {
		t.Fatal("slot advanced but nothing waits in the durable queue")
	}
	if len(got) != 0 {
		t.Fatalf("%d deliveries accepted while down", len(got))
	}
	up.Store(true)
	names := collect(t, got, n)
	for i := range n {
		if names[i] != fmt.Sprintf("acct %02d", i) {
			t.Fatalf("event %d is %q, want %q: order broken across the queue", i, names[i], fmt.Sprintf("acct %02d", i))
		}
	}
}
