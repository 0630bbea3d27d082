package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/deflect/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// config is the production configuration shape pointed at a test server.
func config(url, prefix string) configs.RedisConfig {
	return configs.RedisConfig{
		URL:          url,
		KeyPrefix:    prefix,
		DialTimeout:  500 * time.Millisecond,
		ReadTimeout:  500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond,
		PoolSize:     16,
	}
}

func newStore(t *testing.T, url string) *redisstore.Redis {
	t.Helper()
	r, err := redisstore.New(config(url, redistest.Prefix(t)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestSuite(t *testing.T) {
	url := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, url) })
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  configs.RedisConfig
	}{
		{"bad url", configs.RedisConfig{URL: "http://127.0.0.1:6379"}},
		{"brace in prefix", configs.RedisConfig{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "a{b}:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := redisstore.New(tc.cfg); err == nil {
				r.Close()
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

// TestKeyPrefixIsolates: two stores with different prefixes on one server share nothing.
func TestKeyPrefixIsolates(t *testing.T) {
	url := redistest.Start(t)
	a, b := newStore(t, url), newStore(t, url)
	ctx := context.Background()
	if first, err := a.SetOnce(ctx, "k", time.Minute); err != nil || !first {
		t.Fatalf("a.SetOnce = %v, %v", first, err)
	}
	if first, err := b.SetOnce(ctx, "k", time.Minute); err != nil || !first {
		t.Fatalf("b.SetOnce on the same key = %v, %v; want true (separate prefix)", first, err)
	}
}

// TestRedisDown: with redis-server gone, calls fail with ErrUnavailable within the configured
// timeouts; after a restart on the same port the same store works again.
func TestRedisDown(t *testing.T) {
	proc := redistest.Server(t)
	r := newStore(t, proc.URL())
	ctx := context.Background()
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s := &store.Session{ID: "down", Caller: "+441", CreatedAt: time.Now()}
	if err := r.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}

	proc.Stop()
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return r.Ping(ctx) }},
		{"GetSession", func() error { _, err := r.GetSession(ctx, "down"); return err }},
		{"UpdateSession", func() error {
			_, err := r.UpdateSession(ctx, "down", func(*store.Session) error { return nil })
			return err
		}},
		{"SetOnce", func() error { _, err := r.SetOnce(ctx, "k", time.Minute); return err }},
		{"Take", func() error { _, _, err := r.Take(ctx, "k", 1, 1); return err }},
		{"Publish", func() error { return r.Publish(ctx, "c", []byte("x")) }},
		{"Subscribe", func() error { _, err := r.Subscribe(ctx, "c"); return err }},
		{"ListSessions", func() error { _, err := r.ListSessions(ctx, store.SessionFilter{}); return err }},
		{"StreamRead", func() error { _, err := r.StreamRead(ctx, "s", "g", "c", 1, 0); return err }},
		{"PutDoc", func() error { _, err := r.PutDoc(ctx, "c", "d", []byte("x"), 0, 0); return err }},
	}
	// Bound: dial timeout + read timeout per attempt, one retry, plus slack for -race.
	const bound = 3 * time.Second
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		took := time.Since(start)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with redis down = %v, want ErrUnavailable", c.name, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with redis down = %v, must not look like ErrNotFound", c.name, err)
		}
		if took > bound {
			t.Errorf("%s took %v with redis down, want < %v", c.name, took, bound)
		}
	}

	if err := proc.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("store did not recover within 5s of the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The restarted server is empty; the store must work normally on it.
	if err := r.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession after restart: %v", err)
	}
	if _, err := r.UpdateSession(ctx, "down", func(x *store.Session) error { x.State = "ended"; return nil }); err != nil {
		t.Fatalf("UpdateSession after restart: %v", err)
	}
	if first, err := r.SetOnce(ctx, "k", time.Minute); err != nil || !first {
		t.Fatalf("SetOnce after restart = %v, %v", first, err)
	}
}

func BenchmarkStore(b *testing.B) {
	url := redistest.Start(b)
	storetest.Bench(b, func(b *testing.B) store.Store {
		r, err := redisstore.New(config(url, redistest.Prefix(b)))
		if err != nil {
			b.Fatalf("New: %v", err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	})
}

// TestSuiteCluster runs the suite through a Cluster client against a one-node cluster: any
// script or MULTI whose keys are not under one hash tag fails with CROSSSLOT.
func TestSuiteCluster(t *testing.T) {
	proc := redistest.Cluster(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{proc.Addr()}})
		t.Cleanup(func() { c.Close() })
		return redisstore.NewFromClient(c, redistest.Prefix(t))
	})
}

// TestSuiteSentinel builds the store with New from a Sentinel configuration (Addrs plus
// MasterName), the way deflectd does in production, and runs the suite through it.
func TestSuiteSentinel(t *testing.T) {
	master := redistest.Server(t)
	sentinel := redistest.Sentinel(t, master, "deflectd")
	storetest.Run(t, func(t *testing.T) store.Store {
		cfg := config("", redistest.Prefix(t))
		cfg.Addrs, cfg.MasterName = []string{sentinel.Addr()}, "deflectd"
		r, err := redisstore.New(cfg)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
}

// TestSentinelFailover: with store.redis.url in the Sentinel form, the store rides a failover.
// A real master, a replica and three Sentinels; the master is killed: calls fail as
// ErrUnavailable (never hang, never succeed against the dead node) until a Sentinel quorum
// promotes the replica, then work again on it with what was written before the kill.
func TestSentinelFailover(t *testing.T) {
	master := redistest.Server(t)
	replica := redistest.Replica(t, master)
	sentinels := redistest.Sentinels(t, master, "deflectd", 3, time.Second)
	url := fmt.Sprintf("redis://%s?master_name=deflectd&addr=%s&addr=%s", sentinels[0].Addr(), sentinels[1].Addr(), sentinels[2].Addr())
	cfg := config(url, redistest.Prefix(t))
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
	r, err := redisstore.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer r.Close()
	ctx := context.Background()
	before := &store.Session{ID: "before-failover", Caller: "+966501234567", State: "offered", CreatedAt: time.Now()}
	if err := r.CreateSession(ctx, before); err != nil {
		t.Fatal(err)
	}
	// The write must be on the replica before the master dies (replication is asynchronous).
	if err := r.Client().Do(ctx, "WAIT", 1, 2000).Err(); err != nil {
		t.Fatal(err)
	}

	master.Stop()
	killed := time.Now()
	var unavailable int
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := r.GetSession(cctx, before.ID)
		cancel()
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("during the failover: %v, want store.ErrUnavailable", err)
		}
		unavailable++
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the store did not come back within 30 s of the master's death")
		}
		time.Sleep(100 * time.Millisecond)
	}
	back := time.Since(killed)
	addr, err := redistest.MasterAddr(sentinels[0], "deflectd")
	if err != nil || !strings.HasSuffix(addr, " "+strconv.Itoa(replica.Port)) {
		t.Errorf("Sentinel's master is %q (%v), want the replica on port %d", addr, err, replica.Port)
	}
	if unavailable == 0 {
		t.Errorf("no call failed while the master was down: the test did not see the failover")
	}
	after := &store.Session{ID: "after-failover", Caller: "+966501234568", State: "offered", CreatedAt: time.Now()}
	if err := r.CreateSession(ctx, after); err != nil {
		t.Fatalf("write on the promoted replica: %v", err)
	}
	t.Logf("store back %s after the master was killed (%d calls refused as unavailable meanwhile)", back.Round(100*time.Millisecond), unavailable)
}
