package lookup

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// newRedis opens a redisstore on the shared test server under prefix.
func newRedis(t testing.TB, url, prefix string) *redisstore.Redis {
	t.Helper()
	rc := configs.Default().Store.Redis
	rc.URL = url
	rc.KeyPrefix = prefix
	r, err := redisstore.New(rc)
	if err != nil {
		t.Fatalf("redisstore.New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Two instances sharing Redis: a "no" learned by one (131026) is known by the other.
func TestPresenceRedisSharedFacts(t *testing.T) {
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	cfg := testConfig()
	cfg.Presence.YesTTL = 300 * time.Millisecond
	a, _ := newChain(t, cfg, storeFacts{newRedis(t, url, prefix)})
	b, _ := newChain(t, cfg, storeFacts{newRedis(t, url, prefix)})
	ctx := context.Background()

	if err := a.Learn(ctx, numA, false, "learned:131026"); err != nil {
		t.Fatal(err)
	}
	if got := status(t, b, numA); got.Status != No || got.Source != "learned:131026" {
		t.Errorf("other instance sees %+v, want no/learned:131026", got)
	}
	// TTL expiry on Redis.
	if err := b.Learn(ctx, numB, true, ""); err != nil {
		t.Fatal(err)
	}
	if got := status(t, a, numB); got.Status != Yes {
		t.Fatalf("fresh fact = %+v", got)
	}
	time.Sleep(400 * time.Millisecond)
	if got := status(t, a, numB); got.Status != Unknown {
		t.Errorf("expired fact on Redis still answers: %+v", got)
	}
	// Forget on one instance is seen by the other.
	if err := b.Forget(ctx, numA); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Inspect(ctx, numA); err != nil || got.Status != Unknown {
		t.Errorf("after Forget elsewhere: %+v, %v", got, err)
	}
}

// A Redis that goes away costs at most the store timeout and the answer falls through.
func TestPresenceRedisDown(t *testing.T) {
	srv := redistest.Server(t)
	cfg := testConfig()
	cfg.Presence.StoreTimeout = 50 * time.Millisecond
	cfg.Presence.Allow = []string{numA}
	c, _ := newChain(t, cfg, storeFacts{newRedis(t, srv.URL(), redistest.Prefix(t))})
	srv.Stop()
	start := time.Now()
	if got := status(t, c, numA); got.Status != Yes || got.Source != SourceStatic {
		t.Errorf("answer with Redis down = %+v, want the static list", got)
	}
	if took := time.Since(start); took > cfg.Presence.Budget+100*time.Millisecond {
		t.Errorf("took %s with Redis down", took)
	}
}

// BenchmarkPresenceStatusRedis is BenchmarkPresenceStatus on a real redis-server.
func BenchmarkPresenceStatusRedis(b *testing.B) {
	benchStatus(b, storeFacts{newRedis(b, redistest.Start(b), redistest.Prefix(b))})
}
