package observed_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/observed"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/deflect/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

// TestSuite: the decorator is faithful, the whole store contract holds through it.
func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		m := memstore.New(memstore.Options{JanitorInterval: 50 * time.Millisecond})
		t.Cleanup(func() { m.Close() })
		return observed.Wrap(m, "store", prometheus.NewRegistry(), observed.Options{})
	})
}

// flaky is a store whose Ping, GetSession and StreamRead fail with err while down is set.
type flaky struct {
	store.Store
	mu    sync.Mutex
	down  bool
	err   error
	calls int // backend calls that reached this store
}

func (f *flaky) set(down bool) { f.mu.Lock(); f.down = down; f.mu.Unlock() }

func (f *flaky) failing() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return f.err
	}
	return nil
}

func (f *flaky) Ping(ctx context.Context) error {
	if err := f.failing(); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

func (f *flaky) GetSession(ctx context.Context, id string) (*store.Session, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	return f.Store.GetSession(ctx, id)
}

func (f *flaky) StreamRead(ctx context.Context, s, g, c string, n int, block time.Duration) ([]store.StreamMessage, error) {
	if err := f.failing(); err != nil {
		return nil, err
	}
	return f.Store.StreamRead(ctx, s, g, c, n, block)
}

func (f *flaky) backendCalls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls }

func newFlaky(t *testing.T, err error) *flaky {
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	return &flaky{Store: m, err: err}
}

func breakerState(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "deflectd_breaker_state" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("deflectd_breaker_state not exposed")
	return 0
}

func TestBreakerTransitions(t *testing.T) {
	ctx := context.Background()
	unavailable := fmt.Errorf("ping: %w", store.ErrUnavailable)
	tests := []struct {
		name     string
		err      error // what the backend returns while down
		wantOpen bool
	}{
		{"unavailable opens", unavailable, true},
		{"not found does not", store.ErrNotFound, false},
		{"conflict does not", store.ErrConflict, false},
		{"other errors do not", errors.New("bad input"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFlaky(t, tt.err)
			reg := prometheus.NewRegistry()
			cooldown := 100 * time.Millisecond
			w := observed.Wrap(f, "store", reg, observed.Options{Failures: 3, Cooldown: cooldown})
			f.set(true)
			for range 3 {
				if err := w.Ping(ctx); !errors.Is(err, tt.err) {
					t.Fatalf("Ping = %v, want %v", err, tt.err)
				}
			}
			if w.Open() != tt.wantOpen {
				t.Fatalf("open after 3 failures = %v, want %v", w.Open(), tt.wantOpen)
			}
			if !tt.wantOpen {
				if got := breakerState(t, reg); got != 0 {
					t.Errorf("breaker_state = %v, want 0", got)
				}
				return
			}
			if got := breakerState(t, reg); got != 2 {
				t.Errorf("breaker_state = %v, want 2 (open)", got)
			}
			// Open: no backend call, ErrUnavailable at once.
			before := f.backendCalls()
			if _, err := w.GetSession(ctx, "x"); !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("GetSession while open = %v, want ErrUnavailable", err)
			}
			if f.backendCalls() != before {
				t.Errorf("open breaker let a call through to the backend")
			}
			if got := errCount(t, reg, "get_session", observed.KindBreakerOpen); got != 1 {
				t.Errorf("errors_total{op=get_session,kind=breaker_open} = %v, want 1", got)
			}
			// After the cool-down one probe goes through; a failed probe opens it again.
			time.Sleep(cooldown + 20*time.Millisecond)
			if got := w.State(); got != "half-open" {
				t.Fatalf("state after cool-down = %q, want half-open", got)
			}
			if got := breakerState(t, reg); got != 1 {
				t.Errorf("breaker_state = %v, want 1 (half-open)", got)
			}
			if err := w.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("probe = %v", err)
			}
			if !w.Open() {
				t.Fatal("failed probe did not reopen the breaker")
			}
			// Backend back: the next probe closes it.
			f.set(false)
			time.Sleep(cooldown + 20*time.Millisecond)
			if err := w.Ping(ctx); err != nil {
				t.Fatalf("probe after recovery = %v", err)
			}
			if got := w.State(); got != "closed" {
				t.Errorf("state after a good probe = %q, want closed", got)
			}
			if got := breakerState(t, reg); got != 0 {
				t.Errorf("breaker_state = %v, want 0 (closed)", got)
			}
		})
	}
}

// errCount reads deflectd_store_errors_total{op,kind} (0 when absent).
func errCount(t *testing.T, reg *prometheus.Registry, op, kind string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "deflectd_store_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["op"] == op && labels["kind"] == kind {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	reg := prometheus.NewRegistry()
	w := observed.Wrap(m, "store", reg, observed.Options{})

	if _, err := w.GetSession(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession = %v", err)
	}
	s := &store.Session{ID: "s1", CallID: "c1"}
	if err := w.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateSession(ctx, s); !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateSession = %v", err)
	}
	abort := errors.New("leave it")
	if _, err := w.UpdateSession(ctx, "s1", func(*store.Session) error { return abort }); !errors.Is(err, abort) {
		t.Fatalf("UpdateSession = %v", err)
	}
	// A blocking read that times out empty: not a latency sample.
	if _, err := w.StreamRead(ctx, "st", "g", "c", 1, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, op, kind string
		want           float64
	}{
		{"not found is not an error", "get_session", "not_found", 0},
		{"exists counted as conflict", "create_session", observed.KindConflict, 1},
		{"fn's own abort is not a store error", "update_session", observed.KindOther, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errCount(t, reg, tt.op, tt.kind); got != tt.want {
				t.Errorf("errors_total{op=%s,kind=%s} = %v, want %v", tt.op, tt.kind, got, tt.want)
			}
		})
	}
	text := gatherText(t, reg)
	for _, want := range []string{
		`deflectd_store_not_found_total{op="get_session"} 1`,
		`deflectd_store_operation_seconds_count{op="get_session"} 1`,
		`deflectd_store_operation_seconds_count{op="create_session"} 2`,
		`deflectd_breaker_state{breaker="store"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(text, `deflectd_store_operation_seconds_count{op="stream_read"} 0`) {
		t.Errorf("a blocking stream read was observed as latency")
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			var v float64
			name := mf.GetName()
			switch {
			case m.GetCounter() != nil:
				v = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				v = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				name += "_count"
				v = float64(m.GetHistogram().GetSampleCount())
			}
			fmt.Fprintf(&b, "%s{%s} %g\n", name, strings.Join(labels, ","), v)
		}
	}
	return b.String()
}

// TestHalfOpenReadDoesNotBlock: while half-open, a blocking stream read is the probe and returns
// at once, so it cannot hold the other calls back for its whole block time.
func TestHalfOpenReadDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	f := newFlaky(t, store.ErrUnavailable)
	w := observed.Wrap(f, "store", nil, observed.Options{Failures: 1, Cooldown: 50 * time.Millisecond})
	f.set(true)
	_ = w.Ping(ctx)
	if !w.Open() {
		t.Fatal("not open")
	}
	f.set(false)
	time.Sleep(70 * time.Millisecond)
	start := time.Now()
	if _, err := w.StreamRead(ctx, "st", "g", "c", 1, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("half-open blocking read took %v", d)
	}
	if got := w.State(); got != "closed" {
		t.Errorf("state = %q after a good probe, want closed", got)
	}
}

// TestCancelledCallerIsNotAFailure: a caller giving up is no evidence against the backend.
func TestCancelledCallerIsNotAFailure(t *testing.T) {
	f := newFlaky(t, store.ErrUnavailable)
	w := observed.Wrap(f, "store", nil, observed.Options{Failures: 2})
	f.set(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 5 {
		_ = w.Ping(ctx)
	}
	if w.Open() {
		t.Error("cancelled calls opened the breaker")
	}
}

// TestRedisStopRestart: a real redis-server goes away and comes back.
func TestRedisStopRestart(t *testing.T) {
	srv := redistest.Server(t)
	r, err := redisstore.New(configs.RedisConfig{
		URL: srv.URL(), KeyPrefix: redistest.Prefix(t),
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		PoolSize: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	const failures = 3
	cooldown := 300 * time.Millisecond
	reg := prometheus.NewRegistry()
	w := observed.Wrap(r, "store", reg, observed.Options{Failures: failures, Cooldown: cooldown})
	ctx := context.Background()
	if err := w.Ping(ctx); err != nil {
		t.Fatalf("Ping with Redis up: %v", err)
	}

	srv.Stop()
	n := 0
	for !w.Open() {
		n++
		if n > failures {
			t.Fatalf("breaker still closed after %d failed calls", n-1)
		}
		if _, err := w.SetOnce(ctx, "k", time.Minute); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("SetOnce with Redis down = %v, want ErrUnavailable", err)
		}
	}
	if n != failures {
		t.Errorf("opened after %d failures, want %d", n, failures)
	}

	// Open: every call fails at once.
	for range 20 {
		start := time.Now()
		_, err := w.GetSession(ctx, "x")
		if d := time.Since(start); d > 5*time.Millisecond {
			t.Errorf("call while open took %v, want < 5ms", d)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("GetSession while open = %v", err)
		}
	}
	if got := breakerState(t, reg); got != 2 {
		t.Errorf("breaker_state = %v, want 2", got)
	}

	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(cooldown + 5*time.Second)
	for w.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("store not usable again %v after restart (state %s)", cooldown+5*time.Second, w.State())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := w.State(); got != "closed" {
		t.Errorf("state after recovery = %q", got)
	}
	if first, err := w.SetOnce(ctx, "k", time.Minute); err != nil || !first {
		t.Errorf("SetOnce after recovery = %v, %v", first, err)
	}
	if got := breakerState(t, reg); got != 0 {
		t.Errorf("breaker_state = %v, want 0", got)
	}
}

// BenchmarkOverhead compares memstore with and without the decorator on the hot paths.
func BenchmarkOverhead(b *testing.B) {
	for _, wrap := range []bool{false, true} {
		b.Run(fmt.Sprintf("wrapped=%v", wrap), func(b *testing.B) {
			storetest.Bench(b, func(b *testing.B) store.Store {
				m := memstore.New(memstore.Options{})
				b.Cleanup(func() { m.Close() })
				if !wrap {
					return m
				}
				return observed.Wrap(m, "store", prometheus.NewRegistry(), observed.Options{})
			})
		})
	}
}
