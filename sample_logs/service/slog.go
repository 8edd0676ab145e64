//go:build go1.21

package main

import (
	"log/slog"
	"os"
)

// log/slog's own handlers (Go 1.21+): JSON, and text (logfmt).
func init() {
	for name, h := range map[string]func() slog.Handler{
		"slog-json": func() slog.Handler { return slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}) },
		"slog-text": func() slog.Handler { return slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelDebug}) },
	} {
		h := h
		loggers[name] = func() logger {
			l := slog.New(h())
			levels := map[string]slog.Level{"info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
			return func(level, msg string, fields ...interface{}) {
				l.Log(nil, levels[level], msg, fields...)
			}
		}
	}
}
