package main

import (
	"io"
	"log/slog"
)

// newLogger returns the process logger for c: JSON lines (or text with
// WALHOOK_LOG_FORMAT=text) at WALHOOK_LOG_LEVEL, written to w (stderr in main).
// Durations are written as Go duration strings ("10s", "250ms"), wherever they are
// logged, instead of slog's JSON default of integer nanoseconds.
func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(c.LogLevel), ReplaceAttr: durationString}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationString is a slog ReplaceAttr that renders a time.Duration as its String form.
// slog calls it for attributes inside groups too, so Config.LogValue's durations are
// covered.
func durationString(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// logLevel maps a validated WALHOOK_LOG_LEVEL to its slog level; anything else is info.
func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
