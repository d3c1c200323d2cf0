package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/internal/seal"
)

// ErrNotFound is returned for an unknown inbound webhook uuid.
var ErrNotFound = errors.New("inbound webhook not found")

// Webhook is one inbound webhook: calls to its receive URL raise events named EventKey.
type Webhook struct {
	UUID        string
	EventKey    string
	Description string
	Verify      *Verify
	Created     time.Time
	Modified    time.Time
}

// store keeps inbound webhooks in walhook.inbound_webhooks (migration 0007). Secrets
// (verify.secret, a send's signature) are sealed at rest when seal has a key
// (WALHOOK_SECRET_KEY), as the webhooks' are.
type store struct {
	pool *pgxpool.Pool
	seal *seal.Sealer
}

// Sealed fields (the additional data binding a sealed value to what it is).
const (
	sealVerify    = "inbound_webhooks.verify.secret"
	sealSignature = "outgoing_sends.signature"
)

const webhookCols = `uuid::text, event_key, coalesce(description, ''), verify, created, modified`

func (st *store) scanWebhook(row pgx.Row) (*Webhook, error) {
	wh := &Webhook{}
	var verify []byte
	if err := row.Scan(&wh.UUID, &wh.EventKey, &wh.Description, &verify, &wh.Created, &wh.Modified); err != nil {
		return nil, err
	}
	if verify != nil {
		wh.Verify = &Verify{}
		if err := json.Unmarshal(verify, wh.Verify); err != nil {
			return nil, fmt.Errorf("read verify of inbound webhook %s: %w", wh.UUID, err)
		}
		secret, err := st.seal.Open(sealVerify, wh.Verify.Secret)
		if err != nil {
			return nil, fmt.Errorf("read verify of inbound webhook %s: %w", wh.UUID, err)
		}
		wh.Verify.Secret = secret
	}
	return wh, nil
}

func (st *store) verifyJSON(v *Verify) []byte {
	if v == nil {
		return nil
	}
	sealed := *v
	sealed.Secret = st.seal.Seal(sealVerify, v.Secret)
	b, _ := json.Marshal(&sealed)
	return b
}

// get returns one inbound webhook, or an error wrapping ErrNotFound.
func (st *store) get(ctx context.Context, id string) (*Webhook, error) {
	wh, err := st.scanWebhook(st.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM walhook.inbound_webhooks WHERE uuid = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("inbound webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read inbound webhook %s: %w", id, err)
	}
	return wh, nil
}

// list returns every inbound webhook, oldest first.
func (st *store) list(ctx context.Context) ([]*Webhook, error) {
	rows, err := st.pool.Query(ctx, `SELECT `+webhookCols+` FROM walhook.inbound_webhooks ORDER BY created, uuid`)
	if err != nil {
		return nil, fmt.Errorf("list inbound webhooks: %w", err)
	}
	defer rows.Close()
	out := []*Webhook{}
	for rows.Next() {
		wh, err := st.scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("list inbound webhooks: %w", err)
		}
		out = append(out, wh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list inbound webhooks: %w", err)
	}
	return out, nil
}

// create stores a new inbound webhook with a fresh uuid.
func (st *store) create(ctx context.Context, wh *Webhook) (*Webhook, error) {
	id := uuid.NewString()
	out, err := st.scanWebhook(st.pool.QueryRow(ctx, `INSERT INTO walhook.inbound_webhooks (uuid, event_key, description, verify)
		VALUES ($1, $2, NULLIF($3, ''), $4) RETURNING `+webhookCols, id, wh.EventKey, wh.Description, st.verifyJSON(wh.Verify)))
	if err != nil {
		return nil, fmt.Errorf("create inbound webhook: %w", err)
	}
	return out, nil
}

// update changes an inbound webhook: apply edits the stored one.
func (st *store) update(ctx context.Context, id string, apply func(*Webhook) error) (*Webhook, error) {
	var out *Webhook
	err := pgx.BeginFunc(ctx, st.pool, func(tx pgx.Tx) error {
		wh, err := st.scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookCols+` FROM walhook.inbound_webhooks WHERE uuid = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("inbound webhook %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := apply(wh); err != nil {
			return err
		}
		out, err = st.scanWebhook(tx.QueryRow(ctx, `UPDATE walhook.inbound_webhooks SET event_key = $2, description = NULLIF($3, ''),
			verify = $4, modified = now() WHERE uuid = $1 RETURNING `+webhookCols, id, wh.EventKey, wh.Description, st.verifyJSON(wh.Verify)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update inbound webhook %s: %w", id, err)
	}
	return out, nil
}

// delete removes an inbound webhook; its files stay until they are pruned.
func (st *store) delete(ctx context.Context, id string) error {
	tag, err := st.pool.Exec(ctx, `DELETE FROM walhook.inbound_webhooks WHERE uuid = $1`, id)
	if err != nil {
		return fmt.Errorf("delete inbound webhook %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("inbound webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// file is one stored file of a call.
type file struct {
	contentType, filename string
	content               []byte
}

// file returns a call's file, or an error wrapping ErrNotFound (unknown, or pruned).
func (st *store) file(ctx context.Context, callID string, idx int) (*file, error) {
	f := &file{}
	err := st.pool.QueryRow(ctx, `SELECT content_type, filename, content FROM walhook.inbound_files WHERE call_id = $1 AND idx = $2`,
		callID, idx).Scan(&f.contentType, &f.filename, &f.content)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("file %d of call %s: %w", idx, callID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read file %d of call %s: %w", idx, callID, err)
	}
	return f, nil
}

// prune deletes files and idempotency rows older than retention and returns how many.
func (st *store) prune(ctx context.Context, retention time.Duration) (files, calls int64, err error) {
	cut := time.Now().Add(-retention)
	tag, err := st.pool.Exec(ctx, `DELETE FROM walhook.inbound_files WHERE received_at < $1`, cut)
	if err != nil {
		return 0, 0, fmt.Errorf("prune inbound files: %w", err)
	}
	files = tag.RowsAffected()
	tag, err = st.pool.Exec(ctx, `DELETE FROM walhook.inbound_calls WHERE received_at < $1`, cut)
	if err != nil {
		return files, 0, fmt.Errorf("prune inbound calls: %w", err)
	}
	calls = tag.RowsAffected()
	if _, err := st.pool.Exec(ctx, `DELETE FROM walhook.outgoing_sends WHERE created < $1`, cut); err != nil {
		return files, calls, fmt.Errorf("prune webhook.send targets: %w", err)
	}
	return files, calls, nil
}

// Outgoing is the target of one webhook.send: where the queued body goes, the key of its
// WebHook-Signature (hex HMAC-SHA256 of the body) when set, and static headers.
type Outgoing struct {
	ID        string
	URL       string
	Signature string
	Headers   map[string]string
}

// Querier is what LookupOutgoing needs: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// createOutgoing stores a send's target and returns its id.
func (st *store) createOutgoing(ctx context.Context, o *Outgoing) (string, error) {
	id := uuid.NewString()
	var headers []byte
	if o.Headers != nil {
		headers, _ = json.Marshal(o.Headers)
	}
	if _, err := st.pool.Exec(ctx, `INSERT INTO walhook.outgoing_sends (id, url, signature, headers) VALUES ($1, $2, NULLIF($3, ''), $4)`,
		id, o.URL, st.seal.Seal(sealSignature, o.Signature), headers); err != nil {
		return "", fmt.Errorf("store the target of webhook.send: %w", err)
	}
	return id, nil
}

// LookupOutgoing returns the target of a webhook.send, its signature opened with sealer
// (nil: no WALHOOK_SECRET_KEY), or an error wrapping ErrNotFound (unknown, or pruned after
// the retention).
func LookupOutgoing(ctx context.Context, q Querier, sealer *seal.Sealer, id string) (*Outgoing, error) {
	o := &Outgoing{ID: id}
	var headers []byte
	err := q.QueryRow(ctx, `SELECT url, coalesce(signature, ''), headers FROM walhook.outgoing_sends WHERE id = $1`, id).Scan(&o.URL, &o.Signature, &headers)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("webhook.send target %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook.send target %s: %w", id, err)
	}
	if headers != nil {
		if err := json.Unmarshal(headers, &o.Headers); err != nil {
			return nil, fmt.Errorf("read headers of webhook.send target %s: %w", id, err)
		}
	}
	if o.Signature, err = sealer.Open(sealSignature, o.Signature); err != nil {
		return nil, fmt.Errorf("read webhook.send target %s: %w", id, err)
	}
	return o, nil
}
