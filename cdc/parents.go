package cdc

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/walhook/walhook/event"
	"github.com/walhook/walhook/mapping"
)

// parentResolver finds which entity a parent row is, for polymorphic links whose type names
// a table shared by several entities (res_model = 'crm.lead' → Lead or Opportunity).
type parentResolver interface {
	// entityOf returns the name of the entity of t whose discriminator the row keyed key
	// satisfies, and false when there is no such row (or it is soft-deleted).
	entityOf(t mapping.Table, key string) (string, bool, error)
}

// rowResolver answers entityOf with one indexed query per link row on a regular (not
// replication) connection of its own, opened at first use and closed with the session. The
// reader's goroutine is its only user.
type rowResolver struct {
	ctx     context.Context
	connStr string
	m       *mapping.Mapping
	conn    *pgconn.PgConn
	sql     map[mapping.Table]string
}

func newRowResolver(ctx context.Context, connStr string, m *mapping.Mapping) *rowResolver {
	return &rowResolver{ctx: ctx, connStr: connStr, m: m, sql: map[mapping.Table]string{}}
}

func (r *rowResolver) close() {
	if r.conn != nil {
		r.conn.Close(context.WithoutCancel(r.ctx))
		r.conn = nil
	}
}

func (r *rowResolver) entityOf(t mapping.Table, key string) (string, bool, error) {
	if r.conn == nil {
		cfg, err := pgconn.ParseConfig(r.connStr)
		if err != nil {
			return "", false, fmt.Errorf("parse connection string to resolve link parents: %w", err)
		}
		event.NameSession(cfg.RuntimeParams, event.ApplicationName)
		conn, err := pgconn.ConnectConfig(r.ctx, cfg)
		if err != nil {
			return "", false, fmt.Errorf("connect to resolve link parents: %w", err)
		}
		r.conn = conn
	}
	sql, err := r.query(t)
	if err != nil {
		return "", false, err
	}
	res := r.conn.ExecParams(r.ctx, sql, [][]byte{[]byte(key)}, nil, nil, nil).Read()
	if res.Err != nil {
		return "", false, fmt.Errorf("resolve link parent %s %s: %w", t, key, res.Err)
	}
	if len(res.Rows) == 0 || res.Rows[0][0] == nil {
		return "", false, nil
	}
	return string(res.Rows[0][0]), true, nil
}

// query builds, once per table, the SELECT that names the entity of a row by key.
func (r *rowResolver) query(t mapping.Table) (string, error) {
	if s, ok := r.sql[t]; ok {
		return s, nil
	}
	es := r.m.EntitiesFor(t)
	if len(es) == 0 {
		return "", fmt.Errorf("resolve link parent: table %s is not mapped", t)
	}
	name := pgx.Identifier{t.Schema, t.Name}.Sanitize()
	res := r.conn.ExecParams(r.ctx, `SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = $1::regclass AND a.attname = $2`, [][]byte{[]byte(name), []byte(es[0].Key)}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) == 0 {
		return "", fmt.Errorf("resolve link parent: type of %s.%s: %v", t, es[0].Key, res.Err)
	}
	var b strings.Builder
	b.WriteString("SELECT CASE")
	for _, e := range es {
		if !e.Events {
			continue
		}
		fmt.Fprintf(&b, " WHEN %s AND NOT %s THEN '%s'", e.Discriminator.SQL("", e.Column), softSQL(e), e.Name)
	}
	fmt.Fprintf(&b, " END FROM %s WHERE %s = $1::%s", name, pgx.Identifier{es[0].Key}.Sanitize(), string(res.Rows[0][0]))
	r.sql[t] = b.String()
	return r.sql[t], nil
}

func softSQL(e *mapping.Entity) string {
	if e.SoftDelete == nil {
		return "FALSE"
	}
	return e.SoftDelete.SQL("", e.Column)
}
