package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/internal/testwait"
	"github.com/walhook/walhook/matcher"
)

// fakeLog is a DeliveryLog in memory: it records the filters and windows it is asked for.
type fakeLog struct {
	redelivered []string
	filters     []DeliveryFilter
	windows     []ReplayWindow
}

func (f *fakeLog) Deliveries(_ context.Context, id string, df DeliveryFilter, p Page) (any, int, error) {
	f.filters = append(f.filters, df)
	return []map[string]any{{"webhook_id": id, "status": 200}}, 1, nil
}

func (f *fakeLog) Delivery(_ context.Context, id, deliveryID string) (any, error) {
	if deliveryID != "d1" {
		return nil, fmt.Errorf("delivery %s: %w", deliveryID, matcher.ErrNotFound)
	}
	return map[string]any{"delivery_id": deliveryID, "body": map[string]any{"items": []any{}}}, nil
}

func (f *fakeLog) Replay(_ context.Context, id string, w ReplayWindow) (any, error) {
	f.windows = append(f.windows, w)
	return map[string]any{"replayed": 1, "skipped": map[string]int{}}, nil
}

func (f *fakeLog) DeadLetters(_ context.Context, id string, p Page) (any, int, error) {
	return []map[string]any{}, 0, nil
}

func (f *fakeLog) Redeliver(_ context.Context, id, dl string) (int, error) {
	if dl == "missing" {
		return 0, fmt.Errorf("dead letter %s: %w", dl, matcher.ErrNotFound)
	}
	f.redelivered = append(f.redelivered, dl)
	return 1, nil
}

func TestDeliverySubresources(t *testing.T) {
	none := newEnv(t, nil)
	id := none.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"]}`).webhook(t).ID
	for _, p := range []string{"/deliveries", "/dead-letters"} {
		if r := none.do(t, "GET", collection+"/"+id+p, ""); r.Status != 501 || !strings.Contains(r.Message, "delivery log") {
			t.Errorf("GET %s without a delivery log: %d %s", p, r.Status, r.Raw)
		}
	}
	if r := none.do(t, "POST", collection+"/"+id+"/redeliver", ""); r.Status != 501 {
		t.Errorf("redeliver without a delivery log: %d", r.Status)
	}

	log := &fakeLog{}
	e := newEnv(t, func(c *Config) { c.Deliveries = log })
	id = e.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"]}`).webhook(t).ID
	r := e.do(t, "GET", collection+"/"+id+"/deliveries?limit=10", "")
	if r.Status != 200 || r.Total != 1 || !strings.Contains(string(r.Data), id) {
		t.Errorf("deliveries: %s", r.Raw)
	}
	if r := e.do(t, "GET", collection+"/"+id+"/dead-letters", ""); r.Status != 200 || string(r.Data) != "[]" {
		t.Errorf("dead letters: %s", r.Raw)
	}
	for body, want := range map[string]int{``: 200, `{}`: 200, `{"dead_letter_id": "d1"}`: 200, `{"dead_letter_id": "missing"}`: 404,
		`{"id": "x"}`: 422, `{"dead_letter_id": 5}`: 422, `[`: 400} {
		if r := e.do(t, "POST", collection+"/"+id+"/redeliver", body); r.Status != want {
			t.Errorf("redeliver %q: %d, want %d: %s", body, r.Status, want, r.Raw)
		}
	}
	if diff := cmp.Diff([]string{"", "", "d1"}, log.redelivered, cmp.Transformer("sort", func(s []string) []string {
		s = slices.Clone(s)
		slices.Sort(s)
		return s
	})); diff != "" {
		t.Errorf("redelivered (-want +got):\n%s", diff)
	}
	if r := e.do(t, "GET", collection+"/01234567-abcd-dcba-ffff-000000000000/deliveries", ""); r.Status != 404 {
		t.Errorf("deliveries of an unknown webhook: %d", r.Status)
	}
}

// TestCreatedWebhookReachesAnotherInstance checks the contract: a webhook created through
// the API of one instance is matched by a second instance, and its deletion reaches it too,
// by notification: the second instance's periodic reload is an hour away. The waits are
// bounded only so that a lost notification fails instead of hanging; no duration is
// asserted (STYLE 29).
func TestCreatedWebhookReachesAnotherInstance(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	other, err := pgxpool.New(ctx, e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	b := matcher.New(matcher.Config{DB: other, Mapping: e.m, ReloadInterval: time.Hour})
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	listening := func() (n int, err error) {
		err = e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle' AND query = 'LISTEN '||$1`, matcher.NotifyChannel).Scan(&n)
		return n, err
	}
	before, err := listening()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Wait until B listens, as a running instance does.
	testwait.Until(t, 10*time.Second, "the second instance to listen", func() (bool, string, error) {
		n, err := listening()
		return n > before, fmt.Sprintf("%d sessions listen on %s, %d did before", n, matcher.NotifyChannel, before), err
	})
	ev := &event.Event{Name: "Opportunity.Update", Entity: "Opportunity", Action: "Update",
		New: event.Row{{Name: "status", Value: event.Value{Kind: event.KindText, Raw: []byte("Open")}}}}
	r := e.do(t, "POST", collection, seedRequests["filtered"])
	if r.Status != 200 {
		t.Fatalf("POST: %s", r.Raw)
	}
	id := r.webhook(t).ID
	matched := func() (ids []string) {
		for _, m := range b.Match(ev, nil) {
			ids = append(ids, m.Webhook.ID)
		}
		return ids
	}
	testwait.Until(t, 10*time.Second, "the created webhook to reach the second instance", func() (bool, string, error) {
		ids := matched()
		return slices.Equal(ids, []string{id}), fmt.Sprintf("the second instance matches %q, want [%q]", ids, id), nil
	})
	e.do(t, "DELETE", collection+"/"+id, "")
	testwait.Until(t, 10*time.Second, "the deletion to reach the second instance", func() (bool, string, error) {
		ids := matched()
		return len(ids) == 0, fmt.Sprintf("the second instance matches %q, want none", ids), nil
	})
}

func TestAPIMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	e := newEnv(t, func(c *Config) { c.Registerer = reg })
	e.do(t, "GET", collection, "")
	e.doAuth(t, "GET", collection, "", "")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "walhook_api_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var route, class string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					route = l.GetValue()
				case "status_class":
					class = l.GetValue()
				default:
					t.Errorf("unexpected label %s", l.GetName())
				}
			}
			got[route+" "+class] = m.GetCounter().GetValue()
		}
	}
	if got["list 2xx"] != 1 || got["list 4xx"] != 1 {
		t.Errorf("walhook_api_requests_total: %v", got)
	}
}
