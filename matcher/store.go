package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walhook/walhook/internal/uuidx"
)

// NotifyChannel is the PostgreSQL channel on which migration 0002's trigger announces every
// change to walhook.webhooks (payload: the webhook id).
const NotifyChannel = "walhook_webhooks"

// Store keeps webhooks in walhook.webhooks (migration 0002). All methods are safe for
// concurrent use; every committed change is announced on NotifyChannel by a trigger, so
// running Matchers pick it up within milliseconds. Methods taking an id answer ErrNotFound
// (wrapped) for an id that is not a UUID, unknown, or deleted.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns a Store on db, the database holding walhook's schema. It does no I/O.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

const webhookColumns = `id::text, url, events, insecure_ssl, coalesce(signature, ''), options::text,
	coalesce(http_auth_user, ''), coalesce(http_auth_password, ''), signing, created, modified,
	is_deleted, disabled_at, status, coalesce(disabled_reason, ''), payload_format, pipedrive_id, pipedrive::text`

func scanWebhook(row pgx.Row) (*Webhook, error) {
	wh := &Webhook{}
	var options string
	var pd pipedriveColumns
	err := row.Scan(&wh.ID, &wh.URL, &wh.Events, &wh.InsecureSSL, &wh.Signature, &options,
		&wh.HTTPAuthUser, &wh.HTTPAuthPassword, &wh.Signing, &wh.Created, &wh.Modified,
		&wh.IsDeleted, &wh.DisabledAt, &wh.Status, &wh.DisabledReason, &wh.Format, &pd.id, &pd.fields)
	if err != nil {
		return nil, err
	}
	if wh.Pipedrive, err = pd.decode(); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", wh.ID, err)
	}
	wh.Options = json.RawMessage(options)
	wh.ChunkSize, wh.ChunkDelay = chunking(wh.Options)
	wh.Created, wh.Modified = wh.Created.UTC(), wh.Modified.UTC()
	if wh.DisabledAt != nil {
		t := wh.DisabledAt.UTC()
		wh.DisabledAt = &t
	}
	return wh, nil
}

// Create stores a new webhook and returns it as stored, with ID (a new UUIDv7 unless wh.ID
// is set), Created and Modified filled in. Empty Options are stored as {}, an empty Signing
// as SigningPipeliner. It does not validate: the API does, before.
func (s *Store) Create(ctx context.Context, wh *Webhook) (*Webhook, error) {
	id := wh.ID
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("create webhook: new id: %w", err)
		}
		id = u.String()
	}
	row := s.db.QueryRow(ctx, `INSERT INTO walhook.webhooks
		(id, url, events, insecure_ssl, signature, options, http_auth_user, http_auth_password, signing, disabled_at,
		 status, disabled_reason)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6::json, nullif($7, ''), nullif($8, ''), $9, $10, $11, nullif($12, ''))
		RETURNING `+webhookColumns,
		id, wh.URL, wh.Events, wh.InsecureSSL, wh.Signature, string(optionsOrEmpty(wh.Options)),
		wh.HTTPAuthUser, wh.HTTPAuthPassword, signingOrDefault(wh.Signing), wh.DisabledAt,
		statusOrDefault(wh.Status), wh.DisabledReason)
	out, err := scanWebhook(row)
	if err != nil {
		return nil, fmt.Errorf("create webhook %s: %w", id, err)
	}
	return out, nil
}

// Get returns the live webhook id.
func (s *Store) Get(ctx context.Context, id string) (*Webhook, error) {
	if !uuidx.Is(id) {
		return nil, fmt.Errorf("get webhook %q: %w", id, ErrNotFound)
	}
	wh, err := scanWebhook(s.db.QueryRow(ctx, `SELECT `+webhookColumns+`
		FROM walhook.webhooks WHERE id = $1 AND NOT is_deleted`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return wh, nil
}

// List returns one page of the live webhooks, oldest first (by Created, then ID), and the
// number of live webhooks in all.
func (s *Store) List(ctx context.Context, offset, limit int) ([]*Webhook, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM walhook.webhooks WHERE NOT is_deleted`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count webhooks: %w", err)
	}
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM walhook.webhooks WHERE NOT is_deleted
		ORDER BY created, id OFFSET $1 LIMIT $2`, offset, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhooks: %w", err)
	}
	whs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return nil, 0, fmt.Errorf("list webhooks: %w", err)
	}
	return whs, total, nil
}

// Live returns every webhook that is not deleted, disabled ones included.
func (s *Store) Live(ctx context.Context) ([]*Webhook, error) {
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM walhook.webhooks WHERE NOT is_deleted ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("load webhooks: %w", err)
	}
	whs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Webhook, error) { return scanWebhook(r) })
	if err != nil {
		return nil, fmt.Errorf("load webhooks: %w", err)
	}
	return whs, nil
}

// Update changes the live webhook id: in one transaction, holding the row's lock, it reads
// the webhook, lets apply change a copy, and writes every stored field of it back with a
// new Modified. An error from apply aborts the update and is returned as is (a
// *ValidationError stays one).
func (s *Store) Update(ctx context.Context, id string, apply func(*Webhook) error) (*Webhook, error) {
	if !uuidx.Is(id) {
		return nil, fmt.Errorf("update webhook %q: %w", id, ErrNotFound)
	}
	var out *Webhook
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		wh, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+`
			FROM walhook.webhooks WHERE id = $1 AND NOT is_deleted FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("update webhook %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("update webhook %s: %w", id, err)
		}
		if err := apply(wh); err != nil {
			return err
		}
		out, err = scanWebhook(tx.QueryRow(ctx, `UPDATE walhook.webhooks SET
			url = $2, events = $3, insecure_ssl = $4, signature = nullif($5, ''), options = $6::json,
			http_auth_user = nullif($7, ''), http_auth_password = nullif($8, ''), signing = $9,
			disabled_at = $10, status = $11, disabled_reason = nullif($12, ''),
			modified = greatest(now(), modified + interval '1 microsecond')
			WHERE id = $1 RETURNING `+webhookColumns,
			id, wh.URL, wh.Events, wh.InsecureSSL, wh.Signature, string(optionsOrEmpty(wh.Options)),
			wh.HTTPAuthUser, wh.HTTPAuthPassword, signingOrDefault(wh.Signing), wh.DisabledAt,
			statusOrDefault(wh.Status), wh.DisabledReason))
		if err != nil {
			return fmt.Errorf("update webhook %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Delete marks the live webhook id deleted; it then matches nothing and Get answers
// ErrNotFound. Deleting twice answers ErrNotFound the second time.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !uuidx.Is(id) {
		return fmt.Errorf("delete webhook %q: %w", id, ErrNotFound)
	}
	tag, err := s.db.Exec(ctx, `UPDATE walhook.webhooks SET is_deleted = true,
		modified = greatest(now(), modified + interval '1 microsecond') WHERE id = $1 AND NOT is_deleted`, id)
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete webhook %s: %w", id, ErrNotFound)
	}
	return nil
}

// Disable disables the live webhook id for reason (its status becomes StatusDisabled,
// DisabledAt now) unless it is disabled already, and reports whether it changed it: the
// caller logs and counts a disable once, however many attempts saw its cause. A paused
// webhook becomes disabled. A disabled webhook still matches; its events are held until it
// is resumed (Update to StatusActive: POST …/resume, or PATCH "disabled_at": null).
func (s *Store) Disable(ctx context.Context, id, reason string) (bool, error) {
	if !uuidx.Is(id) {
		return false, fmt.Errorf("disable webhook %q: %w", id, ErrNotFound)
	}
	var changed bool
	err := s.db.QueryRow(ctx, `WITH w AS (SELECT id, status FROM walhook.webhooks
			WHERE id = $1 AND NOT is_deleted FOR UPDATE),
		u AS (UPDATE walhook.webhooks t SET status = 'disabled', disabled_at = now(), disabled_reason = $2
			FROM w WHERE t.id = w.id AND w.status <> 'disabled' RETURNING t.id)
		SELECT EXISTS (SELECT FROM u) FROM w`, id, reason).Scan(&changed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("disable webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("disable webhook %s: %w", id, err)
	}
	return changed, nil
}

func statusOrDefault(s string) string {
	if s == "" {
		return StatusActive
	}
	return s
}

func optionsOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || KindOfJSON(raw) == "null" {
		return json.RawMessage("{}")
	}
	return raw
}

func signingOrDefault(s string) string {
	if s == "" {
		return SigningPipeliner
	}
	return s
}
