package main

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"github.com/deflectd/deflectd/configs"
)

func TestApplyRuntimeSetsGCPercent(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	log := slog.New(slog.DiscardHandler)

	t.Setenv("GOGC", "")
	applyRuntime(configs.RuntimeConfig{GCPercent: 30}, log)
	if got := debug.SetGCPercent(100); got != 30 {
		t.Fatalf("gc percent %d after runtime.gc_percent=30", got)
	}

	applyRuntime(configs.RuntimeConfig{GCPercent: 0}, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("gc percent %d after runtime.gc_percent=0, want the runtime's unchanged", got)
	}

	t.Setenv("GOGC", "80")
	applyRuntime(configs.RuntimeConfig{GCPercent: 30}, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("gc percent %d with GOGC set, want the environment to win", got)
	}
}
