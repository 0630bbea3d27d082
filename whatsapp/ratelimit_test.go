package whatsapp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLocalBucket(t *testing.T) {
	b := NewLocalBucket()
	ctx := context.Background()
	for i := range 3 {
		if ok, _, err := b.Take(ctx, "k", 1, 3); !ok || err != nil {
			t.Fatalf("take %d within burst: ok=%v err=%v", i, ok, err)
		}
	}
	ok, wait, err := b.Take(ctx, "k", 1, 3)
	if ok || err != nil || wait <= 900*time.Millisecond || wait > time.Second {
		t.Fatalf("4th take: ok=%v wait=%v err=%v, want refused with ≈1s wait", ok, wait, err)
	}
	if ok, _, _ := b.Take(ctx, "other", 1, 1); !ok {
		t.Error("buckets are not independent")
	}
	if _, _, err := b.Take(ctx, "bad", 0, 1); err == nil {
		t.Error("rate 0 accepted")
	}
}

func TestLocalBucketPrunesFullBuckets(t *testing.T) {
	b := NewLocalBucket()
	for i := range 3000 {
		_, _, _ = b.Take(context.Background(), "pair:"+string(rune(i)), 1000, 1)
	}
	time.Sleep(5 * time.Millisecond) // every bucket refills
	_, _, _ = b.Take(context.Background(), "trigger", 1, 1)
	for range 1100 {
		_, _, _ = b.Take(context.Background(), time.Now().String(), 1000, 1)
	}
	b.mu.Lock()
	n := len(b.buckets)
	b.mu.Unlock()
	if n >= 3000 {
		t.Errorf("buckets = %d: full buckets are never pruned", n)
	}
}

// The pair limit spaces messages to one recipient; other recipients are not held up.
func TestPairLimitWaits(t *testing.T) {
	g := newGraph(t)
	c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) { cfg.PairPeriod, cfg.PairBurst = 150*time.Millisecond, 1 })
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		if _, err := c.SendText(ctx, "+16505551234", "hi", false); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 280*time.Millisecond {
		t.Errorf("3 messages to one recipient in %v, want ≥ 2 pair periods", el)
	}
	waits := testutil.ToFloat64(c.m.limiterWaits.WithLabelValues("pair"))
	if waits < 2 {
		t.Errorf("pair waits = %v", waits)
	}
	if _, err := c.SendText(ctx, "+16505550000", "hi", false); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(c.m.limiterWaits.WithLabelValues("pair")); n != waits {
		t.Errorf("another recipient waited for a pair token")
	}
	// "+1650..." and "1650..." are one recipient.
	if pairKey("1", "+16505551234") != pairKey("1", "16505551234") {
		t.Error("pair key depends on the + prefix")
	}
}

func TestThroughputLimit(t *testing.T) {
	g := newGraph(t)
	c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) { cfg.Throughput = 20 })
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.SendText(ctx, "+1650555"+string(rune('0'+i%10))+string(rune('0'+i/10)), "hi", false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// burst 20, then 10 more at 20/s ≈ 0.5 s
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("30 messages at 20/s (burst 20) took %v, want ≥ 0.4s", el)
	}
}

func TestRateLimitWaitBeyondDeadlineFailsFast(t *testing.T) {
	g := newGraph(t)
	c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) { cfg.PairPeriod, cfg.PairBurst = 10*time.Second, 1 })
	if _, err := c.SendText(context.Background(), "+16505551234", "first", false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SendText(ctx, "+16505551234", "second", false)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.Bucket != "pair" || rl.Wait < 9*time.Second {
		t.Fatalf("err = %v, want a pair *RateLimitError", err)
	}
	if !IsRetryable(err) {
		t.Error("a rate-limit refusal should be retryable later")
	}
	if el := time.Since(start); el > 250*time.Millisecond {
		t.Errorf("failed after %v, want immediately (deadline 500ms)", el)
	}
	if g.requests() != 1 {
		t.Errorf("requests = %d, want 1", g.requests())
	}
}

type brokenBucket struct{}

func (brokenBucket) Take(context.Context, string, float64, int) (bool, time.Duration, error) {
	return false, 0, errors.New("redis down")
}

func TestBrokenLimiterLetsSendsThrough(t *testing.T) {
	g := newGraph(t)
	c, err := New(ClientConfig{BaseURL: g.srv.URL, PhoneNumberID: "1", AccessToken: "t"}, brokenBucket{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendText(context.Background(), "+16505551234", "hi", false); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(c.m.limiterErrors.WithLabelValues("throughput")); n != 1 {
		t.Errorf("limiter errors = %v", n)
	}
}
