// Package crmtest gives integration tests a database holding the sample CRM with walhook
// set up on it (mapping validated, migrations, publication, replica identities and a slot
// named for the test), on the package's pgtest cluster.
package crmtest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/walhook/walhook/internal/pgtest"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/schema"
	"github.com/walhook/walhook/schema/sample"
)

// Publication is the publication every CRM database uses.
const Publication = schema.DefaultName

var seq atomic.Int64

// CRM is one test's database.
type CRM struct {
	DSN  string
	Slot string
	// Mapping is the sample mapping, validated against this database (with its relations
	// derived), owned by the test.
	Mapping *mapping.Mapping
	// Conn is a connection for the test's own statements, closed at cleanup.
	Conn *pgx.Conn
}

// New creates the database and sets walhook up on it. The slot exists from then on, so
// it sees every later change.
func New(tb testing.TB) *CRM {
	tb.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(tb, sample.CRMSQL)
	m, err := mapping.Load("")
	if err != nil {
		tb.Fatalf("crmtest: load mapping: %v", err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("crmtest: connect: %v", err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	if err := m.Validate(ctx, conn); err != nil {
		tb.Fatalf("crmtest: validate mapping: %v", err)
	}
	c := &CRM{DSN: dsn, Slot: fmt.Sprintf("slot_%d", seq.Add(1)), Mapping: m, Conn: conn}
	if err := schema.Setup(ctx, conn, m, schema.Options{Slot: c.Slot, Publication: Publication}, nil); err != nil {
		tb.Fatalf("crmtest: setup: %v", err)
	}
	return c
}

// Pool opens a pool on the database, closed at cleanup; configure, when set, adjusts its
// configuration first (a tracer, the CRM session settings).
func (c *CRM) Pool(tb testing.TB, configure func(*pgxpool.Config)) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(c.DSN)
	if err != nil {
		tb.Fatalf("crmtest: parse dsn: %v", err)
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("crmtest: pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Exec runs statements in one transaction on the test's connection.
func (c *CRM) Exec(tb testing.TB, sql string) {
	tb.Helper()
	if _, err := c.Conn.Exec(context.Background(), "BEGIN;"+sql+";COMMIT"); err != nil {
		tb.Fatalf("crmtest: exec %q: %v", sql, err)
	}
}

// StateDSN creates an empty database holding walhook's own schema only (the migrations:
// no CRM tables, publication or slot), for tests of walhook's state, and returns its DSN.
func StateDSN(tb testing.TB) string {
	tb.Helper()
	dsn := pgtest.NewDatabase(tb, "")
	m, err := mapping.Load("")
	if err != nil {
		tb.Fatalf("crmtest: load mapping: %v", err)
	}
	steps, err := schema.Plan(m, schema.Options{})
	if err != nil {
		tb.Fatalf("crmtest: plan: %v", err)
	}
	for _, s := range steps {
		if strings.HasPrefix(s.Name, "migration ") {
			pgtest.Exec(tb, dsn, s.SQL)
		}
	}
	return dsn
}
