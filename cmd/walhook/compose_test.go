package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"gopkg.in/yaml.v3"
)

// No Docker engine runs here, so docker-compose.yml is tested statically: it parses, names
// the right images, passes only variables walhook knows, mounts files that exist, and its
// ports and scrape target agree with walhook's listen address. compose_ops_test.go parses
// it with both Compose loaders and checks healthchecks, ports, build targets and the
// Dockerfile.

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Entrypoint  []string          `yaml:"entrypoint"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		DependsOn   any               `yaml:"depends_on"`
	} `yaml:"services"`
}

const repoRoot = "../.."

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse: %v", err)
	}
	return c
}

func TestComposeServices(t *testing.T) {
	c := readCompose(t)
	want := map[string]string{"postgres": "postgres:15", "prometheus": "prom/prometheus:", "grafana": "grafana/grafana:"}
	for name, image := range want {
		if s, ok := c.Services[name]; !ok || !strings.HasPrefix(s.Image, image) {
			t.Errorf("service %s: image %q, want %s…", name, s.Image, image)
		}
	}
	pg := c.Services["postgres"]
	if !slices.Contains(pg.Command, "wal_level=logical") {
		t.Errorf("postgres command %v lacks wal_level=logical", pg.Command)
	}
	for _, name := range []string{"setup", "walhook", "receiver"} {
		if c.Services[name].Build == nil {
			t.Errorf("service %s is not built from this repository", name)
		}
	}
	if got := c.Services["setup"].Command; !slices.Equal(got, []string{"setup"}) {
		t.Errorf("setup command %v", got)
	}
	wh := c.Services["walhook"]
	if !slices.Equal(wh.Command, []string{"run"}) || !slices.Contains(wh.Ports, "8080:8080") || wh.Environment["WALHOOK_LISTEN_ADDR"] != ":8080" {
		t.Errorf("walhook service: command %v ports %v listen %q", wh.Command, wh.Ports, wh.Environment["WALHOOK_LISTEN_ADDR"])
	}
}

func TestComposeEnvironmentIsKnown(t *testing.T) {
	c := readCompose(t)
	known := configVariables()
	for name, s := range c.Services {
		for k := range s.Environment {
			if strings.HasPrefix(k, "WALHOOK_") && !slices.Contains(known, k) {
				t.Errorf("service %s sets %s, which walhook does not read", name, k)
			}
		}
	}
	if _, err := loadConfig(t.Context(), envconfig.MapLookuper(c.Services["walhook"].Environment)); err != nil {
		t.Errorf("walhook service's environment is not a valid configuration: %v", err)
	}
}

func TestComposeMountsExist(t *testing.T) {
	c := readCompose(t)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	// prometheus.yml's rule_files name alerts.yml relative to itself: mount both side by side.
	for _, v := range []string{"./dashboards/prometheus.yml:/etc/prometheus/prometheus.yml:ro", "./dashboards/alerts.yml:/etc/prometheus/alerts.yml:ro"} {
		if !slices.Contains(c.Services["prometheus"].Volumes, v) {
			t.Errorf("prometheus service does not mount %s", v)
		}
	}
	prom, err := os.ReadFile(filepath.Join(repoRoot, "dashboards/prometheus.yml"))
	if err != nil || !strings.Contains(string(prom), `"walhook:8080"`) {
		t.Errorf("prometheus.yml must scrape walhook:8080 (err %v)", err)
	}
}

// TestReadmeListsEveryVariable keeps the README's configuration table complete.
func TestReadmeListsEveryVariable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(WALHOOK_[A-Z_]+)` \\|")
	var listed []string
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		listed = append(listed, m[1])
	}
	for _, v := range configVariables() {
		if !slices.Contains(listed, v) {
			t.Errorf("README's configuration table lacks %s", v)
		}
	}
	for _, v := range listed {
		if !slices.Contains(configVariables(), v) {
			t.Errorf("README lists %s, which walhook does not read", v)
		}
	}
}
