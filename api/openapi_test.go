package api

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/walhook/walhook/internal/nodetools"
)

// docProblems returns what is wrong with an OpenAPI document as a description of this
// API: it must be OpenAPI 3.1 with servers, describe exactly the registered routes (so the
// two cannot drift), have every $ref resolve, offer Basic and bearer as alternatives
// (separate security requirements, basic first: see the scheme's description), carry no
// "default" in a schema of a body or webhook (openapi-typescript then makes the property
// required), and describe both signing modes of outgoing requests.
func docProblems(raw []byte) []string {
	var doc struct {
		OpenAPI  string                                `json:"openapi"`
		Servers  []map[string]any                      `json:"servers"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		Webhooks map[string]json.RawMessage            `json:"webhooks"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return []string{"openapi.json: " + err.Error()}
	}
	var problems []string
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		problems = append(problems, fmt.Sprintf("openapi %q, want 3.1.x", doc.OpenAPI))
	}
	if len(doc.Servers) == 0 {
		problems = append(problems, "no servers")
	}
	if want := []map[string][]string{{"basic": {}}, {"bearer": {}}}; !cmp.Equal(doc.Security, want) {
		problems = append(problems, fmt.Sprintf("security %v, want %v (alternatives, basic first)", doc.Security, want))
	}
	var documented, registered []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, rt := range append(routes(), pipedriveRoutes()...) {
		registered = append(registered, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(registered)
	if diff := cmp.Diff(registered, documented); diff != "" {
		problems = append(problems, "routes (-registered +documented):\n"+diff)
	}
	for _, name := range []string{"pipelinerChunk", "standardWebhooksChunk"} {
		if doc.Webhooks[name] == nil {
			problems = append(problems, "webhooks."+name+" missing")
		}
	}
	var whole map[string]any
	json.Unmarshal(raw, &whole)
	var walk func(at string, v any, inSchema bool)
	walk = func(at string, v any, inSchema bool) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				var cur any = whole
				for _, p := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(p)]
				}
				if cur == nil {
					problems = append(problems, "dangling $ref "+ref+" at "+at)
				}
			}
			if _, ok := x["default"]; ok && inSchema {
				problems = append(problems, at+": default in a body or webhook schema (say it in the description)")
			}
			for k, y := range x {
				walk(at+"/"+k, y, inSchema || k == "schemas" || k == "schema" && strings.Contains(at, "/requestBody/"))
			}
		case []any:
			for i, y := range x {
				walk(fmt.Sprintf("%s/%d", at, i), y, inSchema)
			}
		}
	}
	walk("#", whole, false)
	return problems
}

// TestOpenAPIDocument checks the served document with docProblems, and that docProblems
// finds seeded mistakes.
func TestOpenAPIDocument(t *testing.T) {
	for _, p := range docProblems(openapiJSON) {
		t.Error(p)
	}
	seeded := map[string]func(d map[string]any){
		"undocumented route": func(d map[string]any) {
			delete(d["paths"].(map[string]any), BasePath+"/{id}/secret")
		},
		"route not served": func(d map[string]any) {
			d["paths"].(map[string]any)[BasePath+"/{id}/not-served"] = map[string]any{"post": map[string]any{}}
		},
		"dangling ref": func(d map[string]any) {
			d["components"].(map[string]any)["schemas"].(map[string]any)["Chunk"].(map[string]any)["properties"].(map[string]any)["items"] =
				map[string]any{"$ref": "#/components/schemas/Nope"}
		},
		"default": func(d map[string]any) {
			d["components"].(map[string]any)["schemas"].(map[string]any)["Options"].(map[string]any)["properties"].(map[string]any)["chunk_size"].(map[string]any)["default"] = 100
		},
		"both schemes required together": func(d map[string]any) {
			d["security"] = []any{map[string]any{"bearer": []any{}, "basic": []any{}}}
		},
		"3.0":         func(d map[string]any) { d["openapi"] = "3.0.3" },
		"no servers":  func(d map[string]any) { delete(d, "servers") },
		"no webhooks": func(d map[string]any) { delete(d, "webhooks") },
	}
	for name, mutate := range seeded {
		var d map[string]any
		if err := json.Unmarshal(openapiJSON, &d); err != nil {
			t.Fatal(err)
		}
		mutate(d)
		raw, _ := json.Marshal(d)
		if len(docProblems(raw)) == 0 {
			t.Errorf("seeded mistake %q: docProblems found nothing", name)
		}
	}
}

// openapiTools returns tools/openapi once node and the named binaries are installed (see
// nodetools.Dir).
func openapiTools(tb testing.TB, bins ...string) string {
	tb.Helper()
	return nodetools.Dir(tb, filepath.Join("..", "tools", "openapi"), bins...)
}

// lint runs redocly (recommended rules, tools/openapi/redocly.yaml) and spectral
// (spectral:oas, tools/openapi/.spectral.yaml; warnings fail), concurrently, on the
// document at path and returns their complaints; none means clean.
func lint(tools, path string) []string {
	cmds := [][]string{
		{"redocly", "lint", "--config", "redocly.yaml", "--format", "codeframe", path},
		{"spectral", "lint", "--ruleset", ".spectral.yaml", "--fail-severity", "warn", path},
	}
	problems := make([]string, len(cmds))
	var wg sync.WaitGroup
	for i, args := range cmds {
		wg.Go(func() {
			cmd := exec.Command(filepath.Join(tools, "node_modules", ".bin", args[0]), args[1:]...)
			cmd.Dir = tools
			cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				problems[i] = fmt.Sprintf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
	wg.Wait()
	return slices.DeleteFunc(problems, func(p string) bool { return p == "" })
}

// TestOpenAPILint lints api/openapi.json with redocly and spectral, and checks that they
// reject a copy with seeded mistakes: OpenAPI 3.0's nullable in a 3.1 document (redocly's
// struct rule), an empty servers list, an operation without a description.
func TestOpenAPILint(t *testing.T) {
	tools := openapiTools(t, "redocly", "spectral")
	t.Run("api/openapi.json", func(t *testing.T) {
		t.Parallel()
		for _, p := range lint(tools, filepath.Join("..", "..", "api", "openapi.json")) {
			t.Error(p)
		}
	})
	t.Run("seeded mistakes", func(t *testing.T) {
		t.Parallel()
		var d map[string]any
		if err := json.Unmarshal(openapiJSON, &d); err != nil {
			t.Fatal(err)
		}
		d["servers"] = []any{}
		del := d["paths"].(map[string]any)[BasePath+"/{id}"].(map[string]any)["delete"].(map[string]any)
		delete(del, "description")
		schema := del["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
		schema["properties"].(map[string]any)["data"] = map[string]any{"nullable": true}
		raw, _ := json.MarshalIndent(d, "", "  ")
		bad := filepath.Join(t.TempDir(), "openapi.json")
		if err := os.WriteFile(bad, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(lint(tools, bad), "\n")
		for _, want := range []string{"no-empty-servers", "`nullable` is not expected", "operation-description"} {
			if !strings.Contains(got, want) {
				t.Errorf("the linters did not report %s on a seeded mistake; they said:\n%s", want, got)
			}
		}
	})
}
