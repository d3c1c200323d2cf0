// Package demo holds the parts of "walhook demo" that are not walhook itself: the live CRM
// activity it generates on the sample CRM and the receiver that verifies and prints
// deliveries.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Sample CRM seed keys the activity works on.
// Space is the space the demo registers its webhook in (the console asks for it).
const Space = "demo"

const (
	ownerJana = "9900cce6-bcd6-412a-bcd1-1904556c949a"
	ownerTom  = "c1000000-0000-4000-8000-000000000002"
)

// An action is one CRM write, as an app would make it: a description and its SQL, run in
// one transaction.
type action struct {
	what string
	sql  string
}

// actions returns the demo's repertoire for step n; together they raise every kind of
// event the sample mapping knows.
func actions(n int, r *rand.Rand) []action {
	owner := []string{ownerJana, ownerTom}[r.IntN(2)]
	return []action{
		{"create an account", fmt.Sprintf(`INSERT INTO crm.accounts (name, owner_id, industry) VALUES ('Demo account %d', '%s', 'Retail')`, n, owner)},
		{"change a contact's email", fmt.Sprintf(`UPDATE crm.contacts SET email1 = 'wile%d@acme.example', modified_at = now() WHERE id = 'c0000000-0000-4000-8000-000000000001'`, n)},
		{"move an opportunity to another step", fmt.Sprintf(`UPDATE crm.lead_oppty SET step_id = %d WHERE id = '0f000000-0000-4000-8000-000000000001'`, 1+n%3)},
		{"win an opportunity", `UPDATE crm.lead_oppty SET status = CASE status WHEN 'Won' THEN 'Open' ELSE 'Won' END WHERE id = '0f000000-0000-4000-8000-000000000002'`},
		{"qualify a lead (or back)", `UPDATE crm.lead_oppty SET record_type = CASE record_type WHEN 'lead' THEN 'opportunity' ELSE 'lead' END WHERE id = '1ead0000-0000-4000-8000-000000000001'`},
		{"reassign an opportunity", fmt.Sprintf(`UPDATE crm.lead_oppty SET owner_id = '%s' WHERE id = '0f000000-0000-4000-8000-000000000003'`, owner)},
		{"comment on a task", fmt.Sprintf(`INSERT INTO crm.task_comments (task_id, body) VALUES (1, 'Demo comment %d')`, n)},
		{"link a document to an account", `INSERT INTO crm.document_links (document_id, entity_type, entity_id) VALUES ('d0c00000-0000-4000-8000-000000000002', 'account', 'ac000000-0000-4000-8000-000000000002')`},
		{"create a bid (custom entity)", fmt.Sprintf(`INSERT INTO crm.ce_bids (name, amount, owner_id) VALUES ('Important bid %d', %d.50, '%s')`, n, 1000+r.IntN(9000), owner)},
		{"change a product price", fmt.Sprintf(`UPDATE crm.products SET price = %d.99 WHERE id = 2`, 300+r.IntN(100))},
		{"sync from Gmail (skip key gmail_sync)", fmt.Sprintf(`SELECT walhook.skip_key('gmail_sync'); UPDATE crm.contacts SET phone = '+1 555 %04d' WHERE id = 'c0000000-0000-4000-8000-000000000002'`, n%10000)},
		{"write to an unmapped table", `INSERT INTO crm.audit_log (message) VALUES ('demo heartbeat')`},
	}
}

// Activity writes CRM changes to the database until ctx ends, one every interval.
func Activity(ctx context.Context, pool *pgxpool.Pool, interval time.Duration, log *slog.Logger) error {
	r := rand.New(rand.NewPCG(1, 2))
	t := time.NewTicker(interval)
	defer t.Stop()
	for n := 0; ; n++ {
		acts := actions(n, r)
		a := acts[n%len(acts)]
		if _, err := pool.Exec(ctx, "BEGIN; "+a.sql+"; COMMIT"); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("demo activity %q: %w", a.what, err)
		}
		log.Info("crm write", "what", a.what)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Register creates the demo webhook through walhook's API at base: every event, the custom
// entities, signed with secret, and skipping changes made by the Gmail sync (skip key
// gmail_sync), so those never reach the receiver.
func Register(ctx context.Context, base, token, target, secret string) error {
	return PostWebhook(ctx, base, token, fmt.Sprintf(`{"url": %q, "events": ["*"], "signature": %q, "insecure_ssl": false,
		"options": {"custom_entity_api_name": ["CE_Bid", "CE_Campaign"], "skip_keys": ["gmail_sync"], "chunk_size": 100}}`, target, secret))
}

// PostWebhook creates a webhook from a JSON body through walhook's API at base.
func PostWebhook(ctx context.Context, base, token, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v100/rest/spaces/"+Space+"/entities/Webhooks", strings.NewReader(body))
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create webhook: %s: %s", resp.Status, msg)
	}
	return nil
}
