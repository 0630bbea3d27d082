package main

import (
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/ivr"
)

// gauge reads one gauge series of the gateway's registry (-1 when absent).
func (g *testGateway) gauge(name string, labels map[string]string) float64 {
	g.t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metrics
				}
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestE2EStoreBreaker: the store as serve wires it. Redis goes away: the breaker opens (gauge,
// /readyz says why), INVITEs are refused at once with no Redis round trip; Redis comes back: the
// breaker closes after its cool-down and calls are deflected again.
func TestE2EStoreBreaker(t *testing.T) {
	t.Parallel()
	p := redistest.Server(t)
	const cooldown = 500 * time.Millisecond
	g := startGateway(t, func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = p.URL()
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
		c.Store.BreakerFailures = 3
		c.Store.BreakerCooldown = cooldown
	})
	storeBreaker := map[string]string{"breaker": "store"}
	if got := g.gauge("deflectd_breaker_state", storeBreaker); got != 0 {
		t.Fatalf("breaker_state{breaker=store} = %v at start, want 0", got)
	}
	if got := g.gauge("deflectd_breaker_state", map[string]string{"breaker": "graph_api"}); got != 0 {
		t.Errorf("breaker_state{breaker=graph_api} = %v, want 0", got)
	}

	p.Stop()
	// Each /readyz pings through the breaker, so polling it is enough traffic to open it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := g.get("/readyz")
		if code == 503 && strings.Contains(body, "circuit breaker open") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz with Redis down = %d %q, want 503 saying the breaker is open", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := g.gauge("deflectd_breaker_state", storeBreaker); got != 2 {
		t.Errorf("breaker_state{breaker=store} = %v with Redis down, want 2", got)
	}
	// The decision reads the caller's opt-out first; nothing in the background reads opt-outs.
	optRefused := map[string]string{"op": "get_opt", "kind": "breaker_open"}
	refused := g.counter("deflectd_store_errors_total", optRefused)
	start := time.Now()
	rep := g.call("+966501234561", ivr.CallOptions{Press: "1"})
	if rep.FinalStatus != 503 || time.Since(start) > time.Second {
		t.Errorf("INVITE with the breaker open: %d after %v, want a fast 503", rep.FinalStatus, time.Since(start))
	}
	if g.counter("deflectd_store_errors_total", optRefused) <= refused {
		t.Error("the INVITE's opt-out read did not fail fast at the breaker")
	}

	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	g.waitReady(cooldown + 10*time.Second)
	if got := g.gauge("deflectd_breaker_state", storeBreaker); got != 0 {
		t.Errorf("breaker_state{breaker=store} = %v after recovery, want 0", got)
	}
	for attempt := 1; ; attempt++ {
		rep = g.call("+966501234562", ivr.CallOptions{Press: "1"})
		if rep.FinalStatus != 503 || attempt == 5 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantResult(t, rep, "deflected")
}
