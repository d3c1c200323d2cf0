package main

import (
	"io"
	"log/slog"
)

// newLogger returns the process logger for c: JSON lines (or text with
// WALHOOK_LOG_FORMAT=text) at WALHOOK_LOG_LEVEL, written to w (stderr in main).
func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevel(c.LogLevel)}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
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
