package cdc

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/walhook/walhook/event"
)

// Sample CRM seed keys.
const (
	jana    = "9900cce6-bcd6-412a-bcd1-1904556c949a"
	tom     = "c1000000-0000-4000-8000-000000000002"
	acme    = "ac000000-0000-4000-8000-000000000001"
	lead1   = "1ead0000-0000-4000-8000-000000000001"
	lead2   = "1ead0000-0000-4000-8000-000000000002"
	opp1    = "0f000000-0000-4000-8000-000000000001"
	opp2    = "0f000000-0000-4000-8000-000000000002"
	wile    = "c0000000-0000-4000-8000-000000000001"
	doc2    = "d0c00000-0000-4000-8000-000000000002"
	appt1   = "a9900000-0000-4000-8000-000000000001"
	newAcc  = "ac000000-0000-4000-8000-0000000000aa"
	newCont = "c0000000-0000-4000-8000-0000000000cc"
	newBid  = "b1d00000-0000-4000-8000-0000000000bb"
)

// TestSampleCRMEvents makes real CRM writes, one transaction per step, and checks the exact
// events raised — every event name of the seeds' table, through the bundled mapping.
func TestSampleCRMEvents(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)
	steps := []struct {
		name string
		sql  string
		want []gotEvent // an empty id matches any id
	}{
		{"account create", `INSERT INTO crm.accounts (id, name, owner_id) VALUES ('` + newAcc + `', 'New Co', '` + jana + `')`,
			[]gotEvent{{"Account.Create", "Account", newAcc}}},
		{"owner change raises Update and OwnerChanged", `UPDATE crm.accounts SET owner_id = '` + tom + `' WHERE id = '` + newAcc + `'`,
			[]gotEvent{{"Account.Update", "Account", newAcc}, {"Account.OwnerChanged", "Account", newAcc}}},
		{"soft delete", `UPDATE crm.accounts SET is_deleted = true WHERE id = '` + newAcc + `'`,
			[]gotEvent{{"Account.Delete", "Account", newAcc}}},
		{"contact create", `INSERT INTO crm.contacts (id, last_name, email1) VALUES ('` + newCont + `', 'Fudd', 'elmer@example.com')`,
			[]gotEvent{{"Contact.Create", "Contact", newCont}}},
		{"contact real delete", `DELETE FROM crm.contacts WHERE id = '` + newCont + `'`,
			[]gotEvent{{"Contact.Delete", "Contact", newCont}}},
		{"lead lost (archived)", `UPDATE crm.lead_oppty SET is_archived = true WHERE id = '` + lead2 + `'`,
			[]gotEvent{{"Lead.Update", "Lead", lead2}, {"Lead.Lost", "Lead", lead2}}},
		{"lead qualified", `UPDATE crm.lead_oppty SET record_type = 'opportunity' WHERE id = '` + lead1 + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", lead1}, {"Opportunity.Qualify", "Opportunity", lead1}}},
		{"back to lead", `UPDATE crm.lead_oppty SET record_type = 'lead' WHERE id = '` + lead1 + `'`,
			[]gotEvent{{"Lead.Update", "Lead", lead1}, {"Lead.BackToLead", "Lead", lead1}}},
		{"sales step move", `UPDATE crm.lead_oppty SET step_id = 3 WHERE id = '` + opp1 + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", opp1}, {"Opportunity.Move", "Opportunity", opp1}}},
		{"won", `UPDATE crm.lead_oppty SET status = 'Won' WHERE id = '` + opp1 + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", opp1}, {"Opportunity.Won", "Opportunity", opp1}}},
		{"lost", `UPDATE crm.lead_oppty SET status = 'Lost' WHERE id = '` + opp2 + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", opp2}, {"Opportunity.Lost", "Opportunity", opp2}}},
		{"opportunity owner change", `UPDATE crm.lead_oppty SET owner_id = '` + tom + `' WHERE id = '` + opp1 + `'`,
			[]gotEvent{{"Opportunity.Update", "Opportunity", opp1}, {"Opportunity.OwnerChanged", "Opportunity", opp1}}},
		{"polymorphic document link", `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ('` + doc2 + `', 'contact', '` + wile + `')`,
			[]gotEvent{{"Contact.DocumentLinked", "Contact", wile}}},
		{"document linked to a task (bigint key)", `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ('` + doc2 + `', 'task', '1')`,
			[]gotEvent{{"Task.DocumentLinked", "Task", "1"}}},
		{"task comment", `INSERT INTO crm.task_comments (task_id, body) VALUES (1, 'Ping Wile')`,
			[]gotEvent{{"Task.Comment", "Task", "1"}}},
		{"appointment comment", `INSERT INTO crm.appointment_comments (appointment_id, body) VALUES ('` + appt1 + `', 'Parking is at the back')`,
			[]gotEvent{{"Appointment.Comment", "Appointment", appt1}}},
		{"task create", `INSERT INTO crm.tasks (subject, owner_id) VALUES ('Follow up', '` + jana + `')`,
			[]gotEvent{{"Task.Create", "Task", ""}}},
		{"email create and update", `INSERT INTO crm.emails (id, subject, sender) VALUES ('e0000000-0000-4000-8000-0000000000ee', 'Hi', 'a@example.com');
			UPDATE crm.emails SET subject = 'Hello' WHERE id = 'e0000000-0000-4000-8000-0000000000ee'`,
			[]gotEvent{{"Email.Create", "Email", "e0000000-0000-4000-8000-0000000000ee"}, {"Email.Update", "Email", "e0000000-0000-4000-8000-0000000000ee"}}},
		{"product create, update, delete", `INSERT INTO crm.products (name, sku, price) VALUES ('Tunnel paint', 'TNL-1', 9.99);
			UPDATE crm.products SET price = 10.49 WHERE sku = 'TNL-1'; DELETE FROM crm.products WHERE sku = 'TNL-1'`,
			[]gotEvent{{"Product.Create", "Product", ""}, {"Product.Update", "Product", ""}, {"Product.Delete", "Product", ""}}},
		{"line item", `INSERT INTO crm.oppty_product_relations (oppty_id, product_id, quantity, unit_price) VALUES ('` + opp2 + `', 1, 3, 199.00)`,
			[]gotEvent{{"OpptyProductRelation.Create", "OpptyProductRelation", ""}}},
		{"custom entity", `INSERT INTO crm.ce_bids (id, name, amount, owner_id) VALUES ('` + newBid + `', 'Important bid', 1000.50, '` + jana + `')`,
			[]gotEvent{{"CustomEntity.Create", "CE_Bid", newBid}}},
		{"custom entity owner change", `UPDATE crm.ce_bids SET owner_id = '` + tom + `' WHERE id = '` + newBid + `'`,
			[]gotEvent{{"CustomEntity.Update", "CE_Bid", newBid}, {"CustomEntity.OwnerChanged", "CE_Bid", newBid}}},
		{"line item update and delete", `UPDATE crm.oppty_product_relations SET quantity = 4 WHERE id = 1; DELETE FROM crm.oppty_product_relations WHERE id = 2`,
			[]gotEvent{{"OpptyProductRelation.Update", "OpptyProductRelation", "1"}, {"OpptyProductRelation.Delete", "OpptyProductRelation", "2"}}},
		{"email soft delete", `UPDATE crm.emails SET is_deleted = true WHERE id = 'e0000000-0000-4000-8000-0000000000ee'`,
			[]gotEvent{{"Email.Delete", "Email", "e0000000-0000-4000-8000-0000000000ee"}}},
		{"document linked to an email", `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ('` + doc2 + `', 'email', 'e0000000-0000-4000-8000-000000000001')`,
			[]gotEvent{{"Email.DocumentLinked", "Email", "e0000000-0000-4000-8000-000000000001"}}},
		{"custom entity delete", `DELETE FROM crm.ce_bids WHERE id = '` + newBid + `'`,
			[]gotEvent{{"CustomEntity.Delete", "CE_Bid", newBid}}},
		{"truncate raises nothing", `TRUNCATE crm.appointment_comments`, nil},
	}
	for _, st := range steps {
		c.Exec(t, st.sql)
		_, evs := h.nextTxn(t)
		got := summarize(evs)
		for i := range got {
			if i < len(st.want) && st.want[i].id == "" {
				got[i].id = ""
			}
		}
		if diff := cmp.Diff(st.want, got, cmp.AllowUnexported(gotEvent{}), cmpEmpty); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", st.name, diff)
		}
	}
}

var cmpEmpty = cmp.FilterValues(func(a, b []gotEvent) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// TestEventBodies checks what events carry: typed JSON, API names, previous values,
// related rows, custom entity names and ids that are stable per change and name.
func TestEventBodies(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)

	c.Exec(t, `UPDATE crm.lead_oppty SET value = 125000.10, "closingDate" = '2026-01-31', owner_id = '`+tom+`' WHERE id = '`+opp1+`'`)
	txn, evs := h.nextTxn(t)
	if len(evs) != 2 {
		t.Fatalf("got %v", summarize(evs))
	}
	upd := evs[0]
	if diff := cmp.Diff([]string{"owner_id", "value", "closing_date"}, upd.Changed); diff != "" {
		t.Errorf("changed fields (-want +got):\n%s", diff)
	}
	body := string(upd.New.AppendJSON(nil))
	for _, want := range []string{`"value":125000.10`, `"closing_date":"2026-01-31"`, `"record_type":"opportunity"`, `"step_id":2`, `"is_archived":false`} {
		if !strings.Contains(body, want) {
			t.Errorf("new row lacks %s: %s", want, body)
		}
	}
	if old, _ := upd.Old.Get("value"); old.Text() != "125000.00" {
		t.Errorf("old value = %q, want 125000.00", old.Text())
	}
	if upd.CommitLSN != txn.CommitLSN || upd.CommitTime.IsZero() || upd.XID != txn.XID {
		t.Errorf("event txn fields %v/%v/%d vs txn %+v", upd.CommitLSN, upd.CommitTime, upd.XID, txn)
	}
	if upd.ID == evs[1].ID || !strings.HasSuffix(string(evs[1].ID), "-Opportunity.OwnerChanged") {
		t.Errorf("ids %s and %s", upd.ID, evs[1].ID)
	}

	c.Exec(t, `INSERT INTO crm.accounts (id, name, internal_notes, tags, custom_fields) VALUES ('`+newAcc+`', 'Quote "Co"', 'secret', '{a,b}', '{"tier": "gold"}')`)
	_, evs = h.nextTxn(t)
	body = string(evs[0].New.AppendJSON(nil))
	for _, want := range []string{`"name":"Quote \"Co\""`, `"tags":["a","b"]`, `"custom_fields":{"tier": "gold"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("account row lacks %s: %s", want, body)
		}
	}
	if strings.Contains(body, "internal_notes") || !strings.Contains(body, `"created_at":"20`) || !strings.Contains(body, "Z\"") {
		t.Errorf("account row: excluded column or bad timestamp: %s", body)
	}

	c.Exec(t, `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ('`+doc2+`', 'opportunity', '`+opp2+`')`)
	_, evs = h.nextTxn(t)
	ev := evs[0]
	if ev.Related == nil || ev.Related.Entity != "Document" || ev.Related.ID != doc2 || ev.New != nil || ev.Link == nil {
		t.Errorf("document link event: %+v related %+v", ev, ev.Related)
	}

	c.Exec(t, `INSERT INTO crm.ce_bids (name) VALUES ('x')`)
	_, evs = h.nextTxn(t)
	if !evs[0].Custom || evs[0].Entity != "CE_Bid" || evs[0].Name != "CustomEntity.Create" {
		t.Errorf("custom entity event %+v", evs[0])
	}
}

// TestSkipKeyCarriedByTransaction: changes after walhook.skip_key() in the same transaction
// carry the key; earlier ones and later transactions do not.
func TestSkipKeyCarriedByTransaction(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)
	c.Exec(t, `UPDATE crm.accounts SET phone = '1' WHERE id = '`+acme+`';
		SELECT walhook.skip_key('gmail_sync');
		UPDATE crm.accounts SET phone = '2' WHERE id = '`+acme+`';
		SELECT walhook.skip_key('custom_integration');
		UPDATE crm.accounts SET phone = '3' WHERE id = '`+acme+`'`)
	_, evs := h.nextTxn(t)
	var got [][]string
	for _, ev := range evs {
		got = append(got, ev.SkipKeys)
	}
	want := [][]string{{}, {"gmail_sync"}, {"gmail_sync", "custom_integration"}}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") })); diff != "" {
		t.Errorf("skip keys (-want +got):\n%s", diff)
	}
	c.Exec(t, `UPDATE crm.accounts SET phone = '4' WHERE id = '`+acme+`'`)
	if _, evs := h.nextTxn(t); len(evs[0].SkipKeys) != 0 {
		t.Errorf("next transaction inherited skip keys %v", evs[0].SkipKeys)
	}
}

// TestColumnAddedMidStream: a column added to a live mapped table appears in the next
// event without a restart; a dropped one disappears.
func TestColumnAddedMidStream(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)
	c.Exec(t, `UPDATE crm.products SET price = 1 WHERE id = 1`)
	if _, evs := h.nextTxn(t); hasField(evs[0], "warranty_months") {
		t.Fatal("field present before it was added")
	}
	c.Exec(t, `ALTER TABLE crm.products ADD COLUMN warranty_months int`)
	c.Exec(t, `UPDATE crm.products SET warranty_months = 24 WHERE id = 1`)
	_, evs := h.nextTxn(t)
	if v, ok := evs[0].New.Get("warranty_months"); !ok || v.Text() != "24" {
		t.Errorf("after ADD COLUMN: %s", evs[0].New.AppendJSON(nil))
	}
	if diff := cmp.Diff([]string{"warranty_months"}, evs[0].Changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
	c.Exec(t, `ALTER TABLE crm.products DROP COLUMN sku`)
	c.Exec(t, `UPDATE crm.products SET price = 2 WHERE id = 1`)
	if _, evs := h.nextTxn(t); hasField(evs[0], "sku") {
		t.Errorf("dropped column still present: %s", evs[0].New.AppendJSON(nil))
	}
}

func hasField(ev *event.Event, name string) bool {
	_, ok := ev.New.Get(name)
	return ok
}

// TestUnchangedToastFilledFromOldRow: an UPDATE that leaves a large, out-of-line (TOASTed)
// value alone sends it as "unchanged"; the event still carries it, from the old row.
func TestUnchangedToastFilledFromOldRow(t *testing.T) {
	c := newCRM(t)
	h := newCollector()
	startReader(t, c, h, nil)
	// 32,000 hex digits of md5 output barely compress, so the value is stored out of line.
	c.Exec(t, `UPDATE crm.tasks SET description = (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 1000) g) WHERE id = 1`)
	h.nextTxn(t)
	c.Exec(t, `UPDATE crm.tasks SET subject = 'Call Wile again' WHERE id = 1`)
	_, evs := h.nextTxn(t)
	v, ok := evs[0].New.Get("description")
	if !ok || len(v.Raw) != 32000 {
		t.Fatalf("description after an update that left it alone: present=%v, %d bytes, want 32000", ok, len(v.Raw))
	}
	if diff := cmp.Diff([]string{"subject"}, evs[0].Changed); diff != "" {
		t.Errorf("changed (-want +got):\n%s", diff)
	}
}
