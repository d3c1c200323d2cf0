package backfill

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

func quoted(t mapping.Table) string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// emit runs one window: the low watermark, then, in one transaction of the CRM database,
// the chunk's rows read and emitted as the chunk message (the high watermark). It reads
// the rows of e in table t after key after (nil: from the first), or, with keys, those rows.
// It returns how many rows it read and the last one's key values.
func (s *Service) emit(ctx context.Context, id string, st *state, e *mapping.Entity, t mapping.Table, after []string, keys [][]string) (int, []string, error) {
	conn, err := s.cfg.CRM.Acquire(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("backfill %s: acquire a CRM connection: %w", id, err)
	}
	defer conn.Release()
	if !event.SessionMatches(conn.Conn().PgConn().ParameterStatus) {
		if _, err := conn.Exec(ctx, event.SessionSQL()); err != nil {
			return 0, nil, fmt.Errorf("backfill %s: set session parameters: %w", id, err)
		}
	}
	keyCols := e.Keys
	if len(keyCols) == 0 {
		keyCols = []string{e.Key}
	}
	types, err := s.keyTypes(ctx, conn, t, keyCols)
	if err != nil {
		return 0, nil, err
	}
	window := st.nextWindow
	low := appendMark(kindLow, mark{Backfill: id, Window: window, Entity: e.Name})
	if _, err := conn.Exec(ctx, `SELECT pg_logical_emit_message(true, $1, $2::bytea)`, event.BackfillPrefix, low); err != nil {
		return 0, nil, fmt.Errorf("backfill %s: emit low watermark: %w", id, err)
	}
	sql, args := selectChunk(e, t, keyCols, types, after, keys, s.cfg.ChunkRows)
	var n int
	var last []string
	// Repeatable read: the rows are read in the snapshot whose in-progress transactions
	// the chunk names (Xip). A transaction can commit before the low watermark in the WAL
	// and still be invisible to a snapshot taken after it (it waits, committed, for a
	// synchronous standby, say): the reader leaves the chunk's rows out when one did.
	err = pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
		h := &header{Backfill: id, Webhook: st.webhook, Window: window, Entity: e.Name, Table: t.String(),
			Keys: keyCols, Reread: keys != nil, Filter: st.filter}
		xip, _ := tx.Query(ctx, `SELECT (x::text::bigint % 4294967296)::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x`)
		xids, err := pgx.CollectRows(xip, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("read the snapshot: %w", err)
		}
		for _, x := range xids {
			h.Xip = append(h.Xip, uint32(x))
		}
		rows, err := readChunk(ctx, tx, e, sql, args, h)
		if err != nil {
			return fmt.Errorf("read %s rows of %s: %w", e.Name, t, err)
		}
		n = len(rows)
		if n > 0 {
			last = make([]string, len(keyCols))
			for i, k := range rows[n-1].keys {
				last[i] = string(k)
			}
		}
		msg, err := appendChunk(h, rows)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_logical_emit_message(true, $1, $2::bytea)`, event.BackfillPrefix, msg); err != nil {
			return fmt.Errorf("emit chunk: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("backfill %s window %d: %w", id, window, err)
	}
	s.met.chunks.Inc()
	return n, last, nil
}

// readChunk runs the chunk's query (text results: values as the WAL carries them) and
// fills h's fields from its columns.
func readChunk(ctx context.Context, tx pgx.Tx, e *mapping.Entity, sql string, args []any, h *header) ([]row, error) {
	res, err := tx.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	fds := res.FieldDescriptions()
	keyAt := make([]int, len(h.Keys))
	var fieldAt []int
	for i, fd := range fds[1:] {
		for j, k := range h.Keys {
			if fd.Name == k {
				keyAt[j] = i + 1
			}
		}
		if name, ok := e.FieldName(fd.Name); ok {
			h.Fields = append(h.Fields, name)
			h.OIDs = append(h.OIDs, fd.DataTypeOID)
			fieldAt = append(fieldAt, i+1)
		}
	}
	var rows []row
	for res.Next() {
		raw := res.RawValues()
		xmin, err := strconv.ParseUint(string(raw[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("xmin %q: %w", raw[0], err)
		}
		// raw points into the connection's buffer: copy what the row keeps.
		r := row{xmin: xmin, keys: make([][]byte, len(keyAt)), fields: make([][]byte, len(fieldAt))}
		for j, i := range keyAt {
			r.keys[j] = bytes.Clone(raw[i])
		}
		for j, i := range fieldAt {
			r.fields[j] = bytes.Clone(raw[i])
		}
		rows = append(rows, r)
	}
	return rows, res.Err()
}

// selectChunk builds the chunk's query: the next limit rows after the key values after, in
// key order, or the rows with the given keys; the entity's own live rows only. The first
// column is the row's xmin.
func selectChunk(e *mapping.Entity, t mapping.Table, keyCols, types []string, after []string, keys [][]string, limit int) (string, []any) {
	var b strings.Builder
	var args []any
	b.WriteString(`SELECT t.xmin::text AS "walhook xmin", t.* FROM `)
	if keys != nil {
		b.WriteString("unnest(")
		for j := range keyCols {
			if j > 0 {
				b.WriteString(", ")
			}
			col := make([]string, len(keys))
			for i, k := range keys {
				col[i] = k[j]
			}
			args = append(args, col)
			fmt.Fprintf(&b, "$%d::text[]", len(args))
		}
		b.WriteString(") AS k(")
		for j := range keyCols {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "k%d", j)
		}
		b.WriteString(") JOIN ")
		b.WriteString(quoted(t))
		b.WriteString(" AS t ON ")
		for j, k := range keyCols {
			if j > 0 {
				b.WriteString(" AND ")
			}
			fmt.Fprintf(&b, "t.%s = k.k%d::%s", pgx.Identifier{k}.Sanitize(), j, types[j])
		}
		b.WriteString(" WHERE ")
		b.WriteString(e.LiveRowsSQL("t"))
	} else {
		b.WriteString(quoted(t))
		b.WriteString(" AS t WHERE ")
		b.WriteString(e.LiveRowsSQL("t"))
		if after != nil {
			b.WriteString(" AND (")
			for j, k := range keyCols {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString("t." + pgx.Identifier{k}.Sanitize())
			}
			b.WriteString(") > (")
			for j := range keyCols {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, after[j])
				fmt.Fprintf(&b, "$%d::text::%s", len(args), types[j])
			}
			b.WriteString(")")
		}
	}
	b.WriteString(" ORDER BY ")
	for j, k := range keyCols {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString("t." + pgx.Identifier{k}.Sanitize())
	}
	if keys == nil {
		fmt.Fprintf(&b, " LIMIT %d", limit)
	}
	return b.String(), args
}

// keyTypes returns the key columns' types, schema-qualified (pg_catalog.int8), read once
// per table.
func (s *Service) keyTypes(ctx context.Context, conn *pgxpool.Conn, t mapping.Table, keyCols []string) ([]string, error) {
	s.mu.Lock()
	cached := s.types[t.String()]
	s.mu.Unlock()
	if cached == nil {
		rows, _ := conn.Query(ctx, `SELECT a.attname::text, quote_ident(n.nspname) || '.' || quote_ident(ty.typname)
			FROM pg_catalog.pg_attribute a
			JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
			JOIN pg_catalog.pg_namespace n ON n.oid = ty.typnamespace
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, quoted(t))
		cached = map[string]string{}
		var col, typ string
		_, err := pgx.ForEachRow(rows, []any{&col, &typ}, func() error {
			cached[col] = typ
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the key types of %s: %w", t, err)
		}
		s.mu.Lock()
		s.types[t.String()] = cached
		s.mu.Unlock()
	}
	types := make([]string, len(keyCols))
	for i, k := range keyCols {
		if types[i] = cached[k]; types[i] == "" {
			return nil, fmt.Errorf("%w: table %s has no key column %s", errPermanent, t, k)
		}
	}
	return types, nil
}
