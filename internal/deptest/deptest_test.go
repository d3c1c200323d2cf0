// Package deptest enforces walhook's one-way data flow (DESIGN.md §9): sources (cdc, and
// the sources to come) → matcher → sender, each knowing nothing of what comes after it,
// and all of them speaking the leaf vocabulary of package event.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists, per package, imports it must not have and why: directly when direct is
// set (net/http comes indirectly with the Prometheus client everywhere), else even
// indirectly.
var forbidden = []struct {
	pkg, dep, why string
	direct        bool
}{
	{"cdc", "net/http", "the reader knows nothing of webhooks or their delivery", true},
	{"cdc", "github.com/walhook/walhook/matcher", "events flow out of cdc, never back", false},
	{"cdc", "github.com/walhook/walhook/sender", "events flow out of cdc, never back", false},
	{"mapping", "net/http", "the mapping is about tables and entities only", true},
	{"matcher", "net/http", "the matcher decides who gets what; HTTP is the sender's", true},
	{"matcher", "github.com/walhook/walhook/sender", "the matcher feeds the sender, not the reverse", false},
	{"sender", "github.com/jackc/pglogrepl", "the sender knows nothing of WAL except the acknowledgement callback (event.LSN)", false},
	// The consumers read the event vocabulary, never the replication reader: inbound
	// webhooks and backfills produce the same events. (pgproto3 reaches them through pgx's
	// connection layer, which they use for SQL, so only a direct import is refused.)
	{"matcher", "github.com/walhook/walhook/cdc", "the matcher reads package event, whatever the source", false},
	{"matcher", "github.com/jackc/pglogrepl", "the matcher reads package event, not the replication protocol", false},
	{"matcher", "github.com/jackc/pgx/v5/pgproto3", "the matcher reads package event, not the wire protocol", true},
	{"sender", "github.com/walhook/walhook/cdc", "the sender reads package event and acknowledges through a callback", false},
	{"sender", "github.com/jackc/pgx/v5/pgproto3", "the sender knows nothing of the wire protocol", true},
	{"api", "github.com/walhook/walhook/cdc", "the API manages webhooks; it knows no source", false},
	{"api", "github.com/jackc/pglogrepl", "the API manages webhooks; it knows no source", false},
	{"api", "github.com/jackc/pgx/v5/pgproto3", "the API knows nothing of the wire protocol", true},
	// Inbound webhooks are a source: they land calls in the WAL through SQL, and the reader
	// raises their events; they neither decode the stream nor deliver.
	{"inbound", "github.com/walhook/walhook/cdc", "inbound calls reach the reader through the WAL, not a call", false},
	{"inbound", "github.com/jackc/pglogrepl", "inbound lands calls with SQL; only the reader speaks replication", false},
	{"inbound", "github.com/walhook/walhook/matcher", "inbound calls are matched after the WAL, like every event", false},
	{"inbound", "github.com/walhook/walhook/sender", "inbound calls are delivered after the WAL, like every event", false},
	// The vocabulary is a leaf: every source and consumer imports it, it imports none of them.
	{"event", "github.com/walhook/walhook/mapping", "the vocabulary is a leaf below the mapping", false},
	{"event", "github.com/walhook/walhook/cdc", "the vocabulary is a leaf below every source", false},
	{"event", "github.com/jackc/pglogrepl", "LSN is walhook's own type, not the replication library's", false},
	{"event", "github.com/jackc/pgx/v5/pgconn", "the vocabulary does no I/O", false},
}

func TestOneWayFlow(t *testing.T) {
	for _, f := range forbidden {
		path := "github.com/walhook/walhook/" + f.pkg
		args := []string{"list", "-deps", path}
		if f.direct {
			args = []string{"list", "-f", `{{join .Imports "\n"}}`, path}
		}
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "cannot find") {
				t.Errorf("%s: package missing: %s", f.pkg, out)
				continue
			}
			t.Fatalf("go list %s: %v\n%s", path, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == f.dep {
				t.Errorf("%s imports %s: %s", f.pkg, f.dep, f.why)
			}
		}
	}
}
