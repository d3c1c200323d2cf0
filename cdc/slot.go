package cdc

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrSlotLost is wrapped by the error of a session that found its slot invalidated by the
// server (pg_replication_slots.wal_status = 'lost', usually because it fell more than
// max_slot_wal_keep_size behind). The changes it had not confirmed are gone from the WAL;
// only recreating the slot ("walhook setup --recreate-lost-slot") lets the reader go on.
var ErrSlotLost = errors.New("replication slot is lost")

// slotInfo is what a session reads of its slot before it starts streaming.
type slotInfo struct {
	confirmed pglogrepl.LSN // confirmed_flush_lsn; 0 when NULL
	walStatus string        // wal_status: reserved, extended, unreserved or lost
	serverEnd pglogrepl.LSN // pg_current_wal_lsn() at the time of the read
}

// readSlot reads the slot's row over the replication connection, which accepts simple
// SQL queries in database replication mode. A missing slot is a permanent error naming
// the fix.
func readSlot(ctx context.Context, conn *pgconn.PgConn, slot string) (slotInfo, error) {
	sql := `SELECT coalesce(confirmed_flush_lsn::text, ''), coalesce(wal_status, ''), pg_catalog.pg_current_wal_lsn()::text
FROM pg_catalog.pg_replication_slots WHERE slot_name = ` + quoteLiteral(slot)
	res, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return slotInfo{}, fmt.Errorf("read replication slot %q: %w", slot, err)
	}
	if len(res) != 1 || len(res[0].Rows) == 0 {
		return slotInfo{}, fmt.Errorf("%w: replication slot %q does not exist; run \"walhook setup\"", errNoSlot, slot)
	}
	row := res[0].Rows[0]
	if len(row) != 3 {
		return slotInfo{}, fmt.Errorf("read replication slot %q: %d columns, want 3", slot, len(row))
	}
	var s slotInfo
	s.walStatus = string(row[1])
	if c := string(row[0]); c != "" {
		if s.confirmed, err = pglogrepl.ParseLSN(c); err != nil {
			return slotInfo{}, fmt.Errorf("read replication slot %q: confirmed_flush_lsn %q: %w", slot, c, err)
		}
	}
	if s.serverEnd, err = pglogrepl.ParseLSN(string(row[2])); err != nil {
		return slotInfo{}, fmt.Errorf("read replication slot %q: pg_current_wal_lsn %q: %w", slot, row[2], err)
	}
	return s, nil
}

// errNoSlot marks a missing slot: retried, loudly, since "walhook setup" creates it while
// walhook runs (after a restored or replaced database).
var errNoSlot = errors.New("no replication slot")

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// lostError describes a lost slot: what happened, what is gone and the fix.
func lostError(slot string, s slotInfo) error {
	return fmt.Errorf("%w: the server invalidated replication slot %q (wal_status lost): it fell more than "+
		"max_slot_wal_keep_size behind, and the changes after its confirmed position %s are gone from the WAL "+
		"(%d bytes so far); to fix: run \"walhook setup --recreate-lost-slot\" (changes committed since %s are not "+
		"delivered; backfill the affected webhooks to resync) and raise max_slot_wal_keep_size",
		ErrSlotLost, slot, s.confirmed, lagOf(s.serverEnd, s.confirmed), s.confirmed)
}

// isLostAtStart reports the server's refusal to stream from an invalidated slot, for a
// slot that was lost between readSlot and START_REPLICATION.
func isLostAtStart(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55000" &&
		(strings.Contains(pgErr.Message, "can no longer get changes") || strings.Contains(pgErr.Detail, "invalidated"))
}

// isUndefinedObject reports the server's 42704 (undefined object): the slot is gone.
func isUndefinedObject(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42704"
}

func lagOf(end, confirmed pglogrepl.LSN) uint64 {
	if end > confirmed {
		return uint64(end - confirmed)
	}
	return 0
}

// origin identifies the server a position was read from: a position is only meaningful
// on the same system and timeline.
type origin struct {
	system   string
	timeline int32
}

// resumeReason says why the position this instance remembers cannot be used on the
// server it is now connected to, or "" when it can. Whatever it says, a session starts
// from the slot's own confirmed position (see session); the reason only makes a silent
// skip impossible to miss in the log.
func resumeReason(remembered pglogrepl.LSN, was, now origin, slot slotInfo) string {
	switch {
	case remembered == 0 || was.system == "":
		return ""
	case was.system != now.system:
		return fmt.Sprintf("the server's system identifier changed from %s to %s (a restored or replaced database)", was.system, now.system)
	case was.timeline != now.timeline:
		return fmt.Sprintf("the server's timeline changed from %d to %d (a failover or point-in-time recovery)", was.timeline, now.timeline)
	case remembered > slot.serverEnd:
		return fmt.Sprintf("the remembered position %s is past the server's WAL end %s (a restored or replaced database)", remembered, slot.serverEnd)
	case remembered < slot.confirmed:
		return fmt.Sprintf("the slot's confirmed position %s is past the remembered position %s (the slot was recreated or moved by someone else)", slot.confirmed, remembered)
	}
	return ""
}
