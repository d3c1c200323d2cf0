package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDatabaseIsLogicalAndCloned(t *testing.T) {
	dsn := pgtest.NewDatabase(t, "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (42);")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var level string
	var id int
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), (SELECT id FROM seeded)").Scan(&level, &id); err != nil {
		t.Fatal(err)
	}
	if level != "logical" || id != 42 {
		t.Fatalf("wal_level=%q seeded id=%d, want logical and 42", level, id)
	}
}
