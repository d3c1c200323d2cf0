package main

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/walhook/walhook/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestRunMainExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, "usage: walhook <command>"},
		{[]string{"frobnicate"}, 2, `walhook: unknown command "frobnicate"`},
		{[]string{"setup", "--bogus"}, 2, "walhook setup: flag provided but not defined: -bogus"},
		{[]string{"setup", "extra"}, 2, `walhook setup: unexpected argument "extra"`},
		{[]string{"help", "nope"}, 2, `walhook help: unknown command "nope"`},
		{[]string{"run", "extra"}, 2, `walhook run: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr strings.Builder
			if code := runMain(context.Background(), tt.args, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.inStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.inStderr)
			}
		})
	}
}

func TestExitCodeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr strings.Builder
	err := fmt.Errorf("connect to the CRM database: %w", context.Canceled)
	if code := exitCode(ctx, "setup", err, &stderr); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if got := stderr.String(); got != "walhook setup: interrupted\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestOneLine(t *testing.T) {
	err := errors.New("mapping: unknown table crm.x\nunknown column crm.y.z")
	if got, want := oneLine(err.Error()), "mapping: unknown table crm.x ; unknown column crm.y.z"; got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}

func TestDescribeVersion(t *testing.T) {
	info := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	tests := []struct {
		version string
		info    *debug.BuildInfo
		want    string
	}{
		{"dev", info("(devel)"), "walhook dev"},
		{"v1.2.3", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "false"), "walhook v1.2.3 (abc123)"},
		{"dev", info("(devel)", "vcs.revision", "abc123", "vcs.modified", "true"), "walhook dev (abc123, modified)"},
		{"dev", info("v0.4.0"), "walhook v0.4.0"},
	}
	for _, tt := range tests {
		if got := describeVersion(tt.version, tt.info); got != tt.want {
			t.Errorf("describeVersion(%q, ...) = %q, want %q", tt.version, got, tt.want)
		}
	}
}
