package matcher

import (
	"context"
	"encoding/json"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/walhook/walhook/internal/testlog"
)

// boundsEnv is a matcher with small bounds, its log and its registry.
type boundsEnv struct {
	*env
	m   *Matcher
	log *testlog.Buffer
	reg *prometheus.Registry
}

func newBoundsEnv(t *testing.T, maxRows, maxBody int) *boundsEnv {
	e := newEnv(t)
	b := &boundsEnv{env: e, log: &testlog.Buffer{}, reg: prometheus.NewPedanticRegistry()}
	b.m = New(Config{DB: e.pool, Mapping: e.m, MaxExpandRows: maxRows, MaxBodyBytes: maxBody,
		Logger: slog.New(slog.NewJSONHandler(b.log, nil)), Registerer: b.reg})
	return b
}

// account inserts an account with n contacts and returns its id.
func (b *boundsEnv) account(t *testing.T, name string, n int) string {
	t.Helper()
	var id string
	err := b.pool.QueryRow(context.Background(), `WITH a AS (INSERT INTO crm.accounts (name) VALUES ($1) RETURNING id),
		c AS (INSERT INTO crm.contacts (last_name, primary_account_id) SELECT 'Staff ' || i, a.id FROM a, generate_series(1, $2) AS i)
		SELECT id::text FROM a`, name, n).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (b *boundsEnv) truncatedCount(reason string) float64 {
	return counterValue(b.m.met.truncated[slicesIndex(cutReasons[:], reason)])
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestRenderCutsOneToManyToMaxExpandRows(t *testing.T) {
	b := newBoundsEnv(t, 3, 0)
	big := b.account(t, "Big", 7)
	small := b.account(t, "Small", 3)
	wh := webhook("rows", []string{"Account.Update"}, `{"entity": {"Account": {"expand": ["contacts"]}}}`)
	if err := b.m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := b.capture(t, `UPDATE crm.accounts SET phone = '1' WHERE id IN ($1, $2)`, big, small)
	var ids []string
	if err := b.pool.QueryRow(context.Background(),
		`SELECT array_agg(id::text ORDER BY id) FROM crm.contacts WHERE primary_account_id = $1`, big).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second render logs nothing more
		items := render(t, b.m, wh, evs)
		for _, it := range items {
			contacts := it["data"].(map[string]any)["contacts"].([]any)
			switch it["entity_id"] {
			case big:
				var got []string
				for _, c := range contacts {
					got = append(got, c.(map[string]any)["id"].(string))
				}
				if diff := cmp.Diff(ids[:3], got); diff != "" {
					t.Errorf("Big's contacts: the first 3 by key (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(map[string]any{"data.contacts": "max_expand_rows"}, it["truncated"]); diff != "" {
					t.Errorf("Big's truncated (-want +got):\n%s", diff)
				}
			case small:
				if len(contacts) != 3 || it["truncated"] != nil {
					t.Errorf("Small: %d contacts, truncated %v; want 3, null", len(contacts), it["truncated"])
				}
			}
		}
	}
	if got := b.truncatedCount("max_expand_rows"); got != 2 {
		t.Errorf("walhook_render_truncated_total{reason=max_expand_rows} = %v, want 2", got)
	}
	if n := strings.Count(b.log.String(), `"level":"WARN","msg":"rendered items cut to the bounds`); n != 1 ||
		!strings.Contains(b.log.String(), `"webhook_id":"rows"`) {
		t.Errorf("want one WARN naming the webhook, got:\n%s", b.log)
	}
}

// TestRenderIssue8CyclicExpand replays issue 8 with a webhook stored before cyclic paths
// were refused: 8 segments, 14 contacts on the account. The item stays within the bound
// (it is rendered again without its expansions, and says so), and the render does not
// build the huge item first.
func TestRenderIssue8CyclicExpand(t *testing.T) {
	b := newBoundsEnv(t, 0, 0)
	acct := b.account(t, "Fourteen", 14)
	wh := webhook("cyclic", []string{"Contact.Update"}, `{"entity": {"Contact": {"expand": ["`+cyclicPath+`"]}}}`)
	if err := b.m.Set([]*Webhook{wh}); err != nil { // stored webhooks compile without the API's checks
		t.Fatal(err)
	}
	evs := b.capture(t, `UPDATE crm.contacts SET phone = '2' WHERE last_name = 'Staff 1' AND primary_account_id = $1`, acct)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	items, err := b.m.Render(context.Background(), compiled(t, b.m, wh), evs)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || len(items[0]) > ItemLimit(DefaultMaxBodyBytes) {
		t.Fatalf("%d items, the first of %d bytes; want 1 of at most %d", len(items), len(items[0]), ItemLimit(DefaultMaxBodyBytes))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Render allocated %d MiB for one item bounded to 1 MiB", alloc>>20)
	}
	var it map[string]any
	if err := json.Unmarshal(items[0], &it); err != nil {
		t.Fatal(err)
	}
	data := it["data"].(map[string]any)
	if data["last_name"] != "Staff 1" || data["primary_account"] != nil {
		t.Errorf("data: %v", data)
	}
	if diff := cmp.Diff(map[string]any{"data.primary_account": "max_body_bytes"}, it["truncated"]); diff != "" {
		t.Errorf("truncated (-want +got):\n%s", diff)
	}
	if got := b.truncatedCount("max_body_bytes"); got != 1 {
		t.Errorf("walhook_render_truncated_total{reason=max_body_bytes} = %v, want 1", got)
	}
}

// TestRenderBareItem: an item whose own rows pass the bound keeps its keys, with data and
// previous null and named in truncated.
func TestRenderBareItem(t *testing.T) {
	b := newBoundsEnv(t, 0, 4096)
	wh := webhook("bare", []string{"Contact.Update"}, `{}`)
	if err := b.m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := b.capture(t, `UPDATE crm.contacts SET phone = repeat('9', 5000) WHERE id = 'c0000000-0000-4000-8000-000000000002';
		UPDATE crm.contacts SET phone = '3' WHERE id = 'c0000000-0000-4000-8000-000000000002'`)
	raw, err := b.m.Render(context.Background(), compiled(t, b.m, wh), evs)
	if err != nil {
		t.Fatal(err)
	}
	items := render(t, b.m, wh, evs)
	for i, it := range items {
		if len(raw[i]) > ItemLimit(4096) {
			t.Errorf("item %d: %d bytes, over %d", i, len(raw[i]), ItemLimit(4096))
		}
		if it["data"] != nil || it["previous"] != nil || it["entity_id"] != "c0000000-0000-4000-8000-000000000002" {
			t.Errorf("item %d: %v", i, it)
		}
		if diff := cmp.Diff([]any{"phone"}, it["changed_fields"]); diff != "" {
			t.Errorf("item %d changed_fields (-want +got):\n%s", i, diff)
		}
		want := map[string]any{"data": "max_body_bytes", "previous": "max_body_bytes"}
		if diff := cmp.Diff(want, it["truncated"]); diff != "" {
			t.Errorf("item %d truncated (-want +got):\n%s", i, diff)
		}
	}
}

// TestRenderBoundsChunkReads: the expansion rows a chunk reads are bounded by its items'
// bound; a relation that would read more is left out of every item, and marked.
func TestRenderBoundsChunkReads(t *testing.T) {
	b := newBoundsEnv(t, 0, 4096)
	acct := b.account(t, "Crowd", 60) // ~60 × 300 bytes of contacts, more than one item may hold
	wh := webhook("reads", []string{"Account.Update"}, `{"entity": {"Account": {"expand": ["contacts", "owner"], "load-only": ["name", "contacts", "owner"]}}}`)
	if err := b.m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := b.capture(t, `UPDATE crm.accounts SET owner_id = (SELECT min(id::text)::uuid FROM crm.clients) WHERE id = $1`, acct)
	items := render(t, b.m, wh, evs)
	data, _ := items[0]["data"].(map[string]any)
	if pick(data["owner"], "id")["id"] == nil {
		t.Errorf("owner not expanded: %v", data)
	}
	delete(data, "owner")
	want := map[string]any{"name": "Crowd", "contacts": nil}
	if diff := cmp.Diff(want, items[0]["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"data.contacts": "max_body_bytes"}, items[0]["truncated"]); diff != "" {
		t.Errorf("truncated (-want +got):\n%s", diff)
	}
}

// TestLoadSendsAtMostLimitRowsPerKey: the expansion query itself is bounded, so a
// relation of thousands of rows never reaches walhook's memory.
func TestLoadSendsAtMostLimitRowsPerKey(t *testing.T) {
	b := newBoundsEnv(t, 0, 0)
	many := b.account(t, "Many", 500)
	few := b.account(t, "Few", 2)
	f := fetcher{m: b.m}
	defer f.release()
	budget := int64(1 << 30)
	rows, complete, err := f.load(context.Background(), b.m.cfg.Mapping.Entity("Contact"), "primary_account_id", []string{many, few}, 4, &budget)
	if err != nil || !complete {
		t.Fatalf("load: complete %v, %v", complete, err)
	}
	if len(rows[many]) != 4 || len(rows[few]) != 2 {
		t.Errorf("rows per key: %d and %d, want 4 and 2", len(rows[many]), len(rows[few]))
	}
	// A budget smaller than the rows reports the load incomplete.
	budget = 100
	if _, complete, err := f.load(context.Background(), b.m.cfg.Mapping.Entity("Contact"), "primary_account_id", []string{many}, 4, &budget); err != nil || complete {
		t.Errorf("load over budget: complete %v, %v; want false, nil", complete, err)
	}
}
