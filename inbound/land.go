package inbound

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/event"
)

// landing is one call to make durable.
type landing struct {
	webhookUUID string
	messageID   string // the webhook-id header; "" when absent
	callID      string
	key         string
	call        []byte
	files       []callFile
	skipKey     string // the Webhook-Skip-Key header; "" when absent
	receivedAt  time.Time
}

// land makes a call durable in one transaction with synchronous_commit on: its
// idempotency row, its files, and its logical decoding message (with a skip key message
// before it when the call names one). It returns the call's id: the first call's when
// messageID repeats one already landed (dup), and then nothing is written. It is one
// BEGIN, one batch and one COMMIT: three round trips.
func (s *Service) land(ctx context.Context, l *landing) (callID string, dup bool, err error) {
	if s.cfg.CRM != nil && s.cfg.CRM != s.cfg.DB {
		return s.landApart(ctx, l)
	}
	tx, err := s.cfg.DB.Begin(ctx)
	if err != nil {
		return "", false, fmt.Errorf("land call %s: %w", l.callID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	b.Queue(`SET LOCAL synchronous_commit = on`)
	if l.messageID != "" {
		b.Queue(`INSERT INTO walhook.inbound_calls (webhook_uuid, message_id, call_id, received_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (webhook_uuid, message_id) DO NOTHING`, l.webhookUUID, l.messageID, l.callID, l.receivedAt)
	}
	for i, f := range l.files {
		b.Queue(`INSERT INTO walhook.inbound_files (call_id, idx, webhook_uuid, field, filename, content_type, size, sha256, content, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			l.callID, i, l.webhookUUID, f.field, f.filename, f.contentType, len(f.content), f.sha256, f.content, l.receivedAt)
	}
	if l.skipKey != "" {
		b.Queue(`SELECT pg_catalog.pg_logical_emit_message(true, $1::text, $2::text)`, event.SkipKeyPrefix, l.skipKey)
	}
	b.Queue(`SELECT pg_catalog.pg_logical_emit_message(true, $1::text, $2::bytea)`, event.InboundPrefix,
		event.AppendInboundMessage(nil, l.callID, l.key, l.call))
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil { // SET LOCAL
		br.Close()
		return "", false, fmt.Errorf("land call %s: %w", l.callID, err)
	}
	if l.messageID != "" {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return "", false, fmt.Errorf("land call %s: record webhook-id: %w", l.callID, err)
		}
		dup = tag.RowsAffected() == 0
	}
	if err := br.Close(); err != nil {
		return "", false, fmt.Errorf("land call %s: %w", l.callID, err)
	}
	if dup {
		// The first call with this webhook-id landed: this one raises nothing.
		if err := tx.Rollback(ctx); err != nil {
			return "", false, fmt.Errorf("land call %s: %w", l.callID, err)
		}
		err := s.cfg.DB.QueryRow(ctx, `SELECT call_id::text FROM walhook.inbound_calls WHERE webhook_uuid = $1 AND message_id = $2`,
			l.webhookUUID, l.messageID).Scan(&callID)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", false, fmt.Errorf("land call %s: webhook-id pruned meanwhile; retry", l.callID)
		}
		if err != nil {
			return "", false, fmt.Errorf("land call %s: read the first call of webhook-id: %w", l.callID, err)
		}
		return callID, true, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return "", false, fmt.Errorf("land call %s: commit: %w", l.callID, err)
	}
	return l.callID, false, nil
}

// landApart lands a call when walhook's tables live in a separate state database: no
// transaction spans both, so the rows go first and the message after, and nothing is lost
// between them. One transaction on the state database (synchronous commit) writes the
// files and the webhook-id row marked not landed; a repeated webhook-id whose row is landed
// is a duplicate, one not landed (a crash came between) is landed again under the new
// call. Then the message is emitted on the CRM database (synchronous commit), and the row
// marked landed. A crash after the message but before the mark makes a retry with that
// webhook-id raise the call twice (two call ids): at least once, never lost.
func (s *Service) landApart(ctx context.Context, l *landing) (callID string, dup bool, err error) {
	err = pgx.BeginFunc(ctx, s.cfg.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
			return err
		}
		if l.messageID != "" {
			var landed bool
			err := tx.QueryRow(ctx, `SELECT call_id::text, landed FROM walhook.inbound_calls WHERE webhook_uuid = $1 AND message_id = $2 FOR UPDATE`,
				l.webhookUUID, l.messageID).Scan(&callID, &landed)
			switch {
			case err == nil && landed:
				dup = true
				return nil
			case err == nil:
				if _, err := tx.Exec(ctx, `UPDATE walhook.inbound_calls SET call_id = $3, received_at = $4 WHERE webhook_uuid = $1 AND message_id = $2`,
					l.webhookUUID, l.messageID, l.callID, l.receivedAt); err != nil {
					return err
				}
			case errors.Is(err, pgx.ErrNoRows):
				tag, err := tx.Exec(ctx, `INSERT INTO walhook.inbound_calls (webhook_uuid, message_id, call_id, received_at, landed)
					VALUES ($1, $2, $3, $4, false) ON CONFLICT (webhook_uuid, message_id) DO NOTHING`, l.webhookUUID, l.messageID, l.callID, l.receivedAt)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 0 {
					return fmt.Errorf("webhook-id %q is being landed by another call; retry", l.messageID)
				}
			default:
				return err
			}
		}
		for i, f := range l.files {
			if _, err := tx.Exec(ctx, `INSERT INTO walhook.inbound_files (call_id, idx, webhook_uuid, field, filename, content_type, size, sha256, content, received_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				l.callID, i, l.webhookUUID, f.field, f.filename, f.contentType, len(f.content), f.sha256, f.content, l.receivedAt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("land call %s: record it in the state database: %w", l.callID, err)
	}
	if dup {
		return callID, true, nil
	}
	err = pgx.BeginFunc(ctx, s.cfg.CRM, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`SET LOCAL synchronous_commit = on`)
		if l.skipKey != "" {
			b.Queue(`SELECT pg_catalog.pg_logical_emit_message(true, $1::text, $2::text)`, event.SkipKeyPrefix, l.skipKey)
		}
		b.Queue(`SELECT pg_catalog.pg_logical_emit_message(true, $1::text, $2::bytea)`, event.InboundPrefix,
			event.AppendInboundMessage(nil, l.callID, l.key, l.call))
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return "", false, fmt.Errorf("land call %s: emit it in the CRM database: %w", l.callID, err)
	}
	if l.messageID != "" {
		if _, err := s.cfg.DB.Exec(ctx, `UPDATE walhook.inbound_calls SET landed = true WHERE webhook_uuid = $1 AND message_id = $2 AND call_id = $3`,
			l.webhookUUID, l.messageID, l.callID); err != nil {
			// The call is landed and will be delivered; only a retry with its webhook-id
			// would raise it again.
			s.log.Warn("mark inbound call landed", "call_id", l.callID, "err", err)
		}
	}
	return l.callID, false, nil
}
