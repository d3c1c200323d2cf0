package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/walhook/walhook/internal/promqlnames"
)

// The alerting rules in dashboards/alerts.yml are checked like the dashboard: promtool
// accepts them, their expressions name only metrics walhook exports, and every rule has a
// severity, a summary and a runbook that exists in README.md.

var (
	alertRulesPath     = filepath.Join(repoRoot, "dashboards", "alerts.yml")
	alertRulesTestPath = filepath.Join(repoRoot, "dashboards", "alerts_test.yml")
)

// runbookPrefix is where every runbook_url points: a section of the README on GitHub.
const runbookPrefix = "https://github.com/walhook/walhook/blob/main/README.md#"

// prometheusSeries are series Prometheus makes itself, which rules may use besides
// walhook's: up is the only way to see that a target is not scraped at all.
var prometheusSeries = map[string]bool{"up": true}

var severities = []string{"critical", "warning", "info"}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// checkAlertRules returns what is wrong with a rules file, given the README's anchors.
func (e *exported) checkAlertRules(raw []byte, anchors map[string]bool) (problems []string) {
	var f ruleFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		return []string{err.Error()}
	}
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			where := fmt.Sprintf("group %q alert %q", g.Name, r.Alert)
			if r.Alert == "" {
				problems = append(problems, fmt.Sprintf("group %q: rule %d is not an alert (record %q)", g.Name, n, r.Record))
			}
			names, err := promqlnames.Names(r.Expr)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", where, err))
			}
			if err == nil && len(names) == 0 {
				problems = append(problems, fmt.Sprintf("%s: %q selects no metric", where, r.Expr))
			}
			for _, name := range names {
				if _, ok := e.family(name); !ok && !prometheusSeries[name] {
					problems = append(problems, fmt.Sprintf("%s: %s is not a metric walhook exports", where, name))
				}
			}
			if !slices.Contains(severities, r.Labels["severity"]) {
				problems = append(problems, fmt.Sprintf("%s: severity %q, want one of %v", where, r.Labels["severity"], severities))
			}
			if strings.TrimSpace(r.Annotations["summary"]) == "" {
				problems = append(problems, where+": no summary annotation")
			}
			url := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(url, runbookPrefix)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: runbook_url %q does not start with %s", where, url, runbookPrefix))
			case !anchors[anchor]:
				problems = append(problems, fmt.Sprintf("%s: runbook_url %q: README.md has no section #%s", where, url, anchor))
			}
		}
	}
	if n == 0 {
		problems = append(problems, "no rules")
	}
	return problems
}

// markdownAnchors returns the anchors GitHub gives a Markdown file's headings: lower case,
// punctuation other than - and _ removed, spaces turned into -, and -1, -2 … appended
// to repeats. Headings inside fenced code blocks do not count.
func markdownAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if fenced || !strings.HasPrefix(line, "#") || !ok {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(text)) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if k := seen[a]; k > 0 {
			anchors[fmt.Sprintf("%s-%d", a, k)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	return anchors
}

// promtool returns the path of Prometheus's promtool; scripts/test.sh installs it.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not on PATH: install Prometheus's tools (Debian: apt-get install prometheus; scripts/test.sh does it)")
	}
	return path
}

func TestAlertRulesUseOnlyExportedMetrics(t *testing.T) {
	e := walhookMetrics(t)
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(readme))

	t.Run("anchors", func(t *testing.T) {
		got := markdownAnchors("# walhook\n## Alerts and runbooks\n```\n# not a heading\n```\n### `walhook_x`: a (b), c.\n## Setup\n## Setup\n")
		want := []string{"walhook", "alerts-and-runbooks", "walhook_x-a-b-c", "setup", "setup-1"}
		for _, a := range want {
			if !got[a] {
				t.Errorf("anchor %q missing from %v", a, got)
			}
		}
		if len(got) != len(want) {
			t.Errorf("anchors %v, want %v", got, want)
		}
	})

	t.Run("seeded mistakes", func(t *testing.T) {
		raw := `groups:
  - name: broken
    rules:
      - alert: UnknownMetric
        expr: rate(walhook_dead_letter_total[5m]) > 0
        labels: {severity: warning}
        annotations: {summary: s, runbook_url: "` + runbookPrefix + `walhookdeadletters"}
      - alert: NoSeverityNoSummary
        expr: walhook_replication_lag_bytes > 1e9
        annotations: {runbook_url: "` + runbookPrefix + `walhookdown"}
      - alert: BadRunbooks
        expr: up == 0
        labels: {severity: page}
        annotations: {summary: s, runbook_url: "` + runbookPrefix + `no-such-section"}
      - alert: ElsewhereRunbook
        expr: walhook_reader_state > 0
        labels: {severity: critical}
        annotations: {summary: s, runbook_url: "https://example.com/runbook"}
`
		problems := e.checkAlertRules([]byte(raw), anchors)
		for _, want := range []string{
			`alert "UnknownMetric": walhook_dead_letter_total is not a metric walhook exports`,
			`alert "NoSeverityNoSummary": severity ""`,
			`alert "NoSeverityNoSummary": no summary annotation`,
			`alert "BadRunbooks": severity "page"`,
			`alert "BadRunbooks": runbook_url "` + runbookPrefix + `no-such-section": README.md has no section`,
			`alert "ElsewhereRunbook": runbook_url "https://example.com/runbook" does not start with`,
		} {
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
				t.Errorf("problem %q not reported; got:\n%s", want, strings.Join(problems, "\n"))
			}
		}
		if len(problems) != 6 {
			t.Errorf("%d problems, want 6:\n%s", len(problems), strings.Join(problems, "\n"))
		}
		// promtool rejects what does not parse as PromQL.
		bad := filepath.Join(t.TempDir(), "bad.yml")
		if err := os.WriteFile(bad, []byte(strings.Replace(raw, "up == 0", "up == ", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool(t), "check", "rules", bad).CombinedOutput(); err == nil {
			t.Errorf("promtool check rules accepted a broken expression:\n%s", out)
		}
	})

	for _, args := range [][]string{
		{"check", "rules", alertRulesPath},
		// Unit tests: each alert fires on its symptom, with its labels and annotations.
		{"test", "rules", alertRulesTestPath},
		// The config's rule_files must find the rules next to it, as in the container.
		{"check", "config", filepath.Join(repoRoot, "dashboards", "prometheus.yml")},
	} {
		if out, err := exec.Command(promtool(t), args...).CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	raw, err := os.ReadFile(alertRulesPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.checkAlertRules(raw, anchors) {
		t.Errorf("%s: %s", alertRulesPath, p)
	}
	// Every alert has a unit test in which it fires.
	var rules ruleFile
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	rawTests, err := os.ReadFile(alertRulesTestPath)
	if err != nil {
		t.Fatal(err)
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(rawTests, &tests); err != nil {
		t.Fatal(err)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("%s: no test in which alert %s fires", alertRulesTestPath, r.Alert)
			}
		}
	}
}
