package main

import (
	"io"
	"log/slog"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup/redact"
)

type configsConfig = configs.Config

// newLogger builds the process logger: phone numbers are masked in every message and attribute.
func newLogger(cfg configs.LogConfig, w io.Writer) *slog.Logger { return redact.Logger(cfg, w) }
