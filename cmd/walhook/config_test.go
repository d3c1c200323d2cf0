package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sethvargo/go-envconfig"
)

func TestLoadConfigDefaults(t *testing.T) {
	got, err := loadConfig(context.Background(), envconfig.MapLookuper(nil))
	if err != nil {
		t.Fatalf("loadConfig(empty environment): %v", err)
	}
	want := Config{
		ListenAddr:       ":8080",
		Slot:             "walhook",
		Publication:      "walhook",
		LogLevel:         "info",
		LogFormat:        "json",
		StandbyInterval:  10 * time.Second,
		ConfirmDelay:     100 * time.Millisecond,
		ReconnectBackoff: time.Second,
		MemoryLimitBytes: 8 << 20,
	}
	withSenderDefaults(&want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if err := got.requireDatabase(); err == nil || !strings.Contains(err.Error(), "WALHOOK_DATABASE_URL") {
		t.Errorf("requireDatabase without a URL = %v, want an error naming WALHOOK_DATABASE_URL", err)
	}
}

func TestLoadConfigValues(t *testing.T) {
	got, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{
		"WALHOOK_DATABASE_URL":          "postgres://walhook:pw@db.example.com:5433/crm?sslmode=require",
		"WALHOOK_LISTEN_ADDR":           "127.0.0.1:9000",
		"WALHOOK_API_TOKENS":            "tok1, tok2,,",
		"WALHOOK_MAPPING_FILE":          "/etc/walhook/mapping.yaml",
		"WALHOOK_SLOT":                  "walhook_2",
		"WALHOOK_PUBLICATION":           "_pub",
		"WALHOOK_ALLOW_PRIVATE_TARGETS": "true",
		"WALHOOK_LOG_LEVEL":             "debug",
		"WALHOOK_LOG_FORMAT":            "text",
		"WALHOOK_STANDBY_INTERVAL":      "1m30s",
		"WALHOOK_CONFIRM_DELAY":         "20ms",
		"WALHOOK_RECONNECT_BACKOFF":     "250ms",
		"WALHOOK_MEMORY_LIMIT_BYTES":    "1048576",
		"WALHOOK_RETRY_WINDOW":          "1h",
		"WALHOOK_WEBHOOK_CONCURRENCY":   "4",
		"WALHOOK_MAX_BODY_BYTES":        "65536",
		"WALHOOK_MAX_EXPAND_ROWS":       "20",
		"WALHOOK_PAYLOAD_RETENTION":     "0",
	}))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := Config{
		DatabaseURL:         "postgres://walhook:pw@db.example.com:5433/crm?sslmode=require",
		ListenAddr:          "127.0.0.1:9000",
		APITokens:           []string{"tok1", "tok2"},
		MappingFile:         "/etc/walhook/mapping.yaml",
		Slot:                "walhook_2",
		Publication:         "_pub",
		AllowPrivateTargets: true,
		LogLevel:            "debug",
		LogFormat:           "text",
		StandbyInterval:     90 * time.Second,
		ConfirmDelay:        20 * time.Millisecond,
		ReconnectBackoff:    250 * time.Millisecond,
		MemoryLimitBytes:    1 << 20,
	}
	withSenderDefaults(&want)
	want.RetryWindow, want.WebhookConcurrency = time.Hour, 4
	want.MaxBodyBytes, want.MaxExpandRows = 64<<10, 20
	want.PayloadRetention = 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadConfigRejectsBadValues(t *testing.T) {
	tests := []struct {
		variable, value string
		want            string // the whole error message
	}{
		{"WALHOOK_LOG_LEVEL", "loud", `config: WALHOOK_LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
		{"WALHOOK_LOG_LEVEL", "INFO", `config: WALHOOK_LOG_LEVEL: "INFO" is not one of debug, info, warn, error`},
		{"WALHOOK_LOG_FORMAT", "xml", `config: WALHOOK_LOG_FORMAT: "xml" is not one of json, text`},
		{"WALHOOK_SLOT", "Walhook", `config: WALHOOK_SLOT: "Walhook" is not a lowercase identifier (1 to 63 of a-z, 0-9 and _, not starting with a digit)`},
		{"WALHOOK_SLOT", "wal-hook", ""},
		{"WALHOOK_SLOT", "1walhook", ""},
		{"WALHOOK_SLOT", strings.Repeat("s", 64), ""},
		{"WALHOOK_PUBLICATION", "my pub", ""},
		{"WALHOOK_LISTEN_ADDR", "8080", `config: WALHOOK_LISTEN_ADDR: "8080" is not host:port or :port`},
		{"WALHOOK_ALLOW_PRIVATE_TARGETS", "maybe", `config: WALHOOK_ALLOW_PRIVATE_TARGETS: "maybe" is not a boolean (true or false)`},
		{"WALHOOK_STANDBY_INTERVAL", "10", `config: WALHOOK_STANDBY_INTERVAL: "10" is not a duration (such as 500ms, 10s or 1m30s)`},
		{"WALHOOK_STANDBY_INTERVAL", "0s", `config: WALHOOK_STANDBY_INTERVAL: 0s is not positive`},
		{"WALHOOK_RECONNECT_BACKOFF", "-1s", `config: WALHOOK_RECONNECT_BACKOFF: -1s is not positive`},
		{"WALHOOK_MEMORY_LIMIT_BYTES", "256MB", `config: WALHOOK_MEMORY_LIMIT_BYTES: "256MB" is not a whole number`},
		{"WALHOOK_MEMORY_LIMIT_BYTES", "0", `config: WALHOOK_MEMORY_LIMIT_BYTES: 0 is not positive`},
		{"WALHOOK_DATABASE_URL", "postgres://u@host/db?sslmode=sometimes", ""},
		{"WALHOOK_MAX_BODY_BYTES", "1MiB", `config: WALHOOK_MAX_BODY_BYTES: "1MiB" is not a valid int`},
		{"WALHOOK_MAX_BODY_BYTES", "1000", `config: WALHOOK_MAX_BODY_BYTES: 1000 is not from 16384 (16 KiB) to 1073741824 (1 GiB)`},
		{"WALHOOK_MAX_EXPAND_ROWS", "0", `config: WALHOOK_MAX_EXPAND_ROWS: 0 is not from 1 to 10000`},
		{"WALHOOK_SECRET_KEY", "short", `config: WALHOOK_SECRET_KEY: 5 bytes, want at least 32 (e.g. the output of openssl rand -base64 32)`},
		{"WALHOOK_MAX_WEBHOOK_TIMEOUT", "500ms", `config: WALHOOK_MAX_WEBHOOK_TIMEOUT: 500ms is less than 1s`},
		{"WALHOOK_PAYLOAD_RETENTION", "-1h", `config: WALHOOK_PAYLOAD_RETENTION: -1h0m0s is negative (0 keeps no request bodies)`},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			_, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{tt.variable: tt.value}))
			if err == nil {
				t.Fatal("loadConfig succeeded")
			}
			if !errors.Is(err, errConfig) {
				t.Errorf("error %q does not wrap errConfig", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "config: "+tt.variable+": ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q is not one line starting with %q", msg, "config: "+tt.variable+": ")
			}
			if tt.want != "" && msg != tt.want {
				t.Errorf("error\n%s\nwant\n%s", msg, tt.want)
			}
		})
	}
}

// TestLoadConfigNeverPrintsThePassword feeds malformed connection strings holding a
// password and checks that the error names the variable but not the password.
func TestLoadConfigNeverPrintsThePassword(t *testing.T) {
	const pw = "s3cr3t-Pw"
	for _, url := range []string{
		"postgres://walhook:" + pw + "@db.example.com:notaport/crm",
		"postgres://walhook:" + pw + "@db.example.com/crm?sslmode=sometimes",
		"postgresql://walhook:" + pw + "%zz@db.example.com/crm",
		"postgres://walhook:" + pw + "@db@example.com:99999/crm",
		"postgres://walhook@db.example.com/crm?password=" + pw + "&sslmode=bogus",
		"host=db.example.com password=" + pw + " sslmode=bogus",
		"host=db.example.com password='" + pw + " x' port=abc",
		"postgres://walhook:" + pw + "@[::1/crm",
	} {
		t.Run(url, func(t *testing.T) {
			_, err := loadConfig(context.Background(), envconfig.MapLookuper(map[string]string{"WALHOOK_DATABASE_URL": url}))
			if err == nil {
				t.Fatal("loadConfig succeeded")
			}
			if !strings.HasPrefix(err.Error(), "config: WALHOOK_DATABASE_URL: ") {
				t.Errorf("error %q does not name WALHOOK_DATABASE_URL", err)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestConfigLogValueRedacts(t *testing.T) {
	c := Config{DatabaseURL: "postgres://walhook:s3cr3t@db/crm?sslpassword=k3y", APITokens: []string{"t0ken"}}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "config", c)
	for _, secret := range []string{"s3cr3t", "k3y", "t0ken"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("logged config %q contains %q", b.String(), secret)
		}
	}
	if !strings.Contains(b.String(), "walhook:xxxxx@db/crm") {
		t.Errorf("logged config %q does not show the redacted URL", b.String())
	}
}

func TestNewLoggerHonoursLevelAndFormat(t *testing.T) {
	var b strings.Builder
	log := newLogger(Config{LogLevel: "warn", LogFormat: "text"}, &b)
	log.Info("hidden")
	log.Warn("shown")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.Contains(got, "level=WARN msg=shown") {
		t.Errorf("text logger at warn wrote %q", got)
	}
	b.Reset()
	newLogger(Config{LogLevel: "info", LogFormat: "json"}, &b).Info("shown")
	if got := b.String(); !strings.HasPrefix(got, `{"time":`) {
		t.Errorf("json logger wrote %q", got)
	}
}

// TestLoggerWritesDurationsAsStrings: a duration logged anywhere, the configuration's
// included, reads "10s", not slog's JSON default of integer nanoseconds.
func TestLoggerWritesDurationsAsStrings(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var b strings.Builder
		c := Config{LogLevel: "info", LogFormat: format, StandbyInterval: 10 * time.Second}
		newLogger(c, &b).Info("start", "wait", 1500*time.Millisecond, "config", c)
		got := b.String()
		want := []string{`"wait":"1.5s"`, `"standby_interval":"10s"`}
		if format == "text" {
			want = []string{"wait=1.5s", "config.standby_interval=10s"}
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s logger wrote %q, want it to contain %s", format, got, w)
			}
		}
		if strings.Contains(got, "10000000000") {
			t.Errorf("%s logger wrote a duration as nanoseconds: %q", format, got)
		}
	}
}

// withSenderDefaults sets the sender settings' documented defaults.
func withSenderDefaults(c *Config) {
	c.DeliveryLinger = 5 * time.Millisecond
	c.RequestTimeout = 10 * time.Second
	c.RetryMinBackoff = time.Second
	c.RetryMaxBackoff = 10 * time.Minute
	c.RetryWindow = 24 * time.Hour
	c.WebhookConcurrency = 1
	c.DelayHorizon = time.Second
	c.SpillWait = 100 * time.Millisecond
	c.SlowAfter = 2 * time.Second
	c.QueueWorkers = 8
	c.QueuePollInterval = time.Second
	c.BreakerThreshold = 5
	c.BreakerCooldown = 30 * time.Second
	c.DeliveryLogRetention = 168 * time.Hour
	c.DeadLetterRetention = 720 * time.Hour
	c.PayloadRetention = 72 * time.Hour
	c.MaxBodyBytes = 1 << 20
	c.MaxExpandRows = 100
	c.InboundMaxBytes = 10 << 20
	c.InboundRate, c.InboundBurst = 100, 100
	c.InboundRetention = 168 * time.Hour
	c.BackfillChunkRows = 500
	c.SignatureRotationGrace = 24 * time.Hour
	c.MaxWebhookTimeout = time.Minute
}
