package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deploy/testkit"
)

// TestRedisLogsIntoSlog: go-redis's own messages (here: its pool failing to dial) reach the
// command's logger as structured, masked warnings with component=redis instead of raw stderr
// lines. Not parallel: go-redis's logger is process-wide.
func TestRedisLogsIntoSlog(t *testing.T) {
	var out testkit.Buffer
	g := &globals{stderr: &out}
	log := g.logger(configs.LogConfig{Level: "info", Format: "json"})
	t.Cleanup(func() { redis.SetLogger(redisLogger{slog.New(slog.DiscardHandler)}) })
	log.Info("started")

	cfg := configs.Default().Store.Redis
	cfg.URL = "redis://" + closedPort(t)
	cfg.DialTimeout = 200 * time.Millisecond
	st, err := redisstore.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err == nil {
		t.Fatal("Ping to a closed port succeeded")
	}
	// And a message carrying a number, as a key name in an error might.
	redisLogger{log.With("component", "redis")}.Printf(ctx, "redis: key deflectd:presence:%s: %v", "+966501234567", "boom")

	type line struct {
		Level, Msg, Component string
	}
	var dial, key *line
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not a JSON log line: %q", sc.Text())
		}
		switch {
		case strings.Contains(l.Msg, "failed to dial"):
			dial = &l
		case strings.Contains(l.Msg, "deflectd:presence:"):
			key = &l
		}
	}
	if dial == nil {
		t.Fatalf("no go-redis dial failure in the log:\n%s", out.String())
	}
	if dial.Level != "WARN" || dial.Component != "redis" || strings.HasPrefix(dial.Msg, "redis:") {
		t.Errorf("dial failure logged as %+v, want level WARN, component redis, no redis: prefix", *dial)
	}
	if key == nil || strings.Contains(key.Msg, "966501234567") || key.Level != "WARN" {
		t.Errorf("number in a go-redis message logged as %+v, want it masked", key)
	}
}

// TestLibraryLogsThroughSlogDefaultAreMasked: sipgo (and any library) logging through slog.Default
// goes through the process logger's masking handler once a command has built it.
func TestLibraryLogsThroughSlogDefaultAreMasked(t *testing.T) {
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var out testkit.Buffer
	g := &globals{stderr: &out}
	g.logger(configs.LogConfig{Level: "info", Format: "text"})
	slog.Default().Warn("dialog from sip:+966501234567@127.0.0.1 ended")
	if s := out.String(); strings.Contains(s, "966501234567") || !strings.Contains(s, "+96650****567") {
		t.Fatalf("library log not masked: %q", s)
	}
}
