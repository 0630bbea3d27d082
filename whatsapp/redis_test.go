package whatsapp_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/whatsapp"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// newRedis is a redisstore on the shared test redis-server with a key prefix of its own.
func newRedis(t testing.TB) backend {
	t.Helper()
	r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(t), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestConsumerRedis(t *testing.T) {
	t.Run("duplicates processed once", func(t *testing.T) { testDuplicatesProcessedOnce(t, newRedis) })
	t.Run("killed consumer picked up", func(t *testing.T) { testKilledConsumerPickedUp(t, newRedis) })
	t.Run("handler failures", func(t *testing.T) { testHandlerFailures(t, newRedis) })
}

// Two instances sharing the Redis limiter: the pair limit holds across them.
func TestRedisLimiterSharedAcrossInstances(t *testing.T) {
	_, url := newSandbox(t, nil)
	r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(t), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var clients []*whatsapp.Client
	for range 2 {
		c, err := whatsapp.New(whatsapp.ClientConfig{BaseURL: url, PhoneNumberID: sbPhoneID, AccessToken: sbToken,
			PairPeriod: 300 * time.Millisecond, PairBurst: 1}, r, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	start := time.Now()
	for _, c := range clients {
		if _, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate); err != nil {
			t.Fatal(err)
		}
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Errorf("second instance sent after %v, want it to wait for the shared pair bucket", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = clients[0].SendTemplate(ctx, "+966501234567", sbTemplate)
	var rl *whatsapp.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("err = %v, want *RateLimitError (wait beyond the deadline)", err)
	}
}

func BenchmarkWebhookIngestRedis(b *testing.B)   { benchIngest(b, newRedis(b)) }
func BenchmarkWebhookPipelineRedis(b *testing.B) { benchPipeline(b, newRedis(b)) }
