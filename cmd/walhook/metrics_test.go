package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/sethvargo/go-envconfig"

	"github.com/walhook/walhook/internal/promqlnames"
	"github.com/walhook/walhook/mapping"
	"github.com/walhook/walhook/pipeline"
)

// The metrics "walhook run" serves are pinned here: they lint clean, follow the naming
// rules (STYLE 25), and the Grafana dashboard queries only what the binary exports.

// lazyFamilies are walhook_ families whose label values are not pre-initialised, so they are
// described but absent from /metrics until first observed. Their types are pinned here
// because a family that is not gathered has no type to read. The list only shrinks: a
// family that is pre-initialised must be removed from it (the test says so).
var lazyFamilies = map[string]dto.MetricType{}

// boundedLabels are the only label names walhook_ metrics may use: each has a small,
// fixed set of values. Add a label here only if its values are bounded (never webhook ids,
// URLs, entity ids or error texts).
var boundedLabels = map[string]bool{
	"op": true, "entity": true, "state": true, "outcome": true, "status_class": true,
	"reason": true, "route": true,
	// walhook_build_info's constant labels: one value each per process.
	"version": true, "goversion": true, "revision": true,
}

// unboundedLabels are named in failures: labels that would put one series per webhook,
// endpoint or row into Prometheus.
var unboundedLabels = map[string]bool{
	"webhook_id": true, "webhook": true, "url": true, "id": true, "endpoint": true,
	"target": true, "host": true, "delivery_id": true, "entity_id": true, "error": true,
}

// exported is what walhook's /metrics offers: the registry and every family's type.
type exported struct {
	reg *prometheus.Registry
	// families maps each family name to its type, gathered or (lazyFamilies) pinned;
	// describedOnly lists the families that were described but not gathered.
	families      map[string]dto.MetricType
	describedOnly []string
	// labels maps each family to its variable and constant label names, from its descriptors.
	labels map[string][]string
}

// recordingRegisterer registers into a Registry and keeps every descriptor, so families
// whose vectors have no children yet are still known.
type recordingRegisterer struct {
	*prometheus.Registry
	descs []*prometheus.Desc
}

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	if err := r.Registry.Register(c); err != nil {
		return err
	}
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// walhookMetrics builds the registry that startService fills, without
// I/O: the same collectors and the same component constructors (none of which connects;
// the sender gets no pool and no renderer because nothing is run or sent).
func walhookMetrics(t *testing.T) *exported {
	t.Helper()
	rec := &recordingRegisterer{Registry: newRegistry()}
	cfg, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": "postgres://x@127.0.0.1/x"}))
	if err != nil {
		t.Fatal(err)
	}
	// The same wiring as startService, minus its I/O (pipeline.New does none; the sender
	// gets no pool because nothing is run or sent).
	pcfg, err := pipelineConfig(cfg, mapping.Default(), nil, slog.New(slog.DiscardHandler), rec)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := pipeline.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pipe.Close(context.Background()) })

	e := &exported{reg: rec.Registry, families: map[string]dto.MetricType{}, labels: map[string][]string{}}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		e.families[mf.GetName()] = mf.GetType()
	}
	for _, d := range rec.descs {
		name, labels, err := parseDesc(d)
		if err != nil {
			t.Fatal(err)
		}
		e.labels[name] = labels
		if _, ok := e.families[name]; ok {
			continue
		}
		if typ, ok := lazyFamilies[name]; ok {
			e.families[name] = typ
		}
		e.describedOnly = append(e.describedOnly, name)
	}
	return e
}

var (
	descName      = regexp.MustCompile(`fqName: "([^"]*)"`)
	descLabelSets = regexp.MustCompile(`(?:constLabels|variableLabels): \{([^}]*)\}`)
)

// parseDesc reads a descriptor's name and label names from its String form, the only
// access client_golang gives to them.
func parseDesc(d *prometheus.Desc) (string, []string, error) {
	s := d.String()
	m := descName.FindStringSubmatch(s)
	if m == nil || m[1] == "" {
		return "", nil, fmt.Errorf("descriptor without a name: %s", s)
	}
	var labels []string
	for _, set := range descLabelSets.FindAllStringSubmatch(s, -1) {
		for l := range strings.SplitSeq(set[1], ",") {
			l, _, _ = strings.Cut(l, "=")                            // constant label: name="value"
			l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")") // constrained label
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	return m[1], labels, nil
}

func TestMetricsLint(t *testing.T) {
	e := walhookMetrics(t)
	problems, err := testutil.GatherAndLint(e.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricNamesFollowConventions(t *testing.T) {
	e := walhookMetrics(t)
	var walhook int
	for name, typ := range e.families {
		if !strings.HasPrefix(name, "walhook_") {
			continue
		}
		walhook++
		if typ == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if typ != dto.MetricType_COUNTER && strings.HasSuffix(name, "_total") {
			t.Errorf("%s ends in _total but is a %s, not a counter", name, typ)
		}
		if (typ == dto.MetricType_HISTOGRAM || typ == dto.MetricType_SUMMARY) &&
			!strings.HasSuffix(name, "_seconds") && !strings.HasSuffix(name, "_bytes") {
			t.Errorf("%s %s does not name its base unit (_seconds, _bytes)", typ, name)
		}
		for _, bad := range []string{"_milliseconds", "_ms", "_kilobytes", "_megabytes", "_minutes", "_hours"} {
			if strings.Contains(name, bad+"_") || strings.HasSuffix(name, bad) {
				t.Errorf("%s is not in base units (%s)", name, bad)
			}
		}
		for _, l := range e.labels[name] {
			switch {
			case unboundedLabels[l]:
				t.Errorf("%s has label %q: one series per webhook, endpoint or row; labels must be bounded", name, l)
			case !boundedLabels[l]:
				t.Errorf("%s has label %q, not among the known bounded labels; if its values are bounded, add it to boundedLabels", name, l)
			}
		}
	}
	// Besides the Go and process collectors, everything registered is walhook's own.
	for name := range e.labels {
		if !strings.HasPrefix(name, "walhook_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("metric %s lacks the walhook_ prefix", name)
		}
	}
	if walhook < 20 {
		t.Errorf("only %d walhook_ families found; the registry is not the one walhook serves", walhook)
	}

	t.Run("pre-initialised", func(t *testing.T) {
		for _, name := range e.describedOnly {
			if !strings.HasPrefix(name, "walhook_") {
				continue
			}
			if _, ok := lazyFamilies[name]; !ok {
				t.Errorf("%s is absent from /metrics until first observed: pre-initialise its label values (STYLE 25)", name)
			}
		}
		for name := range lazyFamilies {
			if !slices.Contains(e.describedOnly, name) {
				if _, ok := e.labels[name]; ok {
					t.Errorf("%s is now pre-initialised: remove it from lazyFamilies", name)
				} else {
					t.Errorf("lazyFamilies names %s, which walhook no longer registers", name)
				}
			}
		}
	})
}

// dashboardPath is the Grafana dashboard docker-compose provisions.
var dashboardPath = filepath.Join(repoRoot, "dashboards", "walhook.json")

type dashboardPanel struct {
	ID      int              `json:"id"`
	Type    string           `json:"type"`
	Title   string           `json:"title"`
	Targets []map[string]any `json:"targets"`
	Panels  []dashboardPanel `json:"panels"` // a collapsed row's panels
}

type dashboard struct {
	UID           string           `json:"uid"`
	Title         string           `json:"title"`
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"` // a string, or {"query": "..."} since Grafana 10
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// dashboardQueries returns every PromQL expression of d, and what is wrong with its
// panels: panel targets (collapsed rows' panels included), query variables, and any other
// "expr" in the JSON (annotations).
func dashboardQueries(all map[string]any, d *dashboard) (qs []query, problems []string) {
	var panels func(ps []dashboardPanel)
	panels = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				panels(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				problems = append(problems, fmt.Sprintf("panel %d %q has no target", p.ID, p.Title))
			}
			for _, tg := range p.Targets {
				expr, _ := tg["expr"].(string)
				if strings.TrimSpace(expr) == "" {
					problems = append(problems, fmt.Sprintf("panel %d %q: target %v has no PromQL expr", p.ID, p.Title, tg["refId"]))
					continue
				}
				qs = append(qs, query{fmt.Sprintf("panel %d %q", p.ID, p.Title), expr})
			}
		}
	}
	panels(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		where := fmt.Sprintf("variable %q", v.Name)
		q, ok := v.Query.(string)
		if obj, isObj := v.Query.(map[string]any); isObj {
			q, ok = obj["query"].(string)
		}
		if !ok || q == "" {
			problems = append(problems, where+" has no query")
			continue
		}
		for _, s := range []string{q, v.Definition} {
			if expr := variableExpr(s); expr != "" {
				qs = append(qs, query{where, expr})
			}
		}
	}
	// Every other "expr" (annotations, panel links) is checked too; panels are done above.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					qs = append(qs, query{path, s})
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	for k, v := range all {
		if k != "panels" {
			walk(k, v)
		}
	}
	return qs, problems
}

// checkDashboard returns what is wrong with a dashboard's JSON, and the exported families
// its queries use.
func (e *exported) checkDashboard(raw []byte) (problems []string, used map[string]bool) {
	var d dashboard
	var all map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		return []string{err.Error()}, nil
	}
	if err := json.Unmarshal(raw, &all); err != nil {
		return []string{err.Error()}, nil
	}
	if d.UID == "" || d.Title == "" {
		problems = append(problems, fmt.Sprintf("uid %q, title %q: both are required", d.UID, d.Title))
	}
	if d.SchemaVersion < 39 {
		problems = append(problems, fmt.Sprintf("schemaVersion %d, want at least 39", d.SchemaVersion))
	}
	qs, p := dashboardQueries(all, &d)
	problems = append(problems, p...)
	if len(qs) == 0 {
		problems = append(problems, "no queries")
	}
	used = map[string]bool{}
	for _, q := range qs {
		names, err := promqlnames.Names(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		if len(names) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q selects no metric", q.where, q.expr))
		}
		for _, n := range names {
			f, ok := e.family(n)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: %s is not a metric walhook exports (query %q)", q.where, n, q.expr))
				continue
			}
			used[f] = true
		}
	}
	return problems, used
}

// variableExpr returns the PromQL inside a Grafana Prometheus variable query:
// label_values(selector, label) → selector, query_result(expr) → expr, a plain query →
// itself; label_values(label), label_names() and metrics(regex) have none.
func variableExpr(q string) string {
	q = strings.TrimSpace(q)
	fn, rest, ok := strings.Cut(q, "(")
	args, closed := strings.CutSuffix(rest, ")")
	if !ok || !closed {
		return q
	}
	switch strings.TrimSpace(fn) {
	case "label_values":
		i := strings.LastIndex(args, ",")
		if i < 0 {
			return "" // label_values(label): no metric
		}
		return strings.TrimSpace(args[:i])
	case "query_result":
		return strings.TrimSpace(args)
	case "label_names", "metrics":
		return ""
	}
	return q
}

// family returns the exported family a series name belongs to: the name itself, or a
// histogram's or summary's family for its _bucket, _sum and _count series.
func (e *exported) family(series string) (string, bool) {
	if _, ok := e.families[series]; ok {
		return series, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if !ok {
			continue
		}
		switch e.families[base] {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			return base, true
		case dto.MetricType_SUMMARY:
			if suffix != "_bucket" {
				return base, true
			}
		}
	}
	return "", false
}

// checkDashboardPortable returns what stops a dashboard from working in any Grafana as
// shipped: a data source uid other than the ${datasource} variable's, a missing
// datasource variable or __inputs entry, editable not false, a panel without a description.
func checkDashboardPortable(all map[string]any) (problems []string) {
	if all["editable"] != false {
		problems = append(problems, fmt.Sprintf("editable is %v, want false", all["editable"]))
	}
	inputs, _ := all["__inputs"].([]any)
	if !slices.ContainsFunc(inputs, func(x any) bool {
		in, _ := x.(map[string]any)
		return in["type"] == "datasource" && in["pluginId"] == "prometheus"
	}) {
		problems = append(problems, "__inputs has no Prometheus data source input")
	}
	templating, _ := all["templating"].(map[string]any)
	vars, _ := templating["list"].([]any)
	if !slices.ContainsFunc(vars, func(x any) bool {
		v, _ := x.(map[string]any)
		return v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"
	}) {
		problems = append(problems, `no "datasource" variable of type datasource for prometheus`)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ds, ok := v["datasource"]; ok {
				ref, _ := ds.(map[string]any)
				builtin := ref["type"] == "grafana" || ref["type"] == "datasource"
				if !builtin && (ref["type"] != "prometheus" || ref["uid"] != "${datasource}") {
					problems = append(problems, fmt.Sprintf("%s: datasource %v, want {type: prometheus, uid: ${datasource}}", path, ds))
				}
			}
			if typ, ok := v["type"].(string); ok && v["gridPos"] != nil && typ != "row" {
				if d, _ := v["description"].(string); strings.TrimSpace(d) == "" {
					problems = append(problems, fmt.Sprintf("panel %v %q has no description", v["id"], v["title"]))
				}
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				if k != "datasource" {
					walk(path+"."+k, v[k])
				}
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		}
	}
	walk("$", all)
	return problems
}

func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	e := walhookMetrics(t)

	t.Run("families and variables", func(t *testing.T) {
		// Series names map to exported families; anything else is reported.
		for _, tc := range []struct {
			expr              string
			families, unknown []string
		}{
			{`histogram_quantile(0.99, sum by (le) (rate(walhook_delivery_request_duration_seconds_bucket[5m])))`,
				[]string{"walhook_delivery_request_duration_seconds"}, nil},
			{`rate(walhook_commit_to_delivery_seconds_sum[5m]) / rate(walhook_commit_to_delivery_seconds_count[5m])`,
				[]string{"walhook_commit_to_delivery_seconds", "walhook_commit_to_delivery_seconds"}, nil},
			{`sum(rate(go_gc_duration_seconds_count[5m])) + max(go_gc_duration_seconds{quantile="1"})`,
				[]string{"go_gc_duration_seconds", "go_gc_duration_seconds"}, nil},
			// A lazy family: described, not gathered until an event is raised.
			{`rate(walhook_events_raised_total[5m])`, []string{"walhook_events_raised_total"}, nil},
			{`histogram_quantile(0.99, sum by (le) (rate(walhook_delivery_duration_seconds_bucket[5m])))`,
				nil, []string{"walhook_delivery_duration_seconds_bucket"}},
			// A counter's family is named with _total.
			{`rate(walhook_changes_decoded[5m])`, nil, []string{"walhook_changes_decoded"}},
			// A gauge has no buckets, a summary no _bucket series.
			{`walhook_replication_lag_bytes_bucket + go_gc_duration_seconds_bucket`,
				nil, []string{"walhook_replication_lag_bytes_bucket", "go_gc_duration_seconds_bucket"}},
			// Prometheus's own series, not walhook's.
			{`up or walhook_reader_state`, []string{"walhook_reader_state"}, []string{"up"}},
		} {
			names, err := promqlnames.Names(tc.expr)
			if err != nil {
				t.Errorf("%q: %v", tc.expr, err)
				continue
			}
			var families, unknown []string
			for _, n := range names {
				if f, ok := e.family(n); ok {
					families = append(families, f)
				} else {
					unknown = append(unknown, n)
				}
			}
			if !slices.Equal(families, tc.families) || !slices.Equal(unknown, tc.unknown) {
				t.Errorf("%q: families %q, unknown %q; want %q, %q", tc.expr, families, unknown, tc.families, tc.unknown)
			}
		}
		for q, want := range map[string]string{
			`label_values(walhook_reader_state{job="x"}, instance)`: `walhook_reader_state{job="x"}`,
			`label_values(job)`: ``,
			`query_result(max(walhook_replication_lag_bytes))`: `max(walhook_replication_lag_bytes)`,
			`label_names()`: ``,
		} {
			if got := variableExpr(q); got != want {
				t.Errorf("variableExpr(%q) = %q, want %q", q, got, want)
			}
		}
	})

	t.Run("broken dashboard", func(t *testing.T) {
		raw := `{
		  "schemaVersion": 30,
		  "annotations": {"list": [{"name": "a", "expr": "changes(walhook_reader_stat[5m]) > 0"}]},
		  "templating": {"list": [
		    {"name": "job", "type": "query", "query": {"query": "label_values(walhook_no_such_metric, job)"}},
		    {"name": "x", "type": "custom", "query": "a,b"},
		    {"name": "empty", "type": "query", "query": ""}]},
		  "panels": [
		    {"id": 1, "type": "timeseries", "title": "ok", "targets": [{"refId": "A", "expr": "walhook_replication_lag_bytes"}]},
		    {"id": 2, "type": "timeseries", "title": "no targets", "targets": []},
		    {"id": 3, "type": "stat", "title": "no expr", "targets": [{"refId": "A"}]},
		    {"id": 4, "type": "row", "title": "collapsed", "collapsed": true, "panels": [
		      {"id": 5, "type": "timeseries", "title": "nested",
		       "targets": [{"refId": "A", "expr": "rate(walhook_deliveries{outcome=\"delivered\"}[5m])"}]}]},
		    {"id": 6, "type": "timeseries", "title": "unparsable", "targets": [{"refId": "A", "expr": "rate(walhook_dead_letters_total[5m]"}]}
		  ]}`
		problems, used := e.checkDashboard([]byte(raw))
		for _, want := range []string{
			`uid "", title "": both are required`,
			"schemaVersion 30, want at least 39",
			`panel 2 "no targets" has no target`,
			`panel 3 "no expr": target A has no PromQL expr`,
			`panel 5 "nested": walhook_deliveries is not a metric walhook exports`,
			`panel 6 "unparsable": unbalanced (`,
			`variable "job": walhook_no_such_metric is not a metric walhook exports`,
			`variable "empty" has no query`,
			`annotations.list[0]: walhook_reader_stat is not a metric walhook exports`,
		} {
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
				t.Errorf("problem %q not reported; got:\n%s", want, strings.Join(problems, "\n"))
			}
		}
		if len(problems) != 9 {
			t.Errorf("%d problems, want 9:\n%s", len(problems), strings.Join(problems, "\n"))
		}
		if !used["walhook_replication_lag_bytes"] || len(used) != 1 {
			t.Errorf("used = %v, want walhook_replication_lag_bytes only", used)
		}
	})

	t.Run("unportable dashboard", func(t *testing.T) {
		raw := `{
		  "editable": true,
		  "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
		  "templating": {"list": [{"name": "job", "type": "query", "datasource": {"type": "prometheus", "uid": "prometheus"}}]},
		  "panels": [
		    {"id": 1, "type": "row", "title": "r", "gridPos": {}},
		    {"id": 2, "type": "stat", "title": "described", "description": "d", "gridPos": {},
		     "datasource": {"type": "prometheus", "uid": "${datasource}"},
		     "targets": [{"datasource": {"type": "prometheus", "uid": "abc123"}}]},
		    {"id": 3, "type": "timeseries", "title": "mute", "gridPos": {}, "datasource": "Prometheus"}
		  ]}`
		var all map[string]any
		if err := json.Unmarshal([]byte(raw), &all); err != nil {
			t.Fatal(err)
		}
		problems := checkDashboardPortable(all)
		for _, want := range []string{
			"editable is true, want false",
			"__inputs has no Prometheus data source input",
			`no "datasource" variable`,
			"$.templating.list[0]: datasource map[type:prometheus uid:prometheus]",
			"$.panels[1].targets[0]: datasource map[type:prometheus uid:abc123]",
			"$.panels[2]: datasource Prometheus",
			`panel 3 "mute" has no description`,
		} {
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
				t.Errorf("problem %q not reported; got:\n%s", want, strings.Join(problems, "\n"))
			}
		}
		if len(problems) != 7 {
			t.Errorf("%d problems, want 7:\n%s", len(problems), strings.Join(problems, "\n"))
		}
	})

	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDashboardPortable(all) {
		t.Errorf("%s: %s", dashboardPath, p)
	}
	problems, used := e.checkDashboard(raw)
	for _, p := range problems {
		t.Errorf("%s: %s", dashboardPath, p)
	}
	// Every walhook_ metric is on the dashboard: an operator should not need to know it exists.
	for name := range e.families {
		if strings.HasPrefix(name, "walhook_") && !used[name] {
			t.Errorf("%s: walhook_ metric %s is on no panel", dashboardPath, name)
		}
	}
}
