package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// backend is what the webhook and consumers need from a store.
type backend interface {
	store.Streams
	store.Once
}

func newMem(t testing.TB) backend {
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	return m
}

// recorder is a handler that records every event key it completed.
type recorder struct {
	mu   sync.Mutex
	done map[string]int
}

func newRecorder() *recorder { return &recorder{done: map[string]int{}} }

func (r *recorder) handle(_ context.Context, e whatsapp.Event) error {
	r.mu.Lock()
	r.done[e.Key()]++
	r.mu.Unlock()
	return nil
}

func (r *recorder) snapshot() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.done {
		out[k] = v
	}
	return out
}

func eventsMetric(t testing.TB, reg *prometheus.Registry, kind, result string) float64 {
	t.Helper()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "webhook_events_total",
		Help: "Webhook events by kind and result (enqueued, enqueue_error, processed, duplicate, handler_error, dropped)."}, []string{"kind", "result"})
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("events metric not registered: %v", err)
	}
	return testutil.ToFloat64(are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(kind, result))
}

func runConsumer(t testing.TB, c *whatsapp.Consumer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer %s: %v", c.Name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("consumer %s did not stop", c.Name)
		}
	}
}

// Meta delivering the same webhook three times, to two consumers: each event has one effect.
func testDuplicatesProcessedOnce(t *testing.T, newBackend func(testing.TB) backend) {
	b := newBackend(t)
	q := whatsapp.AdaptStreams(b, toQueue)
	reg := prometheus.NewRegistry()
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, reg)
	bodies := [][]byte{webhookFixture(t, "batch.json"), webhookFixture(t, "status_sent.json"), webhookFixture(t, "status_delivered.json"), webhookFixture(t, "button.json")}
	total := 0
	for range 3 {
		for _, body := range bodies {
			if w := post(h, body, whatsapp.Sign(secret, body)); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			evs, _ := whatsapp.ParseWebhook(body)
			total += len(evs)
		}
	}
	rec := newRecorder()
	metrics := whatsapp.NewConsumerMetrics(reg)
	var stops []func()
	for i := range 2 {
		stops = append(stops, runConsumer(t, &whatsapp.Consumer{Queue: q, Deduper: b, Handler: rec.handle, Group: "g", Name: fmt.Sprint("c", i),
			Metrics: metrics, Block: 20 * time.Millisecond, Batch: 3}))
	}
	testkit.Eventually(t, 10*time.Second, "all entries consumed", func() bool {
		n := 0.0
		for _, k := range []string{"message", "status", "template"} {
			n += eventsMetric(t, reg, k, "processed") + eventsMetric(t, reg, k, "duplicate")
		}
		return int(n) == total
	})
	for _, stop := range stops {
		stop()
	}
	got := rec.snapshot()
	want := []string{"msg:wamid.batch.1", "msg:wamid.batch.2", "status:wamid.batch.out:delivered",
		"status:wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA:sent",
		"status:wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA:delivered",
		"msg:wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzMSG02NjU5OUFFRTAzODEwMTQ0RgA=",
		"template:594425479261596:APPROVED:"}
	if len(got) != len(want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	for _, k := range want {
		if got[k] != 1 {
			t.Errorf("%s handled %d times", k, got[k])
		}
	}
	if d := eventsMetric(t, reg, "message", "duplicate") + eventsMetric(t, reg, "status", "duplicate") + eventsMetric(t, reg, "template", "duplicate"); int(d) != total-len(want) {
		t.Errorf("duplicates counted %v, want %d", d, total-len(want))
	}
}

// A consumer dies in the middle of its batch; another claims what it left pending and each event
// gets exactly one completed handler run.
func testKilledConsumerPickedUp(t *testing.T, newBackend func(testing.TB) backend) {
	b := newBackend(t)
	q := whatsapp.AdaptStreams(b, toQueue)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
	for _, f := range []string{"text.json", "button.json", "status_sent.json", "status_delivered.json", "status_read.json"} {
		body := webhookFixture(t, f)
		if w := post(h, body, whatsapp.Sign(secret, body)); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	}
	started := make(chan struct{}, 10)
	dying := &whatsapp.Consumer{Queue: q, Deduper: b, Group: "g", Name: "dying", Batch: 10, Block: 20 * time.Millisecond,
		Handler: func(ctx context.Context, e whatsapp.Event) error {
			started <- struct{}{}
			<-ctx.Done() // stuck until the process "dies"
			return ctx.Err()
		}}
	stopDying := runConsumer(t, dying)
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("first consumer never got an event")
	}
	stopDying()

	rec := newRecorder()
	survivor := &whatsapp.Consumer{Queue: q, Deduper: b, Handler: rec.handle, Group: "g", Name: "survivor",
		Block: 20 * time.Millisecond, ClaimIdle: 200 * time.Millisecond, ClaimEvery: 50 * time.Millisecond}
	stop := runConsumer(t, survivor)
	testkit.Eventually(t, 10*time.Second, "survivor to handle all 5 events", func() bool { return len(rec.snapshot()) == 5 })
	time.Sleep(300 * time.Millisecond) // a second claim round must not run anything again
	stop()
	for k, n := range rec.snapshot() {
		if n != 1 {
			t.Errorf("%s handled %d times", k, n)
		}
	}
	// Nothing is left pending.
	left, err := q.StreamClaim(context.Background(), whatsapp.DefaultStream, "g", "inspector", 0, 100)
	if err != nil || len(left) != 0 {
		t.Errorf("pending after recovery: %d (%v)", len(left), err)
	}
}

// A failing handler is retried (after ClaimIdle) until it succeeds; one that always fails is
// dropped after MaxAttempts and acknowledged.
func testHandlerFailures(t *testing.T, newBackend func(testing.TB) backend) {
	b := newBackend(t)
	q := whatsapp.AdaptStreams(b, toQueue)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
	for _, f := range []string{"text.json", "status_failed.json"} {
		body := webhookFixture(t, f)
		post(h, body, whatsapp.Sign(secret, body))
	}
	if _, err := q.StreamAdd(context.Background(), whatsapp.DefaultStream, []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	calls := map[string]int{}
	c := &whatsapp.Consumer{Queue: q, Deduper: b, Group: "g", Name: "c", Metrics: whatsapp.NewConsumerMetrics(reg), MaxAttempts: 3,
		Block: 10 * time.Millisecond, ClaimIdle: 30 * time.Millisecond, ClaimEvery: 10 * time.Millisecond,
		Handler: func(_ context.Context, e whatsapp.Event) error {
			mu.Lock()
			defer mu.Unlock()
			calls[e.Kind]++
			if e.Kind == "message" && calls[e.Kind] == 1 {
				return errors.New("store hiccup")
			}
			if e.Kind == "status" {
				return errors.New("always broken")
			}
			return nil
		}}
	stop := runConsumer(t, c)
	testkit.Eventually(t, 10*time.Second, "retry and drop", func() bool {
		return eventsMetric(t, reg, "message", "processed") == 1 && eventsMetric(t, reg, "status", "dropped") == 1 &&
			eventsMetric(t, reg, "unknown", "dropped") == 1
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if calls["message"] != 2 || calls["status"] != 3 {
		t.Errorf("calls %v, want message 2 (fail, succeed) and status 3 (MaxAttempts)", calls)
	}
	left, _ := q.StreamClaim(context.Background(), whatsapp.DefaultStream, "g", "inspector", 0, 100)
	if len(left) != 0 {
		t.Errorf("%d entries left pending", len(left))
	}
}

func TestConsumerMemory(t *testing.T) {
	t.Run("duplicates processed once", func(t *testing.T) { testDuplicatesProcessedOnce(t, newMem) })
	t.Run("killed consumer picked up", func(t *testing.T) { testKilledConsumerPickedUp(t, newMem) })
	t.Run("handler failures", func(t *testing.T) { testHandlerFailures(t, newMem) })
}

func TestConsumerNeedsConfig(t *testing.T) {
	err := (&whatsapp.Consumer{}).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Errorf("err = %v", err)
	}
}

func TestConsumerSurvivesHandlerPanic(t *testing.T) {
	b := newMem(t)
	q := whatsapp.AdaptStreams(b, toQueue)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
	for _, f := range []string{"text.json", "image.json"} {
		body := webhookFixture(t, f)
		post(h, body, whatsapp.Sign(secret, body))
	}
	rec := newRecorder()
	c := &whatsapp.Consumer{Queue: q, Deduper: b, Name: "c", MaxAttempts: 1, Block: 10 * time.Millisecond,
		Handler: func(ctx context.Context, e whatsapp.Event) error {
			if e.Message.Type == "text" {
				panic("bug in a handler")
			}
			return rec.handle(ctx, e)
		}}
	stop := runConsumer(t, c)
	testkit.Eventually(t, 10*time.Second, "the event after the panicking one", func() bool { return len(rec.snapshot()) == 1 })
	if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second Run: %v", err)
	}
	stop()
}
