package matcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/walhook/walhook/internal/jsonx"
	"github.com/walhook/walhook/internal/seal"
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
	db   dbtx
	seal *seal.Sealer
}

// dbtx is what the store runs its statements on: a pool, or the transaction of InTx.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// NewStore returns a Store on db, the database holding walhook's schema. It does no I/O.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

// InTx runs fn with a Store whose methods all run in one transaction, committed when fn
// returns nil and rolled back otherwise (fn's error is returned as is). Changes are
// announced on NotifyChannel at commit only, so running instances see all of them or
// none. The Store passed to fn must not be used after fn returns.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		return fn(&Store{db: tx, seal: s.seal})
	})
}

// SealSecrets makes the store keep signatures, Basic-auth passwords and headers sealed with
// s (WALHOOK_SECRET_KEY); values stored plain before are still read, and sealed at their
// next write.
func (s *Store) SealSecrets(x *seal.Sealer) *Store {
	s.seal = x
	return s
}

const webhookColumns = `id::text, url, events, insecure_ssl, coalesce(signature, ''), options::text,
	coalesce(http_auth_user, ''), coalesce(http_auth_password, ''), signing, created, modified,
	is_deleted, disabled_at, status, coalesce(disabled_reason, ''),
	coalesce(space_id, ''), coalesce(previous_signature, ''), signature_rotated_at, coalesce(headers, ''),
	coalesce(timeout_ms, 0), payload_format, pipedrive_id, pipedrive::text, coalesce(name, '')`

// sealed are the columns that hold secrets, sealed when a key is configured.
const (
	fieldSignature         = "signature"
	fieldPreviousSignature = "previous_signature"
	fieldPassword          = "http_auth_password"
	fieldHeaders           = "headers"
)

func (s *Store) scanWebhook(row pgx.Row) (*Webhook, error) {
	wh := &Webhook{}
	var options, headers string
	var timeoutMS int64
	var pd pipedriveColumns
	err := row.Scan(&wh.ID, &wh.URL, &wh.Events, &wh.InsecureSSL, &wh.Signature, &options,
		&wh.HTTPAuthUser, &wh.HTTPAuthPassword, &wh.Signing, &wh.Created, &wh.Modified,
		&wh.IsDeleted, &wh.DisabledAt, &wh.Status, &wh.DisabledReason,
		&wh.Space, &wh.PreviousSignature, &wh.SignatureRotatedAt, &headers, &timeoutMS,
		&wh.Format, &pd.id, &pd.fields, &wh.Name)
	if err != nil {
		return nil, err
	}
	if err := s.open(wh, &headers); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", wh.ID, err)
	}
	if headers != "" {
		if err := json.Unmarshal([]byte(headers), &wh.Headers); err != nil {
			return nil, fmt.Errorf("webhook %s: headers: %w", wh.ID, err)
		}
	}
	wh.Timeout = time.Duration(timeoutMS) * time.Millisecond
	if wh.Pipedrive, err = pd.decode(); err != nil {
		return nil, fmt.Errorf("webhook %s: %w", wh.ID, err)
	}
	if wh.SignatureRotatedAt != nil {
		t := wh.SignatureRotatedAt.UTC()
		wh.SignatureRotatedAt = &t
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

// open opens the sealed fields of wh (and the headers text) in place.
func (s *Store) open(wh *Webhook, headers *string) error {
	var err error
	for _, f := range []struct {
		name string
		v    *string
	}{{fieldSignature, &wh.Signature}, {fieldPreviousSignature, &wh.PreviousSignature},
		{fieldPassword, &wh.HTTPAuthPassword}, {fieldHeaders, headers}} {
		if *f.v, err = s.seal.Open(f.name, *f.v); err != nil {
			return err
		}
	}
	return nil
}

// stored is a webhook's secrets as they are written: sealed when a key is configured.
type stored struct {
	signature, previous, password, headers string
	timeoutMS                              any
}

func (s *Store) storedForm(wh *Webhook) stored {
	st := stored{
		signature: s.seal.Seal(fieldSignature, wh.Signature),
		previous:  s.seal.Seal(fieldPreviousSignature, wh.PreviousSignature),
		password:  s.seal.Seal(fieldPassword, wh.HTTPAuthPassword),
	}
	if len(wh.Headers) > 0 {
		b, _ := json.Marshal(wh.Headers) // a map of strings always marshals
		st.headers = s.seal.Seal(fieldHeaders, string(b))
	}
	if wh.Timeout > 0 {
		st.timeoutMS = wh.Timeout.Milliseconds()
	}
	return st
}

// applyLockKey is the advisory lock of LockNames: "walhook:apply" folded into an int64.
const applyLockKey int64 = 0x77686b5f61706c79

// LockNames waits for, and takes until the end of the transaction, the lock that
// serialises the callers that plan changes on the named webhooks as a whole ("walhook
// apply"), so that two of them never plan on the same state. Only useful in InTx.
func (s *Store) LockNames(ctx context.Context) error {
	if _, err := s.db.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, applyLockKey); err != nil {
		return fmt.Errorf("lock webhook names: %w", err)
	}
	return nil
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
	st := s.storedForm(wh)
	row := s.db.QueryRow(ctx, `INSERT INTO walhook.webhooks
		(id, url, events, insecure_ssl, signature, options, http_auth_user, http_auth_password, signing, disabled_at,
		 status, disabled_reason, space_id, headers, timeout_ms, name)
		VALUES ($1, $2, $3, $4, nullif($5, ''), $6::json, nullif($7, ''), nullif($8, ''), $9, $10, $11, nullif($12, ''),
		 nullif($13, ''), nullif($14, ''), $15, nullif($16, ''))
		RETURNING `+webhookColumns,
		id, wh.URL, wh.Events, wh.InsecureSSL, st.signature, string(optionsOrEmpty(wh.Options)),
		wh.HTTPAuthUser, st.password, signingOrDefault(wh.Signing), wh.DisabledAt,
		statusOrDefault(wh.Status), wh.DisabledReason, wh.Space, st.headers, st.timeoutMS, wh.Name)
	out, err := s.scanWebhook(row)
	if err != nil {
		return nil, fmt.Errorf("create webhook %s: %w", id, nameTaken(err, wh.Name))
	}
	return out, nil
}

// Get returns the live webhook id.
func (s *Store) Get(ctx context.Context, id string) (*Webhook, error) {
	if !uuidx.Is(id) {
		return nil, fmt.Errorf("get webhook %q: %w", id, ErrNotFound)
	}
	wh, err := s.scanWebhook(s.db.QueryRow(ctx, `SELECT `+webhookColumns+`
		FROM walhook.webhooks WHERE id = $1 AND NOT is_deleted`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get webhook %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return wh, nil
}

// List returns one page of the live webhooks of space (with legacy, also those created
// before spaces were stored), oldest first (by Created, then ID), and the number of them in
// all.
func (s *Store) List(ctx context.Context, space string, legacy bool, offset, limit int) ([]*Webhook, int, error) {
	var total int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM walhook.webhooks WHERE NOT is_deleted
		AND (space_id = $1 OR $2 AND space_id IS NULL)`, space, legacy).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count webhooks: %w", err)
	}
	rows, err := s.db.Query(ctx, `SELECT `+webhookColumns+` FROM walhook.webhooks WHERE NOT is_deleted
		AND (space_id = $3 OR $4 AND space_id IS NULL) ORDER BY created, id OFFSET $1 LIMIT $2`, offset, limit, space, legacy)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhooks: %w", err)
	}
	whs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Webhook, error) { return s.scanWebhook(r) })
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
	whs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Webhook, error) { return s.scanWebhook(r) })
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
		wh, err := s.scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+`
			FROM walhook.webhooks WHERE id = $1 AND NOT is_deleted FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("update webhook %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("update webhook %s: %w", id, err)
		}
		oldSig := wh.Signature
		if err := apply(wh); err != nil {
			return err
		}
		if wh.Signature != oldSig {
			// A rotation: the old key stays valid for the grace period (the sender signs
			// with both meanwhile).
			wh.PreviousSignature = oldSig
			wh.SignatureRotatedAt = nil
			if oldSig != "" {
				now := time.Now().UTC()
				wh.SignatureRotatedAt = &now
			}
		}
		st := s.storedForm(wh)
		out, err = s.scanWebhook(tx.QueryRow(ctx, `UPDATE walhook.webhooks SET
			url = $2, events = $3, insecure_ssl = $4, signature = nullif($5, ''), options = $6::json,
			http_auth_user = nullif($7, ''), http_auth_password = nullif($8, ''), signing = $9,
			disabled_at = $10, status = $11, disabled_reason = nullif($12, ''),
			previous_signature = nullif($13, ''), signature_rotated_at = $14, headers = nullif($15, ''), timeout_ms = $16,
			name = nullif($17, ''), modified = greatest(now(), modified + interval '1 microsecond')
			WHERE id = $1 RETURNING `+webhookColumns,
			id, wh.URL, wh.Events, wh.InsecureSSL, st.signature, string(optionsOrEmpty(wh.Options)),
			wh.HTTPAuthUser, st.password, signingOrDefault(wh.Signing), wh.DisabledAt,
			statusOrDefault(wh.Status), wh.DisabledReason, st.previous, wh.SignatureRotatedAt, st.headers, st.timeoutMS, wh.Name))
		if err != nil {
			return fmt.Errorf("update webhook %s: %w", id, nameTaken(err, wh.Name))
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

// nameTaken turns the violation of migration 0009's unique index into a
// *ValidationError naming the field name and wrapping ErrNameTaken; other errors pass.
func nameTaken(err error, name string) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "webhooks_name_key" {
		return &ValidationError{Field: "name", Reason: fmt.Sprintf("%s is the name of another live webhook of this space", shown(name)), err: ErrNameTaken}
	}
	return err
}

func statusOrDefault(s string) string {
	if s == "" {
		return StatusActive
	}
	return s
}

func optionsOrEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || jsonx.Kind(raw) == "null" {
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
