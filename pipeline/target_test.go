package pipeline_test

import (
	"context"
	"encoding/json"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/walhook/walhook/backfill"
	"github.com/walhook/walhook/cdc"
	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
	"github.com/walhook/walhook/schema"
)

// addRecorder is a Sender that keeps the matches it is given.
type addRecorder struct {
	mu  sync.Mutex
	got []matcher.Match
}

func (a *addRecorder) Add(_ context.Context, m matcher.Match) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, m)
	return nil
}

// perWebhook counts the matches by webhook id.
func (a *addRecorder) perWebhook() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := map[string]int{}
	for _, m := range a.got {
		n[m.Webhook.ID]++
	}
	return n
}
func (a *addRecorder) Commit(context.Context, event.Txn) error { return nil }

// TestBackfillSeesWebhooksChangedJustBefore: one webhook is created and another's filter
// loosened, and a backfill started for each at once, before the matcher heard of either
// (its LISTEN/NOTIFY loop is not running here). The reader reads the webhooks again at
// each backfill's first low watermark (Tracker.Fresh), so the rows are matched against the
// webhooks as they are now. Matched against the index as it was, they matched nothing —
// the new webhook was not in it, the changed one's old filter refused them — and a
// transaction that matches nothing is acknowledged unsent: the rows were lost
// (TestBackfillDoneButUndeliveredSurvivesSIGKILL failed so, 53 and 153 of 203 rows
// arriving). Real reader, backfill runner and matcher on a real server.
func TestBackfillSeesWebhooksChangedJustBefore(t *testing.T) {
	ctx := context.Background()
	c := crmtest.New(t)
	pool := c.Pool(t, nil)
	m := matcher.New(matcher.Config{DB: pool, Mapping: c.Mapping})
	store := matcher.NewStore(pool)
	changed, err := store.Create(ctx, &matcher.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"Task.Delete"},
		Options: json.RawMessage(`{"entity": {"Task": {"filter": {"subject": "no such task"}}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(ctx); err != nil {
		t.Fatal(err)
	}
	reader, err := cdc.New(cdc.Config{ConnString: c.DSN, Slot: c.Slot, Publication: schema.DefaultName, Mapping: c.Mapping,
		StandbyInterval: 50 * time.Millisecond, ReconnectBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bf := backfill.New(backfill.Config{DB: pool, Mapping: c.Mapping, ChunkRows: 2, Poll: 50 * time.Millisecond})
	rec := &addRecorder{}
	h := pipeline.NewHandler(m, rec)
	h.Backfills = bf.Tracker(reader.Ack)
	runUntilEnd(t, map[string]func(context.Context) error{"backfill runner": bf.Run,
		"reader": func(ctx context.Context) error { return reader.Run(ctx, h) }})
	// The change comes once the reader streams: its session start (Resync) reads the
	// webhooks too, and must not be what sees it.
	testwait.For(t, 30*time.Second, "the reader streaming", func() bool {
		var active bool
		err := pool.QueryRow(ctx, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, c.Slot).Scan(&active)
		return err == nil && active
	})
	if _, err := store.Update(ctx, changed.ID, func(w *matcher.Webhook) error { w.Options = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	created, err := store.Create(ctx, &matcher.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"Task.Delete"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{changed.ID, created.ID} {
		if _, err := bf.Start(ctx, id, backfill.Request{Entities: []string{"Task"}}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{changed.ID: 3, created.ID: 3} // the sample CRM's 3 tasks each
	testwait.For(t, 30*time.Second, "the sample CRM's 3 tasks matched for each webhook", func() bool {
		return maps.Equal(rec.perWebhook(), want)
	})
}
