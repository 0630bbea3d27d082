package main

import (
	"io"
	"log/slog"

	"github.com/deflectd/deflectd/configs"
)

type configsConfig = configs.Config

// newLogger builds the process logger. TODO(lead): switch to lookup/redact's masking logger when it lands.
func newLogger(cfg configs.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
