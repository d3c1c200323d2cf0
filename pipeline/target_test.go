package pipeline_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/crmtest"
	"github.com/walhook/walhook/matcher"
	"github.com/walhook/walhook/pipeline"
)

// loadCounter is the real matcher, counting its reloads.
type loadCounter struct {
	*matcher.Matcher
	loads int
}

func (l *loadCounter) Load(ctx context.Context) error {
	l.loads++
	return l.Matcher.Load(ctx)
}

// addRecorder is a Sender that keeps the matches it is given.
type addRecorder struct{ got []matcher.Match }

func (a *addRecorder) Add(_ context.Context, m matcher.Match) error {
	a.got = append(a.got, m)
	return nil
}
func (a *addRecorder) Commit(context.Context, event.Txn) error { return nil }

// TestTargetedEventFindsANewWebhook: a backfill's row for a webhook created after the
// matcher last read the webhooks (the index follows them through LISTEN/NOTIFY, which a
// backfill started right after the webhook's creation can outrun) is matched after one
// reload, not dropped — dropped, its transaction matched nothing and was acknowledged, and
// the row was lost (TestBackfillDoneButUndeliveredSurvivesSIGKILL failed so: 53 of 203
// rows). The rows of a webhook that a reload does not find (deleted) are dropped, with no
// reload for the next ones.
func TestTargetedEventFindsANewWebhook(t *testing.T) {
	ctx := context.Background()
	c := crmtest.New(t)
	pool := c.Pool(t, nil)
	m := &loadCounter{Matcher: matcher.New(matcher.Config{DB: pool, Mapping: c.Mapping})}
	if err := m.Matcher.Load(ctx); err != nil { // before the webhook exists; no Run, so no NOTIFY
		t.Fatal(err)
	}
	wh, err := matcher.NewStore(pool).Create(ctx, &matcher.Webhook{URL: "http://127.0.0.1:9/hook", Events: []string{"Task.Delete"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &addRecorder{}
	h := pipeline.NewHandler(m, rec)
	row := event.Row{{Name: "id", Value: event.Value{Kind: event.KindText, Raw: []byte("t1")}}}
	backfillRow := func(target string) *event.Event {
		return &event.Event{ID: "0000000000000001-1.0-Task.Backfill", Name: "Task.Backfill", Entity: "Task",
			Action: event.ActionBackfill, EntityID: "t1", New: row, Target: target}
	}
	if err := h.HandleEvent(ctx, backfillRow(wh.ID)); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].Webhook.ID != wh.ID || m.loads != 1 {
		t.Fatalf("row for the new webhook: %d matches, %d reloads; want 1 match for %s after 1 reload", len(rec.got), m.loads, wh.ID)
	}
	gone := uuid.NewString()
	for range 3 {
		if err := h.HandleEvent(ctx, backfillRow(gone)); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.got) != 1 || m.loads != 2 {
		t.Errorf("rows for a deleted webhook: %d matches in all, %d reloads; want 1 (the first row's) and 2", len(rec.got), m.loads)
	}
}
