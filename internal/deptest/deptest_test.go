// Package deptest enforces walhook's one-way data flow (DESIGN.md §9): cdc → matcher →
// sender, each knowing nothing of what comes after it.
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
	{"sender", "github.com/jackc/pglogrepl", "the sender knows nothing of WAL except the acknowledgement callback (cdc.LSN)", true},
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
