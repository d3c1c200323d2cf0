package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is the release version, set at build time with
// -ldflags "-X main.version=v1.2.3"; "dev" otherwise.
var version = "dev"

// cmdVersion is "walhook version": it prints "walhook <version>", plus the VCS revision
// the binary was built from when the build recorded one.
func cmdVersion(_ context.Context, args []string) error {
	if err := parseFlags(newFlagSet("version"), args); err != nil {
		return err
	}
	fmt.Println(versionString())
	return nil
}

// versionString is "walhook <version>[ (<revision>[, modified])]".
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "walhook " + version
	}
	return describeVersion(version, info)
}

func describeVersion(v string, info *debug.BuildInfo) string {
	if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		v = info.Main.Version // go install github.com/walhook/walhook/cmd/walhook@vX
	}
	var rev string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	switch {
	case rev == "":
		return "walhook " + v
	case modified:
		return fmt.Sprintf("walhook %s (%s, modified)", v, rev)
	}
	return fmt.Sprintf("walhook %s (%s)", v, rev)
}
