package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The seeds' four example requests and the options example (DESIGN.md §4), as sent.
var seedRequests = map[string]string{
	"account create": `{
    "insecure_ssl": false,
    "url": "https://enrdznpu5i7jp.x.pipedream.net",
    "events": [
        "Account.Create"
    ],
    "options": {}
}`,
	"field change": `{
    "insecure_ssl": false,
    "url": "https://enrdznpu5i7jp.x.pipedream.net",
    "events": [
        "Opportunity.Update"
    ],
    "options": {
        "entity": {
            "Opportunity": {
                "on-field-change": ["closing_date", "value"]
            }
        }
    }
}`,
	"filtered": `{
    "insecure_ssl": false,
    "url": "https://enrdznpu5i7jp.x.pipedream.net",
    "events": [
        "Opportunity.Update"
    ],
    "options": {
        "entity": {
            "Opportunity": {
                "filter":{
                    "status": "Open"
                }
            }
        }
    }
}`,
	"custom entity": `{
    "insecure_ssl": false,
    "url": "https://enrdznpu5i7jp.x.pipedream.net",
    "events": [
        "CustomEntity.Create", 
	"CustomEntity.Update"
    ],
    "options": {
        "custom_entity_api_name": [ "CE_Bid", "CE_Campaign" ],
        "entity": {
            "CE_Bid": {
		"filter": {
		    "name": "important"
		},
		"filter-op": {
		    "name": "contains"
		}
	    }
        }
    }
}`,
	"options example": `{
    "insecure_ssl": false,
    "signature": "01234567-abcd-dcba-ffff-000000000000",
    "url": "https://enrdznpu5i7jp.x.pipedream.net",
    "events": ["*", "CustomEntity.*"],
    "options": {
    "custom_entity_api_name": [ "CE_Bid", "CE_Campaign" ],	
    "entity": {
        "Contact": {
            "expand": [
                "primary_account",
                "primary_contact",
                "task_relations.task"
            ],
            "load-only": [
                "id",
                "primary_account",
                "primary_contact.first_name",
                "task_relations.task"
            ],
            "filter": {
                "email1": [
                    "test@example.com",
                    "test@example.net"
                ],
                "email2": "test@example.com"
            },
            "filter-op": {
                "email1": "eq"
            }, 
            "on-field-change": [
                "email1"
            ]
        },
        "Account": {
            "filter": {
                "owner_id": [
                    "9900cce6-bcd6-412a-bcd1-1904556c949a"
                ]
            }
        }
    },
    "related_entity": {
        "expand": [
            "contact"
        ],
        "load-only": [
            "id",
            "contact"
        ]
    },
    "skip_keys": [
        "gmail_sync",
        "custom_integration"
    ],
    "chunk_size": 100,
    "chunk_delay": 300
}
}`,
}

// sent decodes the members of a request body.
func sent(tb testing.TB, body string) map[string]json.RawMessage {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func semantic(tb testing.TB, raw json.RawMessage) any {
	tb.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("%v: %s", err, raw)
	}
	return v
}

// TestSeedCreateResponseFields: the webhook JSON has every field of the seed's create
// response, including Pipeliner's own metadata (missing before: is_delete_protected,
// application, client, application_id, client_id), and those are read-only.
func TestSeedCreateResponseFields(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", collection, `{"insecure_ssl": false, "options": {}, "signature": "01234567-abcd-dcba-ffff-000000000000", "url": "https://example.com/hook", "events": ["*"]}`)
	if r.Status != http.StatusOK {
		t.Fatalf("POST = %d %s", r.Status, r.Raw)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"is_delete_protected", "id", "is_deleted", "modified", "created", "application", "client",
		"application_id", "client_id", "insecure_ssl", "options", "signature", "url", "events"} {
		if _, ok := got[k]; !ok {
			t.Errorf("create response lacks %q: %s", k, r.Data)
		}
	}
	want := map[string]string{"is_delete_protected": "false", "application": "null", "client": "null", "application_id": "null", "client_id": "null"}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	id := strings.Trim(string(got["id"]), `"`)
	if p := e.do(t, "PATCH", collection+"/"+id, `{"application_id": "01234567-abcd-dcba-ffff-000000000000"}`); p.Status != http.StatusUnprocessableEntity {
		t.Errorf("PATCH application_id = %d %s, want 422 (read-only)", p.Status, p.Raw)
	}
}

func TestSeedRequestsRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	for name, body := range seedRequests {
		t.Run(name, func(t *testing.T) {
			r := e.do(t, "POST", collection, body)
			if r.Status != http.StatusOK || !r.Success {
				t.Fatalf("POST = %d %s", r.Status, r.Raw)
			}
			created := r.webhook(t)
			if created.ID == "" || created.Created == "" || created.Modified == "" || created.IsDeleted {
				t.Errorf("created %+v", created)
			}
			got := e.do(t, "GET", collection+"/"+created.ID, "").webhook(t)
			in := sent(t, body)
			var events []string
			json.Unmarshal(in["events"], &events)
			if diff := cmp.Diff(events, got.Events); diff != "" {
				t.Errorf("events (-sent +got):\n%s", diff)
			}
			if diff := cmp.Diff(semantic(t, in["options"]), semantic(t, got.Options)); diff != "" {
				t.Errorf("options (-sent +got):\n%s", diff)
			}
			if !bytes.Equal(in["options"], got.Options) {
				t.Errorf("options not returned byte for byte:\nsent %s\ngot  %s", in["options"], got.Options)
			}
			// Only the create response shows the signature in full.
			if created.Signature != nil {
				masked := (*created.Signature)[:4] + "…"
				created.Signature = &masked
			}
			if diff := cmp.Diff(created, got); diff != "" {
				t.Errorf("GET differs from POST's answer (-post +get):\n%s", diff)
			}
		})
	}
}

const valid = `"url": "https://example.com/hook", "events": ["Account.Create"]`

// rejectTests are invalid create bodies, each with the status and what the message must
// name: the field and the value.
var rejectTests = []struct {
	name   string
	body   string
	status int
	want   []string // in the message: the field and the value
}{
	{"not JSON", `{"url": `, 400, []string{"malformed JSON"}},
	{"not an object", `["x"]`, 400, []string{"body", "object"}},
	{"empty body", ``, 400, []string{"malformed JSON"}},
	{"two values", `{} {}`, 400, []string{"malformed JSON"}},
	{"duplicate key", `{"url": "https://a.com", "url": "https://b.com", "events": ["*"]}`, 400, []string{"url", "duplicate"}},
	{"missing url", `{"events": ["*"]}`, 422, []string{"url", "required"}},
	{"url null", `{"url": null, "events": ["*"]}`, 422, []string{"url", "null"}},
	{"url wrong type", `{"url": 5, "events": ["*"]}`, 422, []string{"url", "string", "number"}},
	{"url empty", `{"url": "", "events": ["*"]}`, 422, []string{"url", "required"}},
	{"url relative", `{"url": "/hook", "events": ["*"]}`, 422, []string{"url", `"/hook"`}},
	{"url ftp", `{"url": "ftp://example.com/x", "events": ["*"]}`, 422, []string{"url", `"ftp://example.com/x"`, "http or https"}},
	{"url no host", `{"url": "https:///x", "events": ["*"]}`, 422, []string{"url", `"https:///x"`, "no host"}},
	{"url bad port", `{"url": "https://example.com:99999/", "events": ["*"]}`, 422, []string{"url", "99999"}},
	{"url garbage", `{"url": "ht tp://x", "events": ["*"]}`, 422, []string{"url", `"ht tp://x"`}},
	{"url credentials", `{"url": "https://u:secretpw@example.com/", "events": ["*"]}`, 422, []string{"url", "http_auth_user"}},
	{"url loopback", `{"url": "http://127.0.0.1:8080/", "events": ["*"]}`, 422, []string{"url", `"127.0.0.1"`, "loopback", "WALHOOK_ALLOW_PRIVATE_TARGETS=true"}},
	{"url localhost", `{"url": "http://localhost/", "events": ["*"]}`, 422, []string{"url", `"localhost"`}},
	{"url private", `{"url": "http://192.168.1.10/", "events": ["*"]}`, 422, []string{"url", `"192.168.1.10"`, "private"}},
	{"url private v6", `{"url": "http://[fd12::1]/", "events": ["*"]}`, 422, []string{"url", `"fd12::1"`, "private"}},
	{"url link-local", `{"url": "http://169.254.1.1/", "events": ["*"]}`, 422, []string{"url", `"169.254.1.1"`, "link-local"}},
	{"url cgnat", `{"url": "http://100.64.1.1/", "events": ["*"]}`, 422, []string{"url", `"100.64.1.1"`, "carrier-grade NAT"}},
	{"url metadata", `{"url": "http://169.254.169.254/latest", "events": ["*"]}`, 422, []string{"url", "169.254.169.254", "metadata"}},
	{"url metadata v6", `{"url": "http://[fd00:ec2::254]/", "events": ["*"]}`, 422, []string{"url", "fd00:ec2::254", "metadata"}},
	{"url unspecified", `{"url": "http://0.0.0.0/", "events": ["*"]}`, 422, []string{"url", `"0.0.0.0"`}},
	{"url resolves private", `{"url": "https://internal.example.com/", "events": ["*"]}`, 422, []string{"url", `"internal.example.com"`, "10.0.0.5", "WALHOOK_ALLOW_PRIVATE_TARGETS"}},
	{"url resolves metadata", `{"url": "https://metadata.example.com/", "events": ["*"]}`, 422, []string{"url", `"metadata.example.com"`, "169.254.169.254"}},
	{"url numeric host", `{"url": "http://2130706433/", "events": ["*"]}`, 422, []string{"url", `"2130706433"`}},
	{"missing events", `{"url": "https://example.com"}`, 422, []string{"events", "required"}},
	{"empty events", `{"url": "https://example.com", "events": []}`, 422, []string{"events", "at least one"}},
	{"events not array", `{"url": "https://example.com", "events": "Account.Create"}`, 422, []string{"events", "array", "string"}},
	{"events wrong item", `{"url": "https://example.com", "events": ["Account.Create", 7]}`, 422, []string{"events", "number"}},
	{"unknown event", `{"url": "https://example.com", "events": ["Account.Create", "Acount.Create"]}`, 422, []string{"events[1]", `"Acount.Create"`}},
	{"unknown action", `{"url": "https://example.com", "events": ["Email.OwnerChanged"]}`, 422, []string{"events[0]", `"Email.OwnerChanged"`}},
	{"insecure_ssl type", `{` + valid + `, "insecure_ssl": "false"}`, 422, []string{"insecure_ssl", "boolean", "string"}},
	{"signature not uuid", `{` + valid + `, "signature": "secret"}`, 422, []string{"signature", `"secret"`, "UUID"}},
	{"signature short", `{` + valid + `, "signature": "01234567-abcd-dcba-ffff-00000000000"}`, 422, []string{"signature", "01234567-abcd-dcba-ffff-00000000000"}},
	{"signature type", `{` + valid + `, "signature": 1}`, 422, []string{"signature", "number"}},
	{"unknown signing", `{` + valid + `, "signing": "svix"}`, 422, []string{"signing", `"svix"`}},
	{"standard without signature", `{` + valid + `, "signing": "standard-webhooks"}`, 422, []string{"signing", "signature"}},
	{"auth user colon", `{` + valid + `, "http_auth_user": "a:b", "http_auth_password": "p"}`, 422, []string{"http_auth_user", `"a:b"`}},
	{"password without user", `{` + valid + `, "http_auth_password": "p"}`, 422, []string{"http_auth_password", "http_auth_user"}},
	{"password placeholder", `{` + valid + `, "http_auth_user": "u", "http_auth_password": "********"}`, 422, []string{"http_auth_password", "placeholder"}},
	{"unknown field", `{` + valid + `, "colour": "red"}`, 422, []string{"colour", "unknown field"}},
	{"read-only field", `{` + valid + `, "id": "01234567-abcd-dcba-ffff-000000000000"}`, 422, []string{"id", "read-only"}},
	{"disabled_at on create", `{` + valid + `, "disabled_at": null}`, 422, []string{"disabled_at"}},
	{"options not object", `{` + valid + `, "options": []}`, 422, []string{"options", "object", "array"}},
	{"unknown option", `{` + valid + `, "options": {"chunk": 1}}`, 422, []string{"options.chunk", "unknown option"}},
	{"unknown entity", `{` + valid + `, "options": {"entity": {"Acount": {}}}}`, 422, []string{"options.entity.Acount", `"Acount"`}},
	{"unknown field in filter", `{` + valid + `, "options": {"entity": {"Contact": {"filter": {"emial1": "a"}}}}}`, 422, []string{"options.entity.Contact.filter.emial1", `"emial1"`}},
	{"unknown field in on-field-change", `{` + valid + `, "options": {"entity": {"Opportunity": {"on-field-change": ["closingDate"]}}}}`, 422, []string{"options.entity.Opportunity.on-field-change[0]", `"closingDate"`}},
	{"unknown operator", `{` + valid + `, "options": {"entity": {"Contact": {"filter": {"email1": "a"}, "filter-op": {"email1": "like"}}}}}`, 422, []string{"options.entity.Contact.filter-op.email1", `"like"`}},
	{"filter-op without filter", `{` + valid + `, "options": {"entity": {"Contact": {"filter": {"email1": "a"}, "filter-op": {"email2": "eq"}}}}}`, 422, []string{"options.entity.Contact.filter-op.email2", `"email2"`}},
	{"expand unknown relation", `{` + valid + `, "options": {"entity": {"Contact": {"expand": ["task_relations.tsk"]}}}}`, 422, []string{"options.entity.Contact.expand[0]", `"task_relations.tsk"`, `"tsk"`}},
	{"load-only unresolved", `{` + valid + `, "options": {"entity": {"Contact": {"expand": ["primary_contact"], "load-only": ["primary_contact.frist_name"]}}}}`, 422, []string{"options.entity.Contact.load-only[0]", `"frist_name"`}},
	{"load-only not expanded", `{` + valid + `, "options": {"entity": {"Contact": {"load-only": ["task_relations.task"]}}}}`, 422, []string{"options.entity.Contact.load-only[0]", "task_relations"}},
	// Issue 8: a cyclic expand path (8 segments) made one request of 222 MB.
	{"expand cyclic", `{` + valid + `, "options": {"entity": {"Contact": {"expand": ["primary_account.contacts.primary_account.contacts.primary_account.contacts.primary_account.contacts"]}}}}`, 422,
		[]string{"options.entity.Contact.expand[0]", `"primary_account.contacts.primary_account.contacts`, "is cyclic", "segment 3 (Contact.primary_account)", "segment 1 (Contact.primary_account)"}},
	{"related expand cyclic", `{"url": "https://example.com/hook", "events": ["Account.DocumentLinked"], "options": {"related_entity": {"expand": ["contact.primary_account.contacts.primary_account"]}}}`, 422,
		[]string{"options.related_entity.expand[0]", `"contact.primary_account.contacts.primary_account"`, "is cyclic"}},
	{"expand too deep", `{` + valid + `, "options": {"entity": {"Contact": {"expand": ["task_relations.task.contact_task_relations.contact.primary_account"]}}}}`, 422,
		[]string{"options.entity.Contact.expand[0]", "follows 5 relations; at most 4"}},
	{"related unknown", `{` + valid + `, "options": {"related_entity": {"expand": ["nothing"]}}}`, 422, []string{"options.related_entity.expand[0]", `"nothing"`}},
	{"chunk_size 0", `{` + valid + `, "options": {"chunk_size": 0}}`, 422, []string{"options.chunk_size", `"0"`}},
	{"chunk_size 101", `{` + valid + `, "options": {"chunk_size": 101}}`, 422, []string{"options.chunk_size", `"101"`}},
	{"chunk_size fraction", `{` + valid + `, "options": {"chunk_size": 2.5}}`, 422, []string{"options.chunk_size", `"2.5"`}},
	{"chunk_size string", `{` + valid + `, "options": {"chunk_size": "10"}}`, 422, []string{"options.chunk_size", "string"}},
	{"chunk_delay negative", `{` + valid + `, "options": {"chunk_delay": -5}}`, 422, []string{"options.chunk_delay", `"-5"`}},
	{"custom without names", `{"url": "https://example.com", "events": ["CustomEntity.Create"]}`, 422, []string{"options.custom_entity_api_name", "CustomEntity.Create"}},
	{"custom options without names", `{` + valid + `, "options": {"entity": {"CE_Bid": {"filter": {"name": "x"}}}}}`, 422, []string{"options.entity.CE_Bid", "custom_entity_api_name"}},
	{"unknown custom name", `{"url": "https://example.com", "events": ["CustomEntity.*"], "options": {"custom_entity_api_name": ["CE_Bids"]}}`, 422, []string{"options.custom_entity_api_name[0]", `"CE_Bids"`}},
	{"skip_keys type", `{` + valid + `, "options": {"skip_keys": [1]}}`, 422, []string{"options.skip_keys[0]", "number"}},
}

func TestCreateRejects(t *testing.T) {
	e := newEnv(t, nil)
	for _, tt := range rejectTests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, "POST", collection, tt.body)
			if r.Status != tt.status || r.Success || r.Code != tt.status {
				t.Fatalf("status %d (code %d), want %d: %s", r.Status, r.Code, tt.status, r.Raw)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message %q does not contain %q", r.Message, w)
				}
			}
		})
	}
	if r := e.do(t, "GET", collection, ""); r.Total != 0 {
		t.Errorf("rejected webhooks were stored: %s", r.Raw)
	}
}

func TestCreateAcceptsUnresolvableHostAndAllowsPrivateWhenConfigured(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.do(t, "POST", collection, `{"url": "https://nxdomain.example.com/", "events": ["*"]}`); r.Status != 200 {
		t.Errorf("unresolvable host: %d %s", r.Status, r.Raw)
	}
	p := newEnv(t, func(c *Config) { c.AllowPrivateTargets = true })
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://localhost/x", "https://internal.example.com/"} {
		if r := p.do(t, "POST", collection, fmt.Sprintf(`{"url": %q, "events": ["*"]}`, u)); r.Status != 200 {
			t.Errorf("%s with private targets allowed: %d %s", u, r.Status, r.Raw)
		}
	}
}

func TestPatchAndDelete(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, "POST", collection, `{"url": "https://example.com/a", "events": ["Account.Create"], "signature": "01234567-abcd-dcba-ffff-000000000000",
		"http_auth_user": "walhook", "http_auth_password": "s3cret-pw", "options": {"chunk_size": 5}}`)
	if r.Status != 200 {
		t.Fatalf("create: %s", r.Raw)
	}
	wh := r.webhook(t)
	if wh.HTTPAuthPassword == nil || *wh.HTTPAuthPassword != "********" || strings.Contains(string(r.Raw), "s3cret-pw") {
		t.Errorf("password echoed: %s", r.Raw)
	}
	path := collection + "/" + wh.ID

	// Partial update: only the events change; the masked password keeps the stored one.
	r = e.do(t, "PATCH", path, `{"events": ["Account.*"], "http_auth_password": "********"}`)
	if r.Status != 200 {
		t.Fatalf("patch: %s", r.Raw)
	}
	got := r.webhook(t)
	if diff := cmp.Diff([]string{"Account.*"}, got.Events); diff != "" || got.URL != wh.URL || string(got.Options) != `{"chunk_size": 5}` {
		t.Errorf("patched %+v", got)
	}
	if got.Modified <= wh.Modified {
		t.Errorf("modified %s not after %s", got.Modified, wh.Modified)
	}
	stored, _ := e.store.Get(t.Context(), wh.ID)
	if stored.HTTPAuthPassword != "s3cret-pw" || stored.ChunkSize != 5 {
		t.Errorf("stored password %q chunk %d", stored.HTTPAuthPassword, stored.ChunkSize)
	}
	// Same validation as create.
	for body, want := range map[string]string{
		`{"events": []}`:                                      "events",
		`{"url": "http://10.1.1.1/"}`:                         "url",
		`{"signature": "nope"}`:                               "signature",
		`{"options": {"entity": {"Nope": {}}}}`:               "options.entity.Nope",
		`{"events": ["CustomEntity.Create"]}`:                 "options.custom_entity_api_name",
		`{"signature": null, "signing": "standard-webhooks"}`: "signing",
		`{"is_deleted": true}`:                                "is_deleted",
		`{"disabled_at": "2025-01-01T00:00:00Z"}`:             "disabled_at",
		`{"options": {"entity": {"Contact": {"expand": ["primary_account.contacts.primary_account"]}}}}`: "options.entity.Contact.expand[0]",
	} {
		if r := e.do(t, "PATCH", path, body); r.Status != 422 || r.Field != want {
			t.Errorf("PATCH %s = %d field %q, want 422 naming %s: %s", body, r.Status, r.Field, want, r.Raw)
		}
	}
	// Clearing nullable fields.
	r = e.do(t, "PATCH", path, `{"signature": null, "http_auth_user": null, "http_auth_password": null, "options": null, "disabled_at": null}`)
	got = r.webhook(t)
	if r.Status != 200 || got.Signature != nil || got.HTTPAuthUser != nil || got.HTTPAuthPassword != nil || string(got.Options) != "{}" {
		t.Errorf("clear: %s", r.Raw)
	}
	if r := e.do(t, "PATCH", collection+"/01234567-abcd-dcba-ffff-000000000000", `{"url": "https://example.com"}`); r.Status != 404 {
		t.Errorf("PATCH unknown: %d", r.Status)
	}
	if r := e.do(t, "DELETE", path, ""); r.Status != 200 || !r.Success {
		t.Fatalf("delete: %s", r.Raw)
	}
	for _, c := range []struct{ method, path string }{{"GET", path}, {"DELETE", path}, {"PATCH", path}, {"GET", collection + "/not-a-uuid"}} {
		body := ""
		if c.method == "PATCH" {
			body = `{"url": "https://example.com"}`
		}
		if r := e.do(t, c.method, c.path, body); r.Status != 404 || r.Success {
			t.Errorf("%s %s after delete: %d %s", c.method, c.path, r.Status, r.Raw)
		}
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for i := range 5 {
		r := e.do(t, "POST", collection, fmt.Sprintf(`{"url": "https://example.com/%d", "events": ["*"]}`, i))
		ids = append(ids, r.webhook(t).ID)
	}
	e.do(t, "DELETE", collection+"/"+ids[4], "")
	page := func(q string) ([]string, response) {
		r := e.do(t, "GET", collection+q, "")
		if r.Status != 200 {
			t.Fatalf("GET %s: %s", q, r.Raw)
		}
		var vs []view
		json.Unmarshal(r.Data, &vs)
		var got []string
		for _, v := range vs {
			got = append(got, v.ID)
		}
		return got, r
	}
	got, r := page("?limit=3")
	if diff := cmp.Diff(ids[:3], got); diff != "" || r.Total != 4 || !r.Page.HasNextPage || r.Page.HasPrevious {
		t.Errorf("first page %v total %d page %+v", got, r.Total, r.Page)
	}
	got, r = page("?first=3&after=" + *r.Page.EndCursor)
	if diff := cmp.Diff(ids[3:4], got); diff != "" || r.Page.HasNextPage || !r.Page.HasPrevious {
		t.Errorf("second page %v %+v", got, r.Page)
	}
	if got, _ := page("?offset=1&limit=2"); !cmp.Equal(ids[1:3], got) {
		t.Errorf("offset page %v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?offset=-1", "?after=zzz", "?first=-2"} {
		if r := e.do(t, "GET", collection+q, ""); r.Status != 400 || r.Field == "" {
			t.Errorf("GET %s = %d %s", q, r.Status, r.Raw)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, nil)
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for auth, want := range map[string]int{
		"":                      401,
		"Bearer":                401,
		"Bearer wrong":          401,
		"Bearer " + token + "x": 401,
		"Token " + token:        401,
		basic("api", "wrong"):   401,
		basic(token, ""):        401,
		"Basic !!!":             401,
		"Bearer " + token:       200,
		"bearer " + token:       200,
		"Bearer other":          200,
		basic("anyone", token):  200,
		basic("", token):        200,
	} {
		r := e.doAuth(t, "GET", collection, "", auth)
		if r.Status != want {
			t.Errorf("Authorization %q: %d, want %d", auth, r.Status, want)
		}
	}
	// Unauthenticated calls get 401 before any validation or lookup.
	if r := e.doAuth(t, "POST", collection, `{"bad"`, ""); r.Status != 401 || r.Message == "" {
		t.Errorf("unauthenticated POST: %d %s", r.Status, r.Raw)
	}
	none := newEnv(t, func(c *Config) { c.Tokens = nil })
	if r := none.do(t, "GET", collection, ""); r.Status != 401 {
		t.Errorf("no tokens configured: %d", r.Status)
	}
	// The OpenAPI document is public.
	resp, err := e.client.Get(e.srv.URL + "/api/openapi.json")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("openapi: %v %v", resp, err)
	}
}

func TestLimitsAndRouting(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	big := `{"url": "https://example.com", "events": ["*"], "options": {"skip_keys": ["` + strings.Repeat("x", 2000) + `"]}}`
	if r := e.do(t, "POST", collection, big); r.Status != 413 {
		t.Errorf("big body: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "POST", collection, "{\"url\": \"https://example.com/\xff\", \"events\": [\"*\"]}"); r.Status != 400 {
		t.Errorf("invalid UTF-8: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "PUT", collection, `{}`); r.Status != 405 || r.Success {
		t.Errorf("PUT: %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, "GET", "/api/v100/rest/spaces/x/entities/Nope", ""); r.Status != 404 || r.Success {
		t.Errorf("unknown path: %d %s", r.Status, r.Raw)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	e := newEnv(t, nil)
	const sig = "fedcba98-7654-3210-fedc-ba9876543210"
	r := e.do(t, "POST", collection, `{"url": "https://example.com", "events": ["*"], "signature": "`+sig+`",
		"http_auth_user": "u", "http_auth_password": "hunter2-pw"}`)
	id := r.webhook(t).ID
	e.do(t, "PATCH", collection+"/"+id, `{"http_auth_password": "hunter3-pw", "signature": "not-a-uuid"}`)
	e.do(t, "GET", collection+"/"+id, "")
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("no request was logged")
	}
	for _, secret := range []string{sig, "hunter2-pw", "hunter3-pw", token} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}
