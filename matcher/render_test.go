package matcher

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/walhook/walhook/event"
)

// render renders evs for a webhook installed in m and decodes the items.
func render(t *testing.T, m *Matcher, wh *Webhook, evs []*event.Event) []map[string]any {
	t.Helper()
	items, err := m.Render(context.Background(), compiled(t, m, wh), evs)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	out := make([]map[string]any, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &out[i]); err != nil {
			t.Fatalf("item %d is not JSON: %v\n%s", i, err, it)
		}
	}
	return out
}

// pick keeps the named keys of a decoded object.
func pick(v any, keys ...string) map[string]any {
	obj, _ := v.(map[string]any)
	out := map[string]any{}
	for _, k := range keys {
		if x, ok := obj[k]; ok {
			out[k] = x
		}
	}
	return out
}

var (
	committedAtRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)
	lsnRE         = regexp.MustCompile(`^[0-9A-F]+/[0-9A-F]+$`)
)

func TestRenderItemShape(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("w", []string{"*"}, `{}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `INSERT INTO crm.tasks (subject, priority) VALUES ('New task', 2);
		UPDATE crm.tasks SET subject = 'Call Wile', owner_id = 'c1000000-0000-4000-8000-000000000002' WHERE id = 1;
		DELETE FROM crm.tasks WHERE id = 3`)
	if diff := cmp.Diff([]string{"Task.Create", "Task.Update", "Task.OwnerChanged", "Task.Delete"}, names(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	items := render(t, m, wh, evs)
	keys := []string{"changed_fields", "committed_at", "data", "entity", "entity_id", "event", "id", "lsn", "previous", "related_entity", "truncated", "xid"}
	for i, it := range items {
		var got []string
		for k := range it {
			got = append(got, k)
		}
		if diff := cmp.Diff(keys, got, cmpSorted); diff != "" {
			t.Errorf("item %d keys (-want +got):\n%s", i, diff)
		}
		if s, _ := it["committed_at"].(string); !committedAtRE.MatchString(s) {
			t.Errorf("item %d committed_at %q", i, s)
		}
		if s, _ := it["lsn"].(string); !lsnRE.MatchString(s) || s != evs[i].CommitLSN.String() {
			t.Errorf("item %d lsn %q, want %s", i, s, evs[i].CommitLSN)
		}
		if it["xid"] != float64(evs[i].XID) || it["id"] != string(evs[i].ID) || it["related_entity"] != nil {
			t.Errorf("item %d: xid %v id %v related %v", i, it["xid"], it["id"], it["related_entity"])
		}
	}
	if it := items[0]; it["previous"] != nil || it["changed_fields"] != nil || pick(it["data"], "subject")["subject"] != "New task" {
		t.Errorf("create: %v", it)
	}
	upd := items[1]
	wantPrev := map[string]any{"subject": "Call Wile about anvils", "owner_id": "9900cce6-bcd6-412a-bcd1-1904556c949a"}
	if diff := cmp.Diff(wantPrev, upd["previous"]); diff != "" {
		t.Errorf("update previous (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]any{"subject", "owner_id"}, upd["changed_fields"]); diff != "" {
		t.Errorf("update changed_fields (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(upd["previous"], items[2]["previous"]); diff != "" || items[2]["event"] != "Task.OwnerChanged" {
		t.Errorf("owner changed: %v", items[2])
	}
	del := items[3]
	if del["previous"] != nil || pick(del["data"], "id", "subject")["subject"] != "Renew Initech contract" || del["entity_id"] != "3" {
		t.Errorf("delete: %v", del)
	}
}

// TestRenderAppendReusesTheBuffer renders a chunk into a buffer and the next chunk into the
// buffer returned, which has room for it: the items are Render's, byte for byte, and live
// in that buffer, so a sender rendering chunk after chunk allocates no item bytes once its
// buffer is large enough.
func TestRenderAppendReusesTheBuffer(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("w", []string{"*"}, `{}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `INSERT INTO crm.tasks (subject, priority) VALUES ('One', 1), ('Two', 2), ('Three', 3)`)
	ctx := context.Background()
	sub := compiled(t, m, wh)
	want, err := m.Render(ctx, sub, evs)
	if err != nil {
		t.Fatal(err)
	}
	_, buf, err := m.RenderAppend(ctx, nil, sub, evs[:1])
	if err != nil {
		t.Fatal(err)
	}
	buf = slices.Grow(buf, 64<<10)
	got, again, err := m.RenderAppend(ctx, buf, sub, evs)
	if err != nil {
		t.Fatal(err)
	}
	if unsafe.SliceData(again) != unsafe.SliceData(buf) {
		t.Errorf("RenderAppend allocated a buffer (cap %d) although the one given had room (cap %d)", cap(again), cap(buf))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Errorf("item %d:\n got %s\nwant %s", i, got[i], want[i])
		}
		if !within(got[i], again) {
			t.Errorf("item %d is not in the buffer returned", i)
		}
	}
}

// within reports whether b's bytes lie in buf's backing array.
func within(b, buf []byte) bool {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(cap(buf))
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestRenderSeedExpandLoadOnly(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("big", []string{"Contact.*", "Account.*"}, seedBigOptions)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `UPDATE crm.contacts SET email1 = 'test@example.com' WHERE id = 'c0000000-0000-4000-8000-000000000002'`)
	items := render(t, m, wh, evs)
	data := items[0]["data"].(map[string]any)
	if diff := cmp.Diff([]string{"id", "primary_account", "primary_contact", "task_relations"}, keysOf(data), cmpSorted); diff != "" {
		t.Errorf("data keys (-want +got):\n%s", diff)
	}
	acct := pick(data["primary_account"], "id", "name", "custom_fields", "tags", "internal_notes")
	wantAcct := map[string]any{"id": "ac000000-0000-4000-8000-000000000001", "name": "Acme Corporation",
		"custom_fields": map[string]any{"tier": "gold", "employees": float64(1200)}, "tags": []any{"key", "manufacturing"}}
	if diff := cmp.Diff(wantAcct, acct); diff != "" {
		t.Errorf("primary_account (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"first_name": "Wile"}, data["primary_contact"]); diff != "" {
		t.Errorf("primary_contact (-want +got):\n%s", diff)
	}
	rels := data["task_relations"].([]any)
	if len(rels) != 1 {
		t.Fatalf("task_relations: %v", rels)
	}
	task := rels[0].(map[string]any)
	if diff := cmp.Diff([]string{"task"}, keysOf(task)); diff != "" {
		t.Errorf("task relation keys (-want +got):\n%s", diff)
	}
	if got := pick(task["task"], "id", "subject", "priority"); !cmp.Equal(got, map[string]any{"id": float64(1), "subject": "Call Wile about anvils", "priority": float64(1)}) {
		t.Errorf("task: %v", got)
	}
	if diff := cmp.Diff(map[string]any{"email1": "road.runner@acme.example"}, items[0]["previous"]); diff != "" {
		t.Errorf("previous (-want +got):\n%s", diff)
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestRenderLinkEvents(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("links", []string{"Account.DocumentLinked", "Task.Comment"},
		`{"related_entity": {"expand": ["contact"], "load-only": ["id", "contact"]},
		  "entity": {"Account": {"load-only": ["id", "name"]}}}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `INSERT INTO crm.document_links (document_id, entity_type, entity_id)
			VALUES ('d0c00000-0000-4000-8000-000000000002', 'account', 'ac000000-0000-4000-8000-000000000002');
		INSERT INTO crm.task_comments (task_id, contact_id, body) VALUES (2, 'c0000000-0000-4000-8000-000000000004', 'Call back')`)
	if diff := cmp.Diff([]string{"Account.DocumentLinked", "Task.Comment"}, names(evs)); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	items := render(t, m, wh, evs)
	doc := items[0]
	if diff := cmp.Diff(map[string]any{"id": "ac000000-0000-4000-8000-000000000002", "name": "Globex"}, doc["data"]); diff != "" {
		t.Errorf("document link data (-want +got):\n%s", diff)
	}
	rel := doc["related_entity"].(map[string]any)
	if rel["entity"] != "Document" || rel["id"] != "d0c00000-0000-4000-8000-000000000002" {
		t.Errorf("related_entity: %v", rel)
	}
	rdata := rel["data"].(map[string]any)
	if diff := cmp.Diff([]string{"contact", "id"}, keysOf(rdata), cmpSorted); diff != "" {
		t.Errorf("related data keys (-want +got):\n%s", diff)
	}
	if got := pick(rdata["contact"], "last_name"); got["last_name"] != "Scorpio" {
		t.Errorf("related contact: %v", rdata["contact"])
	}
	cm := items[1]
	if got := pick(cm["data"], "id", "subject"); got["subject"] != "Send Globex proposal" {
		t.Errorf("comment parent: %v", cm["data"])
	}
	crel := cm["related_entity"].(map[string]any)
	if crel["entity"] != "TaskComment" || pick(pick(crel["data"], "contact")["contact"], "last_name")["last_name"] != "Gibbons" {
		t.Errorf("comment related: %v", crel)
	}
}

func TestRenderOneToManyAndRenamedRelation(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("w", []string{"*"}, `{"entity": {
		"Account": {"expand": ["opportunities"], "load-only": ["name", "opportunities.name"]},
		"Opportunity": {"expand": ["currency", "oppty_product_relations.product"], "load-only": ["currency", "closing_date", "oppty_product_relations"]}}}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `UPDATE crm.accounts SET phone = '0' WHERE id = 'ac000000-0000-4000-8000-000000000001';
		UPDATE crm.lead_oppty SET value = 1 WHERE id = '0f000000-0000-4000-8000-000000000001'`)
	items := render(t, m, wh, evs)
	// Leads share the table; the relation to Opportunity keeps to opportunities.
	want := map[string]any{"name": "Acme Corporation", "opportunities": []any{map[string]any{"name": "Acme anvils 2025"}}}
	if diff := cmp.Diff(want, items[0]["data"]); diff != "" {
		t.Errorf("account (-want +got):\n%s", diff)
	}
	od := items[1]["data"].(map[string]any)
	if diff := cmp.Diff(map[string]any{"code": "USD", "name": "US dollar", "symbol": "$"}, od["currency"]); diff != "" {
		t.Errorf("currency replaces its field (-want +got):\n%s", diff)
	}
	if od["closing_date"] != "2025-09-30" {
		t.Errorf("closing_date %v", od["closing_date"])
	}
	lines := od["oppty_product_relations"].([]any)
	if len(lines) != 2 || pick(pick(lines[1], "product")["product"], "sku")["sku"] != "RSK-01" {
		t.Errorf("line items: %v", lines)
	}
}

// countingTracer counts the queries made through a pool.
type countingTracer struct {
	n   atomic.Int64
	sql atomic.Value
}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.sql.Store(d.SQL)
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestRenderBatchesQueries(t *testing.T) {
	e := newEnv(t)
	tracer := &countingTracer{}
	crm := newPool(t, e.dsn, tracer)
	m := New(Config{DB: e.pool, CRM: crm, Mapping: e.m})
	wh := webhook("w", []string{"Contact.Create", "Account.DocumentLinked"}, `{
		"entity": {"Contact": {"expand": ["primary_account", "task_relations.task"]}},
		"related_entity": {"expand": ["contact"]}}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	evs := e.capture(t, `
		INSERT INTO crm.contacts (last_name, primary_account_id)
			SELECT 'Clone ' || i, (ARRAY['ac000000-0000-4000-8000-000000000001', 'ac000000-0000-4000-8000-000000000002',
				'ac000000-0000-4000-8000-000000000003']::uuid[])[1 + i % 3]
			FROM generate_series(1, 97) AS i;
		INSERT INTO crm.contact_task_relations (contact_id, task_id)
			SELECT id, 1 + row_number() OVER () % 3 FROM crm.contacts WHERE last_name LIKE 'Clone %';
		INSERT INTO crm.document_links (document_id, entity_type, entity_id)
			VALUES ('d0c00000-0000-4000-8000-000000000001', 'account', 'ac000000-0000-4000-8000-000000000002'),
				('d0c00000-0000-4000-8000-000000000002', 'account', 'ac000000-0000-4000-8000-000000000001'),
				('d0c00000-0000-4000-8000-000000000002', 'account', 'ac000000-0000-4000-8000-000000000003')`)
	if len(evs) != 100 {
		t.Fatalf("got %d events, want 100", len(evs))
	}
	// Warm up: the first render reads the column types once.
	if _, err := m.Render(context.Background(), compiled(t, m, wh), evs[:1]); err != nil {
		t.Fatal(err)
	}
	tracer.n.Store(0)
	items := render(t, m, wh, evs)
	// Contacts: primary_account, task_relations, task. Links: Account bodies, Document
	// rows, and the documents' contact.
	if got := tracer.n.Load(); got != 6 {
		t.Errorf("rendering 100 events made %d queries, want 6 (one per relation and loaded entity)", got)
	}
	if len(items) != 100 {
		t.Fatalf("%d items", len(items))
	}
	for i, it := range items[:97] {
		data := it["data"].(map[string]any)
		acct := pick(data["primary_account"], "id")["id"]
		if acct != data["primary_account_id"] || acct == nil {
			t.Errorf("item %d: primary_account %v for primary_account_id %v", i, acct, data["primary_account_id"])
		}
		rels, _ := data["task_relations"].([]any)
		if len(rels) != 1 || pick(pick(rels[0], "task")["task"], "id")["id"] == nil {
			t.Errorf("item %d: task_relations %v", i, rels)
		}
	}
	for _, it := range items[97:] {
		if it["data"] == nil || pick(it["related_entity"], "data")["data"] == nil {
			t.Errorf("link item: %v", it)
		}
	}
}

func TestRenderMissingRowsAreNull(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("w", []string{"*"}, `{}`)
	ev := &event.Event{ID: "x", Name: "Account.DocumentLinked", Entity: "Account", Action: "DocumentLinked",
		EntityID: "not-a-uuid", Related: &event.Related{Entity: "Document", ID: "d0c00000-0000-4000-8000-0000000000ff"}}
	items, err := m.Render(context.Background(), compiled(t, m, wh), []*event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	want := `"data":null,"previous":null,"changed_fields":null,"related_entity":{"entity":"Document","id":"d0c00000-0000-4000-8000-0000000000ff","data":null},"truncated":null}`
	if !strings.HasSuffix(string(items[0]), want) {
		t.Errorf("item %s\nwant suffix %s", items[0], want)
	}
}

// TestRenderSurvivesColumnChanges: columns dropped from or added to an expanded table after
// start-up neither fail the render (which would stall the webhook and pin WAL) nor go
// stale: the expansion shows the table as it is now.
func TestRenderSurvivesColumnChanges(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	wh := webhook("expand", []string{"Contact.Update"}, `{"entity": {"Contact": {"expand": ["primary_account"]}}}`)
	if err := m.Set([]*Webhook{wh}); err != nil {
		t.Fatal(err)
	}
	e.exec(t, `ALTER TABLE crm.accounts DROP COLUMN industry`)
	e.exec(t, `ALTER TABLE crm.accounts ADD COLUMN tier text DEFAULT 'gold'`)
	evs := e.capture(t, `UPDATE crm.contacts SET email1 = 'x@example.com' WHERE id = 'c0000000-0000-4000-8000-000000000002'`)
	items := render(t, m, wh, evs)
	acct := items[0]["data"].(map[string]any)["primary_account"].(map[string]any)
	if _, ok := acct["industry"]; ok {
		t.Errorf("dropped column still rendered: %v", acct)
	}
	if acct["tier"] != "gold" || acct["name"] != "Acme Corporation" {
		t.Errorf("primary_account after column changes: %v", acct)
	}
	if _, ok := acct["internal_notes"]; ok {
		t.Errorf("excluded column rendered: %v", acct)
	}
}

// TestRenderUsesMatchedSubscription: Render takes the subscription that Match handed out
// and renders with its options, though the webhook changed in the index since.
func TestRenderUsesMatchedSubscription(t *testing.T) {
	e := newEnv(t)
	m := e.matcher(t)
	id := "ac000000-0000-4000-8000-0000000000aa"
	ev := &event.Event{ID: "x", Name: "Account.Update", Entity: "Account", Action: event.ActionUpdate, EntityID: id,
		New: event.Row{
			{Name: "id", Value: event.Value{Kind: event.KindText, Raw: []byte(id)}},
			{Name: "name", Value: event.Value{Kind: event.KindText, Raw: []byte("Acme")}},
		}}
	old := webhook("w", []string{"Account.*"}, `{"entity": {"Account": {"load-only": ["id"]}}}`)
	if err := m.Set([]*Webhook{old}); err != nil {
		t.Fatal(err)
	}
	ms := m.Match(ev, nil)
	if len(ms) != 1 || ms[0].Sub.Webhook() != old {
		t.Fatalf("matches %v: want one, carrying the subscription of %p", ms, old)
	}
	if err := m.Set([]*Webhook{webhook("w", []string{"Account.*"}, `{}`)}); err != nil {
		t.Fatal(err)
	}
	items, err := m.Render(context.Background(), ms[0].Sub, []*event.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(items[0]), `"data":{"id":"`+id+`"}`) {
		t.Errorf("item %s: want data with id only (the matched load-only)", items[0])
	}
	if _, err := m.Render(context.Background(), Subscription{}, []*event.Event{ev}); err == nil {
		t.Error("Render of the zero Subscription: no error")
	}
}
