package whatsapp_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const (
	sbPhoneID = "100000000000001"
	sbToken   = "sandbox-token"
)

var sbTemplate = whatsapp.Template{Name: "call_deflection", Language: "en", BodyParams: []string{"Billing"}, QuickReplyPayloads: []string{"yes", "no"}}

func newSandbox(t *testing.T, mod func(*sandbox.Config)) (*sandbox.Sandbox, string) {
	t.Helper()
	cfg := sandbox.Config{
		PhoneNumberID: sbPhoneID, AccessToken: sbToken, AppSecret: secret,
		Templates: []configs.TemplateDef{{Name: "call_deflection", Languages: []string{"en"}, BodyParams: 1, Buttons: 2}},
	}
	if mod != nil {
		mod(&cfg)
	}
	sb := sandbox.New(cfg, nil)
	sb.Start(t.Context())
	t.Cleanup(sb.Close)
	srv := httptest.NewServer(sb.Handler())
	t.Cleanup(srv.Close)
	return sb, srv.URL + "/v23.0"
}

func sandboxClient(t *testing.T, baseURL string, reg prometheus.Registerer, mod func(*whatsapp.ClientConfig)) *whatsapp.Client {
	t.Helper()
	cfg := whatsapp.ClientConfig{BaseURL: baseURL, PhoneNumberID: sbPhoneID, AccessToken: sbToken, MaxRetries: 3,
		Timeout: 5 * time.Second, BackoffBase: 2 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Throughput: 1000, PairPeriod: time.Millisecond, PairBurst: 10}
	if mod != nil {
		mod(&cfg)
	}
	c, err := whatsapp.New(cfg, whatsapp.NewLocalBucket(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// counter sums a counter family's series whose labels include all of want.
func counter(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// The sandbox refuses the first sends with an injected error; the client retries and the phone
// gets the message exactly once.
func TestSandboxInjectedFailuresRetried(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		count   int
		retries int
		ok      bool
	}{
		{"throughput 130429 twice", 130429, 2, 3, true},
		{"pair limit 131056 once", 131056, 1, 3, true},
		{"server error 500 twice", 500, 2, 3, true},
		{"500 more often than retries", 500, 5, 2, false},
		{"template missing is not retried", 132001, 1, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb, url := newSandbox(t, nil)
			reg := prometheus.NewRegistry()
			c := sandboxClient(t, url, reg, func(cfg *whatsapp.ClientConfig) { cfg.MaxRetries = tt.retries })
			sb.InjectFailure(tt.code, tt.count)
			_, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			sent := len(sb.Sent("966501234567"))
			if tt.ok && sent != 1 || !tt.ok && sent != 0 {
				t.Errorf("the phone got %d messages", sent)
			}
			retries := counter(t, reg, "deflectd_whatsapp_api_retries_total", nil)
			wantRetries := min(tt.count, tt.retries)
			if tt.code == 132001 {
				wantRetries = 0
				if whatsapp.ClassOf(err) != whatsapp.Config || counter(t, reg, "deflectd_whatsapp_config_alarms_total", nil) != 1 {
					t.Errorf("132001: class %v, no config alarm", whatsapp.ClassOf(err))
				}
			}
			// Every refusal is counted once, under its own code when the table knows it.
			wantLabel := strconv.Itoa(tt.code)
			if tt.code == 500 {
				wantLabel = "131000" // Meta's (and the sandbox's) code for a 500
			}
			if got := counter(t, reg, "deflectd_whatsapp_errors_total", map[string]string{"code": wantLabel}); int(got) != min(tt.count, tt.retries+1) {
				t.Errorf("errors_total{code=%q} = %v, want %d", wantLabel, got, min(tt.count, tt.retries+1))
			}
			if int(retries) != wantRetries {
				t.Errorf("retries = %v, want %d", retries, wantRetries)
			}
		})
	}
}

// With the client's limits set to the sandbox's, sends wait instead of being refused by Meta.
func TestSandboxLimitsRespected(t *testing.T) {
	t.Run("throughput", func(t *testing.T) {
		sb, url := newSandbox(t, func(c *sandbox.Config) { c.Throughput, c.ThroughputBurst = 20, 20 })
		reg := prometheus.NewRegistry()
		c := sandboxClient(t, url, reg, func(cfg *whatsapp.ClientConfig) { cfg.Throughput = 20; cfg.MaxRetries = 0 })
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.SendTemplate(context.Background(), "+9665012345"+string(rune('0'+i/10))+string(rune('0'+i%10)), sbTemplate)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
			}
		}
		// Client and sandbox buckets are not in lockstep (network jitter): allow a stray 130429.
		if failed > 1 || len(sb.All()) < 39 {
			t.Errorf("%d failed, sandbox got %d", failed, len(sb.All()))
		}
		if counter(t, reg, "deflectd_whatsapp_limiter_waits_total", map[string]string{"bucket": "throughput"}) == 0 {
			t.Error("the client never waited for a throughput token")
		}
	})
	t.Run("pair", func(t *testing.T) {
		sb, url := newSandbox(t, func(c *sandbox.Config) { c.PairPeriod, c.PairBurst = 150*time.Millisecond, 1 })
		c := sandboxClient(t, url, nil, func(cfg *whatsapp.ClientConfig) {
			cfg.PairPeriod, cfg.PairBurst, cfg.MaxRetries = 160*time.Millisecond, 1, 0
		})
		for i := range 3 {
			if _, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if n := len(sb.Sent("966501234567")); n != 3 {
			t.Errorf("phone got %d", n)
		}
	})
	t.Run("pair without the client limiter is refused by the sandbox", func(t *testing.T) {
		_, url := newSandbox(t, func(c *sandbox.Config) { c.PairPeriod, c.PairBurst = time.Second, 1 })
		c := sandboxClient(t, url, nil, func(cfg *whatsapp.ClientConfig) { cfg.MaxRetries = 0 })
		if _, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate); err != nil {
			t.Fatal(err)
		}
		_, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate)
		if !whatsapp.IsRetryable(err) {
			t.Errorf("err = %v, want a retryable 131056", err)
		}
	})
}

// Sandbox status webhooks → our receiver → queue → consumer: sent, delivered and read each once.
func TestSandboxStatusesThroughConsumer(t *testing.T) {
	b := newMem(t)
	q := whatsapp.AdaptStreams(b, toQueue)
	recv := httptest.NewServer(whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil))
	t.Cleanup(recv.Close)
	sb, url := newSandbox(t, func(c *sandbox.Config) { c.WebhookURL, c.StatusDelay = recv.URL, 5*time.Millisecond })
	c := sandboxClient(t, url, nil, nil)
	res, err := c.SendTemplate(context.Background(), "+966501234567", sbTemplate)
	if err != nil {
		t.Fatal(err)
	}
	_ = sb
	rec := newRecorder()
	stop := runConsumer(t, &whatsapp.Consumer{Queue: q, Deduper: b, Handler: rec.handle, Name: "c", Block: 10 * time.Millisecond})
	want := []string{"status:" + res.MessageID + ":sent", "status:" + res.MessageID + ":delivered", "status:" + res.MessageID + ":read"}
	testkit.Eventually(t, 10*time.Second, "sent, delivered, read", func() bool {
		got := rec.snapshot()
		for _, k := range want {
			if got[k] != 1 {
				return false
			}
		}
		return true
	})
	stop()
}
