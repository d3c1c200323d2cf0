// Package schema owns walhook's footprint in the CRM database: its own schema "walhook"
// (created and upgraded by embedded, versioned migrations), the publication of exactly the
// mapped tables, REPLICA IDENTITY FULL on them, the skip-key helper walhook.skip_key, and
// the logical replication slot (pgoutput).
//
// Guarantees:
//   - Setup is idempotent. Every step checks the catalog before it acts, so a second run
//     changes nothing and logs "nothing to do" for each step. Concurrent runs are
//     serialised by an advisory lock.
//   - Setup applies the migrations, the publication and the replica identities in one
//     transaction (all or nothing). The slot is created afterwards, outside it, because
//     PostgreSQL refuses to create a logical slot in a transaction that has written.
//   - PrintSQL prints the very statements Setup runs, each guarded in SQL itself, as a
//     script with the same effect under psql or as one multi-statement simple query.
//   - Check only reads the catalog and reports every problem it finds in one error that
//     wraps ErrSetupNeeded and names the fix.
//
// Adding a migration: drop migrations/NNNN_name.sql into the package, numbered one above
// the last (versions are contiguous from 1). A file is the body of a PL/pgSQL block that
// runs when its version is not yet recorded: plain SQL statements ending in semicolons; no
// transaction control, no CONCURRENTLY, no psql meta-commands, and never the dollar-quote
// tag $walhook_migration$. Setup records the version in walhook.schema_migrations in the
// same block; do not insert it yourself. Never edit a migration once released.
package schema

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/walhook/walhook/mapping"
)

// DefaultName is the slot and publication name used when Options leaves them empty.
const DefaultName = "walhook"

// ErrSetupNeeded is wrapped by Check's error when the database is not (or no longer) set
// up for this walhook binary.
var ErrSetupNeeded = errors.New("walhook setup is missing or out of date")

// Options names the replication objects walhook uses. Empty fields mean DefaultName.
type Options struct {
	// Slot is the logical replication slot: 1 to 63 of a-z, 0-9 and _.
	Slot string
	// Publication is the publication of the mapped tables.
	Publication string
	// RecreateLostSlot lets Setup drop and recreate a slot that the server invalidated
	// (wal_status lost). Without it Setup refuses to pass over a lost slot.
	RecreateLostSlot bool
	// Target is TargetAll (default), TargetCRM or TargetState: which part of the setup
	// this database gets when walhook's state has a database of its own.
	Target string
}

// Step is one piece of setup, guarded so that it is safe to run any number of times.
type Step struct {
	// Name says what the step ensures, such as "migration 0001_init" or
	// "replica identity crm.account".
	Name string
	// SQL is one statement that does the work when it is still needed and nothing
	// otherwise: it checks the catalog itself. It has no trailing semicolon.
	SQL string

	// pending reports whether the inspected catalog calls for this step, so that Setup
	// can log "nothing to do" without running it.
	pending func(*state) bool
	// outsideTx marks the slot step, which must not run in a transaction that has
	// written.
	outsideTx bool
}

// advisoryLockKey serialises concurrent setups: "walhook" in ASCII.
const advisoryLockKey int64 = 0x77616c686f6f6b

var (
	migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)
	slotName      = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded migration file.
type migration struct {
	version int
	name    string // file name without ".sql"
	body    string
	// crm and state say where it runs when walhook's state has a database of its own
	// (Options.Target): a header line "-- target: crm, state" names them; without one a
	// migration holds walhook's state only.
	crm, state bool
}

// targetLine is a migration's optional header naming where it runs.
var targetLine = regexp.MustCompile(`(?m)^-- target: ([a-z, ]+)$`)

// Targets of a setup (Options.Target).
const (
	// TargetAll: the CRM database also holds walhook's state (the default).
	TargetAll = ""
	// TargetCRM: the CRM database when walhook's state lives elsewhere
	// (WALHOOK_STATE_DATABASE_URL): the migrations marked crm (the skip-key helper), the
	// publication, REPLICA IDENTITY FULL and the slot.
	TargetCRM = "crm"
	// TargetState: walhook's own database: the migrations marked state, nothing else.
	TargetState = "state"
)

func (m migration) runsOn(target string) bool {
	switch target {
	case TargetCRM:
		return m.crm
	case TargetState:
		return m.state
	}
	return true
}

// migrations returns the embedded migrations in version order, checking that versions
// are contiguous from 1 and that each body can be wrapped in the guard block.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		sub := migrationName.FindStringSubmatch(e.Name())
		if sub == nil {
			return nil, fmt.Errorf("migration file %q: name is not NNNN_name.sql", e.Name())
		}
		body, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		if strings.Contains(string(body), "$walhook_migration$") {
			return nil, fmt.Errorf("migration %s: uses the reserved dollar-quote tag $walhook_migration$", e.Name())
		}
		v, _ := strconv.Atoi(sub[1])
		mg := migration{version: v, name: strings.TrimSuffix(e.Name(), ".sql"), body: string(body), state: true}
		if t := targetLine.FindStringSubmatch(string(body)); t != nil {
			mg.crm, mg.state = false, false
			for _, w := range strings.Split(t[1], ",") {
				switch strings.TrimSpace(w) {
				case "crm":
					mg.crm = true
				case "state":
					mg.state = true
				default:
					return nil, fmt.Errorf("migration %s: target %q is not crm or state", e.Name(), strings.TrimSpace(w))
				}
			}
		}
		ms = append(ms, mg)
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d (versions are contiguous from 1)", m.name, m.version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("no embedded migrations")
	}
	return ms, nil
}

// withDefaults fills empty names and validates them.
func (o Options) withDefaults() (Options, error) {
	if o.Slot == "" {
		o.Slot = DefaultName
	}
	if o.Publication == "" {
		o.Publication = DefaultName
	}
	if !slotName.MatchString(o.Slot) {
		return o, fmt.Errorf("slot name %q: want 1 to 63 of a-z, 0-9 and _", o.Slot)
	}
	if len(o.Publication) > 63 || strings.ContainsRune(o.Publication, 0) {
		return o, fmt.Errorf("publication name %q: want at most 63 bytes", o.Publication)
	}
	return o, nil
}

// mappedTables returns the mapping's tables, sorted and without duplicates.
func mappedTables(m *mapping.Mapping) ([]mapping.Table, error) {
	if m == nil {
		return nil, errors.New("no mapping")
	}
	ts := slices.Clone(m.Tables())
	if len(ts) == 0 {
		return nil, errors.New("mapping has no tables")
	}
	slices.SortFunc(ts, func(a, b mapping.Table) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(ts), nil
}
