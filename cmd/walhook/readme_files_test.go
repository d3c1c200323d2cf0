package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeFileRef matches what README.md names as a repository file or directory: a relative
// Markdown link target, or a code span starting with a top-level directory.
var readmeFileRef = regexp.MustCompile("\\]\\(([^)#:]+)[)#]|`((?:api|cdc|cmd|dashboards|docs|examples|internal|mapping|matcher|pipeline|schema|scripts|sender|tools)/[^` ]*)`")

// readmeMissingFiles returns the files README text names that are not in the repository
// at root. A Go identifier after a package path (internal/netguard.Forbidden) names the
// package's directory.
func readmeMissingFiles(readme, root string) (missing []string) {
	for _, m := range readmeFileRef.FindAllStringSubmatch(readme, -1) {
		ref := m[1] + m[2]
		if strings.HasPrefix(ref, "http") || strings.HasPrefix(ref, "/") {
			continue
		}
		ref = strings.TrimSuffix(ref, "/")
		if _, err := os.Stat(filepath.Join(root, ref)); err == nil {
			continue
		}
		if i := strings.LastIndexByte(ref, '.'); i > strings.LastIndexByte(ref, '/') {
			if st, err := os.Stat(filepath.Join(root, ref[:i])); err == nil && st.IsDir() {
				continue
			}
		}
		missing = append(missing, ref)
	}
	return missing
}

// TestReadmeNamesOnlyExistingFiles checks that every file or directory README.md names is
// in the repository.
func TestReadmeNamesOnlyExistingFiles(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range readmeMissingFiles(string(readme), repoRoot) {
		t.Errorf("README.md names %s, which is not in the repository", f)
	}
	seeded := "see [the guide](docs/nope.md) and `scripts/nope.sh`, `internal/netguard.Forbidden`, `schema/sample/`"
	if got := readmeMissingFiles(seeded, repoRoot); strings.Join(got, " ") != "docs/nope.md scripts/nope.sh" {
		t.Errorf("seeded references: missing %q, want docs/nope.md and scripts/nope.sh", got)
	}
}
