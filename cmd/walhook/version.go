package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3"; "dev" otherwise.
var version = "dev"

// revision is the VCS revision, set at build time with -ldflags "-X main.revision=…" where
// the build cannot record it itself (the Dockerfile builds with -buildvcs=false).
var revision = ""

// cmdVersion is "walhook version" (also "walhook --version"): it prints "walhook
// <version>", plus the VCS revision the binary was built from when the build recorded one.
func cmdVersion(_ context.Context, args []string) error {
	if err := parseFlags(newFlagSet("version"), args); err != nil {
		return err
	}
	fmt.Println(versionString())
	return nil
}

// build describes the running binary: its version, the Go release that built it, and the
// VCS revision ("" when the build did not record one, as with -buildvcs=false).
type build struct {
	version, goVersion, revision string
	modified                     bool
}

// currentBuild reads the running binary's build.
func currentBuild() build {
	b := build{version: version, goVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		b = buildOf(version, info)
	}
	if b.revision == "" {
		b.revision = revision
	}
	return b
}

func buildOf(v string, info *debug.BuildInfo) build {
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version // go install github.com/walhook/walhook/cmd/walhook@vX
	}
	b := build{version: v, goVersion: info.GoVersion}
	if b.goVersion == "" {
		b.goVersion = runtime.Version()
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.revision = s.Value
		case "vcs.modified":
			b.modified = s.Value == "true"
		}
	}
	return b
}

// versionString is "walhook <version>[ (<revision>[, modified])]".
func versionString() string { return currentBuild().String() }

func describeVersion(v string, info *debug.BuildInfo) string { return buildOf(v, info).String() }

func (b build) String() string {
	switch {
	case b.revision == "":
		return "walhook " + b.version
	case b.modified:
		return fmt.Sprintf("walhook %s (%s, modified)", b.version, b.revision)
	}
	return fmt.Sprintf("walhook %s (%s)", b.version, b.revision)
}

// buildInfoGauge is walhook_build_info: always 1, its labels say which build runs, so
// a dashboard or alert can tell the versions of a fleet apart. revision is "unknown"
// when the build recorded none.
func buildInfoGauge(b build) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "walhook_build_info",
		Help:        "Always 1; the labels name the running build: version, Go version and VCS revision.",
		ConstLabels: prometheus.Labels{"version": b.version, "goversion": b.goVersion, "revision": b.revisionLabel()},
	})
	g.Set(1)
	return g
}

// revisionLabel is the revision as logged and exported: "unknown" when the build recorded
// none, with "-modified" appended for a build from a modified work tree.
func (b build) revisionLabel() string {
	switch {
	case b.revision == "":
		return "unknown"
	case b.modified:
		return b.revision + "-modified"
	}
	return b.revision
}
