package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2ESentinelFailover: the gateway on a Redis master with a replica and three Sentinels
// (store.redis.url in the Sentinel form). The master is killed while a caller hears the offer:
// that caller still gets a result (back to the queue); new callers get 503 until a Sentinel
// quorum promotes the replica, and offers resume within 30 s; nothing is sent twice.
func TestE2ESentinelFailover(t *testing.T) {
	t.Parallel()
	master := redistest.Server(t)
	redistest.Replica(t, master)
	s := redistest.Sentinels(t, master, "deflectd", 3, time.Second)
	url := fmt.Sprintf("redis://%s?master_name=deflectd&addr=%s&addr=%s", s[0].Addr(), s[1].Addr(), s[2].Addr())
	g := startGateway(t, func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = url
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
		c.Store.Redis.DialTimeout, c.Store.Redis.ReadTimeout, c.Store.Redis.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
		c.Store.BreakerCooldown = time.Second
	})
	wantResult(t, g.call("+966501230301", ivr.CallOptions{Press: "1"}), "deflected")

	// A caller in the offer when the master dies: silent, so the call ends on the digit timeout.
	var wg sync.WaitGroup
	var inOffer ivr.CallReport
	wg.Add(1)
	go func() { defer wg.Done(); inOffer = g.call("+966501230302", ivr.CallOptions{}) }()
	time.Sleep(300 * time.Millisecond)
	master.Stop()
	killed := time.Now()

	// New callers: 503 (keep them in the queue) until the replica is promoted, then offered.
	var refused int
	for i := 0; ; i++ {
		rep := g.call(fmt.Sprintf("+9665012304%02d", i), ivr.CallOptions{Press: "1"})
		if rep.Result == "deflected" {
			break
		}
		if rep.FinalStatus != 503 {
			t.Fatalf("during the failover a caller got %d %q, want 503", rep.FinalStatus, rep.Result)
		}
		refused++
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("offers did not resume within 30 s of the master's death (%d callers refused)", refused)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("offers resumed %s after the master was killed; %d callers got 503 meanwhile", time.Since(killed).Round(100*time.Millisecond), refused)
	if refused == 0 {
		t.Errorf("no caller was refused while the master was down: the test did not see the failover")
	}
	wg.Wait()
	if !inOffer.Answered || inOffer.Result == "" {
		t.Errorf("the caller in the offer got no result: %+v", inOffer)
	}
	for _, n := range []string{"+966501230301", "+966501230302"} {
		if sent := g.sandbox.Sent(n); len(sent) > 1 {
			t.Errorf("%s got %d messages", n, len(sent))
		}
	}
	if code, body := g.get("/readyz"); code != 200 {
		t.Errorf("readyz after the failover: %d %s", code, strings.TrimSpace(body))
	}
}
