package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// TokenBucket is the limiter the client needs; deflect/store's Limiter satisfies it (memstore for
// one process, redisstore shared by every instance).
type TokenBucket interface {
	// Take takes one token from bucket key (rate tokens per second, burst capacity). When none is
	// available it takes nothing and returns how long until one will be.
	Take(ctx context.Context, key string, rate float64, burst int) (ok bool, wait time.Duration, err error)
}

// LocalBucket is an in-process TokenBucket on golang.org/x/time/rate, for tests and single
// instances.
type LocalBucket struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
	puts    int
}

// NewLocalBucket returns an empty in-process TokenBucket.
func NewLocalBucket() *LocalBucket { return &LocalBucket{buckets: map[string]*rate.Limiter{}} }

var _ TokenBucket = (*LocalBucket)(nil)

// Take implements TokenBucket.
func (b *LocalBucket) Take(_ context.Context, key string, r float64, burst int) (bool, time.Duration, error) {
	if r <= 0 || burst <= 0 {
		return false, 0, errors.New("take token: rate and burst must be positive")
	}
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.buckets[key]
	if !ok {
		b.prune(now)
		l = rate.NewLimiter(rate.Limit(r), burst)
		b.buckets[key] = l
	} else if l.Limit() != rate.Limit(r) || l.Burst() != burst {
		l.SetLimitAt(now, rate.Limit(r))
		l.SetBurstAt(now, burst)
	}
	res := l.ReserveN(now, 1)
	if !res.OK() {
		return false, 0, errors.New("take token: burst too small")
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// prune drops full buckets now and then, so per-recipient keys do not accumulate forever. A full
// bucket is indistinguishable from a new one.
func (b *LocalBucket) prune(now time.Time) {
	b.puts++
	if b.puts < 1024 {
		return
	}
	b.puts = 0
	for k, l := range b.buckets {
		if l.TokensAt(now) >= float64(l.Burst()) {
			delete(b.buckets, k)
		}
	}
}

// waitToken takes a token from key, sleeping as the bucket says, and fails fast with a
// *RateLimitError when the wait would outlast ctx's deadline. A broken bucket (store down) lets
// the send through: Meta enforces its limits anyway and answers 130429/131056, which we retry.
func (c *Client) waitToken(ctx context.Context, bucket, key string, r float64, burst int) error {
	var waited time.Duration
	defer func() {
		if waited > 0 {
			c.m.limiterWait.WithLabelValues(bucket).Observe(waited.Seconds())
		}
	}()
	for {
		ok, wait, err := c.limiter.Take(ctx, key, r, burst)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.m.limiterErrors.WithLabelValues(bucket).Inc()
			c.log.Warn("rate limiter unavailable, sending without it", "bucket", bucket, "err", err)
			return nil
		}
		if ok {
			return nil
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < wait {
			c.m.limiterRejects.WithLabelValues(bucket).Inc()
			return &RateLimitError{Bucket: bucket, Wait: wait}
		}
		c.m.limiterWaits.WithLabelValues(bucket).Inc()
		if wait <= 0 {
			wait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
			waited += wait
		}
	}
}

// pairKey names the per-recipient bucket without putting the phone number in a Redis key.
func pairKey(phoneNumberID, to string) string {
	h := sha256.Sum256([]byte(strings.TrimPrefix(to, "+")))
	return "wa:pair:" + phoneNumberID + ":" + hex.EncodeToString(h[:10])
}
