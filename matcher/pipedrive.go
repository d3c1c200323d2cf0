package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Pipedrive holds the fields of a webhook created through Pipedrive's API (DESIGN.md §12,
// POST /v1/webhooks), stored in walhook.webhooks.pipedrive_id and .pipedrive (migration
// 0006) next to the webhook's own fields.
type Pipedrive struct {
	// ID is Pipedrive's integer id, assigned by the store on create.
	ID int64 `json:"-"`
	// EventAction and EventObject are as the client sent them (EventAction in either
	// version's vocabulary); Version is "1.0" or "2.0".
	EventAction string `json:"event_action"`
	EventObject string `json:"event_object"`
	Version     string `json:"version"`
	Name        string `json:"name"`
	// UserID is the user_id the client sent, 0 when none.
	UserID int64 `json:"user_id"`
	// Objects maps each subscribed entity to its Pipedrive object (Opportunity: deal),
	// resolved from the mapping when the webhook was created.
	Objects map[string]string `json:"objects"`
}

// pipedriveColumns are the stored Pipedrive columns of one row.
type pipedriveColumns struct {
	id     *int64
	fields *string
}

// decode returns the row's Pipedrive fields, nil when it has none.
func (c pipedriveColumns) decode() (*Pipedrive, error) {
	if c.id == nil || c.fields == nil {
		return nil, nil
	}
	pd := &Pipedrive{}
	if err := json.Unmarshal([]byte(*c.fields), pd); err != nil {
		return nil, fmt.Errorf("decode stored pipedrive fields: %w", err)
	}
	pd.ID = *c.id
	return pd, nil
}

// CreatePipedrive stores a new webhook with its Pipedrive fields (wh.Pipedrive, required)
// and payload format (wh.Format) in one statement, so that no instance ever loads it
// without them, and returns it as stored with a new Pipedrive ID. Like Create, it does not
// validate. Pipedrive webhooks have no space (they belong to every one), signature,
// headers or timeout; the Basic-auth password is sealed as Create seals it.
func (s *Store) CreatePipedrive(ctx context.Context, wh *Webhook) (*Webhook, error) {
	if wh.Pipedrive == nil {
		return nil, errors.New("create pipedrive webhook: no pipedrive fields")
	}
	u, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("create pipedrive webhook: new id: %w", err)
	}
	fields, err := json.Marshal(wh.Pipedrive)
	if err != nil {
		return nil, fmt.Errorf("create pipedrive webhook %s: %w", u, err)
	}
	st := s.storedForm(wh)
	row := s.db.QueryRow(ctx, `INSERT INTO walhook.webhooks
		(id, url, events, insecure_ssl, signature, options, http_auth_user, http_auth_password, signing,
		 status, payload_format, pipedrive_id, pipedrive)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6::json, nullif($7, ''), nullif($8, ''), $9, $10, $11,
		 nextval('walhook.pipedrive_webhook_ids'), $12::jsonb)
		RETURNING `+webhookColumns,
		u.String(), wh.URL, wh.Events, wh.InsecureSSL, wh.Signature, string(optionsOrEmpty(wh.Options)),
		wh.HTTPAuthUser, st.password, signingOrDefault(wh.Signing), statusOrDefault(wh.Status),
		wh.Format, string(fields))
	out, err := s.scanWebhook(row)
	if err != nil {
		return nil, fmt.Errorf("create pipedrive webhook %s: %w", u, err)
	}
	return out, nil
}

// PipedriveWebhook is a live webhook created through Pipedrive's API, with its last
// delivery attempt from the delivery log (Pipedrive's last_delivery_time and
// last_http_status).
type PipedriveWebhook struct {
	*Webhook
	// LastAttempt is when the last attempt was made and LastStatus the HTTP status it was
	// answered with; nil when none was made, or none answered.
	LastAttempt *time.Time
	LastStatus  *int
}

// Pipedrive returns the live webhooks created through Pipedrive's API, by Pipedrive ID;
// with pipedriveID > 0, only that one (ErrNotFound, wrapped, when it is unknown or
// deleted).
func (s *Store) Pipedrive(ctx context.Context, pipedriveID int64) ([]PipedriveWebhook, error) {
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM walhook.webhooks
		WHERE NOT is_deleted AND pipedrive_id IS NOT NULL AND ($1 = 0 OR pipedrive_id = $1)
		ORDER BY pipedrive_id`, pipedriveID)
	if err != nil {
		return nil, fmt.Errorf("list pipedrive webhooks: %w", err)
	}
	whs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Webhook, error) { return s.scanWebhook(r) })
	if err != nil {
		return nil, fmt.Errorf("list pipedrive webhooks: %w", err)
	}
	if pipedriveID > 0 && len(whs) == 0 {
		return nil, fmt.Errorf("get pipedrive webhook %d: %w", pipedriveID, ErrNotFound)
	}
	out := make([]PipedriveWebhook, len(whs))
	ids := make([]string, len(whs))
	at := make(map[string]int, len(whs))
	for i, wh := range whs {
		out[i].Webhook, ids[i], at[wh.ID] = wh, wh.ID, i
	}
	last, err := s.db.Query(ctx, `SELECT DISTINCT ON (webhook_id) webhook_id::text, attempted_at, status
		FROM walhook.delivery_log WHERE webhook_id = ANY($1::uuid[]) ORDER BY webhook_id, id DESC`, ids)
	if err != nil {
		return nil, fmt.Errorf("read last deliveries of pipedrive webhooks: %w", err)
	}
	defer last.Close()
	for last.Next() {
		var id string
		var t time.Time
		var status *int
		if err := last.Scan(&id, &t, &status); err != nil {
			return nil, fmt.Errorf("read last deliveries of pipedrive webhooks: %w", err)
		}
		t = t.UTC()
		out[at[id]].LastAttempt, out[at[id]].LastStatus = &t, status
	}
	if err := last.Err(); err != nil {
		return nil, fmt.Errorf("read last deliveries of pipedrive webhooks: %w", err)
	}
	return out, nil
}

// DeletePipedrive deletes the live webhook with Pipedrive ID pipedriveID, as Delete does.
func (s *Store) DeletePipedrive(ctx context.Context, pipedriveID int64) error {
	tag, err := s.db.Exec(ctx, `UPDATE walhook.webhooks SET is_deleted = true,
		modified = greatest(now(), modified + interval '1 microsecond')
		WHERE pipedrive_id = $1 AND NOT is_deleted`, pipedriveID)
	if err != nil {
		return fmt.Errorf("delete pipedrive webhook %d: %w", pipedriveID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete pipedrive webhook %d: %w", pipedriveID, ErrNotFound)
	}
	return nil
}
