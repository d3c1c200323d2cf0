package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestTestSendAndPreviewThroughTheBinary runs the binary: POST …/{id}/test sends the
// receiver one signed request marked Walhook-Test, built from the row written last, and
// answers what the receiver said; POST …/Webhooks/preview renders the same row with the
// webhook's options and explains the rows its filter leaves out. The receiver checks the
// signature and the delivery headers itself.
func TestTestSendAndPreviewThroughTheBinary(t *testing.T) {
	dsn, env := setupE2E(t, nil)
	r := newReceiver(t, "3f2a1b4c-0000-4000-8000-00000000a11e")
	p := startWalhook(t, env)
	p.waitReady(t)
	conn := crmConn(t, dsn)
	var contact string
	if err := conn.QueryRow(context.Background(), `INSERT INTO crm.contacts (first_name, last_name, email1)
		VALUES ('Grace', 'Hopper', 'grace@example.com') RETURNING id::text`).Scan(&contact); err != nil {
		t.Fatal(err)
	}
	options := map[string]any{"entity": map[string]any{"Contact": map[string]any{
		"filter": map[string]any{"first_name": "Grace"}, "load-only": []string{"first_name", "email1"}}}}
	id := registerWebhook(t, p.base, map[string]any{"url": r.URL(), "events": []string{"Contact.Update"},
		"signature": r.secret, "options": options})

	status, msg := postJSON(t, p.base+webhooksPath+"/"+id+"/test", "")
	var res struct {
		Data struct {
			Outcome    string         `json:"outcome"`
			Status     int            `json:"status"`
			DeliveryID string         `json:"delivery_id"`
			Event      string         `json:"event"`
			EntityID   string         `json:"entity_id"`
			Body       map[string]any `json:"body"`
		}
	}
	if status != http.StatusOK || json.Unmarshal([]byte(msg), &res) != nil || res.Data.Outcome != "delivered" ||
		res.Data.Status != 200 || res.Data.Event != "Contact.Update" || res.Data.EntityID != contact {
		t.Fatalf("test-send: %d %s", status, msg)
	}
	ds := r.deliveryList()
	if len(ds) != 1 || ds[0].deliveryID != res.Data.DeliveryID || ds[0].header.Get("Walhook-Test") != "true" {
		t.Fatalf("the receiver got %d requests, want the test: %+v", len(ds), ds)
	}
	if item := string(ds[0].items[0]); !strings.Contains(item, `"data":{"first_name":"Grace","email1":"grace@example.com"}`) {
		t.Errorf("test item %s", item)
	}
	r.checkNoProblems(t)

	body, _ := json.Marshal(map[string]any{"url": r.URL(), "events": []string{"Contact.*"}, "options": options, "limit": 5})
	status, msg = postJSON(t, p.base+webhooksPath+"/preview", string(body))
	if status != http.StatusOK || !strings.Contains(msg, `"entity_id":"`+contact+`"`) ||
		!strings.Contains(msg, `"data":{"first_name":"Grace","email1":"grace@example.com"}`) ||
		!strings.Contains(msg, `"reason":"filter first_name eq \"Grace\": value \"Peter\""`) {
		t.Errorf("preview: %d %s", status, msg)
	}
	if n := len(r.deliveryList()); n != 1 {
		t.Errorf("preview sent %d requests", n-1)
	}
}
