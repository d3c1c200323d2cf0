// Package pgtest gives integration tests a real PostgreSQL: one throwaway cluster per test
// binary, and one fresh database per test, cloned from a template.
//
// The cluster starts on first use (Cluster, NewDatabase), so a run of pure tests, such as
// "go test -run TestDeriveEvents ./cdc/", starts no server; Main, called from TestMain,
// stops it after the tests if it was started.
//
// There are no silent skips: when PostgreSQL cannot be started the test binary fails with
// the reason. A test's database is dropped when the test passes and kept when it fails, so
// its state can be inspected while the cluster still runs (set WALHOOK_KEEP_CLUSTER=1 to
// keep the cluster too).
package pgtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/walhook/walhook/internal/pgcluster"
)

var (
	mu        sync.Mutex // guards templates
	templates = map[string]bool{}
	seq       atomic.Int64

	clusterMu sync.Mutex // guards the fields below
	managed   bool       // Main runs, and will stop the cluster
	cluster   *pgcluster.Cluster
	startErr  error // why the cluster could not start; every later use fails with it
)

// Main runs the tests and, if one of them started the cluster, stops it before exiting.
// Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	clusterMu.Lock()
	managed = true
	clusterMu.Unlock()
	code := m.Run()
	clusterMu.Lock()
	c := cluster
	clusterMu.Unlock()
	if c == nil {
		return code
	}
	if os.Getenv("WALHOOK_KEEP_CLUSTER") != "" {
		fmt.Fprintf(os.Stderr, "pgtest: cluster kept at %s (%s)\n", c.Dir(), c.DSN("postgres"))
		return code
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop cluster: %v\n", err)
	}
	return code
}

// Cluster returns the test binary's running cluster, starting it on first use. When
// PostgreSQL cannot start, it fails the test with the reason (and so does every later
// call): there are no silent skips.
func Cluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	clusterMu.Lock()
	defer clusterMu.Unlock()
	if !managed {
		tb.Fatal("pgtest: call pgtest.Main from TestMain, which stops the cluster")
	}
	if cluster == nil && startErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		began := time.Now()
		cluster, startErr = pgcluster.Start(ctx, pgcluster.Options{})
		cancel()
		if startErr == nil {
			tb.Logf("pgtest: started PostgreSQL on port %d in %v, first used by %s", cluster.Port, time.Since(began).Round(time.Millisecond), tb.Name())
		}
	}
	if startErr != nil {
		tb.Fatalf("pgtest: cannot start PostgreSQL (run scripts/test.sh, which installs it): %v", startErr)
	}
	return cluster
}

// Exec runs sql (which may hold several statements) on the database at dsn.
func Exec(tb testing.TB, dsn, sql string, args ...any) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("pgtest: exec %.80q: %v", sql, err)
	}
}

// NewDatabase creates a fresh database for the test and returns its DSN. With a non-empty
// setupSQL the database is cloned from a template built once from that SQL, so many tests
// can share an expensive schema cheaply.
func NewDatabase(tb testing.TB, setupSQL string) string {
	tb.Helper()
	c := Cluster(tb)
	tmpl := "template1"
	if setupSQL != "" {
		tmpl = ensureTemplate(tb, c, setupSQL)
	}
	name := fmt.Sprintf("t%d_%s", seq.Add(1), sanitize(tb.Name()))
	admin := c.DSN("postgres")
	Exec(tb, admin, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl))
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("pgtest: keeping database %s for inspection", c.DSN(name))
			return
		}
		dropDatabase(tb, admin, name)
	})
	return c.DSN(name)
}

func dropDatabase(tb testing.TB, admin, name string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Logf("pgtest: drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	// Slots pin a database; drop the test's leftovers first.
	conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`, name)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		tb.Logf("pgtest: drop %s: %v", name, err)
	}
}

func ensureTemplate(tb testing.TB, c *pgcluster.Cluster, setupSQL string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	name := fmt.Sprintf("tmpl_%x", hash(setupSQL))
	if templates[name] {
		return name
	}
	Exec(tb, c.DSN("postgres"), "CREATE DATABASE "+name)
	Exec(tb, c.DSN(name), setupSQL)
	templates[name] = true
	return name
}

func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func sanitize(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}
