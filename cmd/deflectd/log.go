package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup/redact"
)

type configsConfig = configs.Config

// newLogger builds the process logger: phone numbers are masked in every message and attribute.
func newLogger(cfg configs.LogConfig, w io.Writer) *slog.Logger { return redact.Logger(cfg, w) }

// logger builds the process logger of a command (newLogger on the command's stderr) and routes
// go-redis's own messages (pool dial failures, hook errors, …) into it. go-redis has no logger
// per client, only a package-global one (redis.SetLogger) that by default prints unstructured,
// unmasked lines to stderr; so the one process-wide setting is made here, where each command
// builds its one process logger, and nowhere else. sipgo logs through slog.Default: making the
// process logger the default puts its lines through the same masking handler.
func (g *globals) logger(cfg configs.LogConfig) *slog.Logger {
	log := newLogger(cfg, g.stderr)
	redis.SetLogger(redisLogger{log.With("component", "redis")})
	slog.SetDefault(log)
	return log
}

// redisLogger is go-redis's Logging interface on slog: every line at warn (go-redis only logs
// trouble), masked like every other log by the process logger's handler.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	l.log.WarnContext(ctx, strings.TrimPrefix(msg, "redis: ")) // component=redis says so already
}
