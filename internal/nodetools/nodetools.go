// Package nodetools finds the pinned Node tools of tools/openapi for tests (linters, client
// generators, the TypeScript compiler). scripts/test.sh installs them with npm ci.
package nodetools

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the absolute path of the Node project dir (relative to the test's package
// directory) after checking that node and the named binaries of its node_modules are
// there. When they are not, the test fails under CI=true and is skipped, saying how to
// install them, otherwise.
func Dir(tb testing.TB, dir string, bins ...string) string {
	tb.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	for _, b := range bins {
		if _, err := os.Stat(filepath.Join(abs, "node_modules", ".bin", b)); err != nil {
			missing = append(missing, "tools/openapi/node_modules/.bin/"+b)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("missing %s: run scripts/test.sh, or install node and run npm ci in tools/openapi", strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return abs
}
