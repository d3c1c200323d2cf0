package cdc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// crm is a test database holding the sample CRM with walhook set up on it.
type crm struct{ *crmtest.CRM }

func newCRM(t testing.TB) *crm { return &crm{crmtest.New(t)} }

func (c *crm) confirmedFlush(t testing.TB) event.LSN {
	t.Helper()
	var lsn event.LSN
	err := c.Conn.QueryRow(context.Background(), "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", c.Slot).Scan(&lsn)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// collector is a Handler that passes events and commits to channels and acks every
// transaction at commit unless told otherwise.
type collector struct {
	events  chan *event.Event
	commits chan event.Txn
	reader  *Reader
	noAck   bool
}

func newCollector() *collector {
	return &collector{events: make(chan *event.Event, 1<<16), commits: make(chan event.Txn, 1<<12)}
}

func (c *collector) HandleEvent(ctx context.Context, ev *event.Event) error {
	select {
	case c.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *collector) HandleCommit(ctx context.Context, txn event.Txn) error {
	if !c.noAck {
		c.reader.Ack(txn.EndLSN)
	}
	select {
	case c.commits <- txn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nextTxn waits for the next transaction and returns its events.
func (c *collector) nextTxn(t *testing.T) (event.Txn, []*event.Event) {
	t.Helper()
	select {
	case txn := <-c.commits:
		evs := make([]*event.Event, 0, txn.Events)
		for range txn.Events {
			evs = append(evs, <-c.events)
		}
		return txn, evs
	case <-time.After(30 * time.Second):
		t.Fatal("no transaction within 30s")
		return event.Txn{}, nil
	}
}

// startReader runs a reader until the test ends; stop ends it early.
func startReader(t *testing.T, c *crm, h *collector, tweak func(*Config)) (r *Reader, stop func()) {
	t.Helper()
	cfg := Config{ConnString: c.DSN, Slot: c.Slot, Publication: "walhook", Mapping: c.Mapping,
		StandbyInterval: 100 * time.Millisecond, ReconnectBackoff: 50 * time.Millisecond, Logger: discardLogger()}
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.reader = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("reader: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return r, stop
}

type gotEvent struct {
	name, entity, id string
}

func summarize(evs []*event.Event) []gotEvent {
	out := make([]gotEvent, len(evs))
	for i, ev := range evs {
		out[i] = gotEvent{string(ev.Name), string(ev.Entity), ev.EntityID}
	}
	return out
}
