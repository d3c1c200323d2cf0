package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// loadComposeV2 loads docker-compose.yml with compose-go, the loader of Compose v2
// ("docker compose"): schema validation, interpolation, anchors and defaults included.
func loadComposeV2(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithName("walhook"), cli.WithWorkingDirectory(root))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("Compose v2 loader (compose-go): %v", err)
	}
	return p
}

// TestComposeParsesWithV1AndV2: docker-compose.yml loads with Compose v2's loader and with
// Debian's docker-compose 1.29 (the Python v1 tool, which validates without an engine).
func TestComposeParsesWithV1AndV2(t *testing.T) {
	loadComposeV2(t)
	v1, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose (Compose v1) is not on PATH: install it (Debian: apt-get install docker-compose; scripts/test.sh does it)")
	}
	cmd := exec.Command(v1, "--project-name", "walhook", "-f", "docker-compose.yml", "config", "--quiet")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix:///nonexistent") // parsing needs no engine
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("docker-compose (v1) config: %v\n%s", err, out)
	}
}

// TestComposeOperations checks what running the stack needs beyond parsing: healthchecks,
// no clash with a host PostgreSQL, the production image without the demo receiver, and
// Grafana's provisioning finding the dashboard.
func TestComposeOperations(t *testing.T) {
	p := loadComposeV2(t)
	svc := func(name string) types.ServiceConfig {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.Published == "5432" || port.Target == 5432 && port.Published != "" && port.HostIP == "" {
				t.Errorf("service %s publishes %s:%s->%d: it clashes with a PostgreSQL on the host", s.Name, port.HostIP, port.Published, port.Target)
			}
		}
	}
	for _, name := range []string{"postgres", "walhook", "prometheus", "grafana"} {
		hc := svc(name).HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	if hc := svc("walhook").HealthCheck; hc != nil && !slices.Equal(hc.Test, []string{"CMD", "/usr/local/bin/walhook", "healthcheck"}) {
		t.Errorf("walhook healthcheck %q, want walhook healthcheck (the image has no shell or curl)", hc.Test)
	}
	if dep := svc("register").DependsOn["walhook"]; dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("register depends on walhook with condition %q, want %s", dep.Condition, types.ServiceConditionHealthy)
	}

	stages := dockerfileStages(t)
	production := stages[len(stages)-1].name
	for name, target := range map[string]string{"setup": production, "walhook": production, "receiver": "receiver"} {
		if b := svc(name).Build; b == nil || b.Target != target {
			t.Errorf("service %s: build %+v, want target %q", name, b, target)
		}
	}

	// Grafana's file provider path must be a mount of the host directory holding the
	// dashboard.
	raw, err := os.ReadFile(filepath.Join(repoRoot, "dashboards/provisioning/dashboards/walhook.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(raw, &prov); err != nil || len(prov.Providers) != 1 {
		t.Fatalf("dashboard provisioning: %v, %d providers", err, len(prov.Providers))
	}
	want, err := filepath.Abs(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range svc("grafana").Volumes {
		if rest, ok := strings.CutPrefix(prov.Providers[0].Options.Path, v.Target); ok && filepath.Join(v.Source, rest, filepath.Base(want)) == want {
			found = true
		}
	}
	if !found {
		t.Errorf("grafana: provider path %s is not a mount of %s", prov.Providers[0].Options.Path, filepath.Dir(want))
	}
}

// stage is one FROM section of the Dockerfile, continuation lines joined.
type stage struct {
	name  string
	lines []string
}

var fromLine = regexp.MustCompile(`(?i)^FROM\s+\S+(?:\s+AS\s+(\S+))?$`)

func dockerfileStages(t *testing.T) []stage {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	text := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), " ")
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if m := fromLine.FindStringSubmatch(line); m != nil {
			stages = append(stages, stage{name: m[1]})
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", line)
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, line)
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no stage")
	}
	return stages
}

// TestDockerfileImages: the production image (the default, last target) holds walhook
// alone, checks itself with walhook healthcheck, carries OCI labels with the version, and
// the VERSION build argument reaches main.version; the demo receiver is its own target.
func TestDockerfileImages(t *testing.T) {
	stages := dockerfileStages(t)
	has := func(s stage, re string) bool {
		return slices.ContainsFunc(s.lines, regexp.MustCompile(re).MatchString)
	}
	prod := stages[len(stages)-1]
	if prod.name != "walhook" {
		t.Errorf("the last (default) stage is %q, want the production image \"walhook\"", prod.name)
	}
	for _, l := range prod.lines {
		if strings.Contains(l, "walhook-receiver") {
			t.Errorf("production stage: %q: the demo receiver must not be in the production image", l)
		}
	}
	for _, re := range []string{
		`^ARG VERSION\b`,
		`^LABEL .*org\.opencontainers\.image\.version="\$\{VERSION\}"`,
		`^LABEL .*org\.opencontainers\.image\.revision=`,
		`^LABEL .*org\.opencontainers\.image\.source="https://github\.com/walhook/walhook"`,
		`^LABEL .*org\.opencontainers\.image\.title=`,
		`^HEALTHCHECK .*CMD \["/usr/local/bin/walhook", "healthcheck"\]`,
		`^ENTRYPOINT \["/usr/local/bin/walhook"\]$`,
		`^USER nonroot$`,
	} {
		if !has(prod, re) {
			t.Errorf("production stage has no line matching %s", re)
		}
	}
	builds := false
	for _, s := range stages {
		if has(s, `^ARG VERSION\b`) && has(s, `go build .*-X main\.version=\$\{VERSION\}.* \./cmd/walhook$`) {
			builds = true
		}
	}
	if !builds {
		t.Error("no stage builds ./cmd/walhook with ARG VERSION and -ldflags -X main.version=${VERSION}")
	}
	i := slices.IndexFunc(stages, func(s stage) bool { return s.name == "receiver" })
	if i < 0 || !has(stages[i], `^ENTRYPOINT \["/usr/local/bin/walhook-receiver"\]$`) {
		t.Error("no \"receiver\" stage with the walhook-receiver entrypoint")
	}
}
