package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deploy/testkit"
)

const (
	numA = "+966501234567"
	numB = "+966501234568"
	numC = "+966501234569"
)

func testConfig() configs.LookupConfig {
	cfg := configs.Default().Lookup
	cfg.Presence.Budget = 300 * time.Millisecond
	return cfg
}

func newMem(t *testing.T) Facts {
	t.Helper()
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	return storeFacts{m}
}

func newChain(t *testing.T, cfg configs.LookupConfig, facts Facts, opts ...Option) (*Chain, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts = append([]Option{WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	c, err := NewPresence(cfg, facts, reg, opts...)
	if err != nil {
		t.Fatalf("NewPresence: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, reg
}

// fakeChecker is an httptest server answering from a map (E.164 → status code/body).
type fakeChecker struct {
	*httptest.Server
	hits     atomic.Int64
	mu       sync.Mutex
	answers  map[string]string // number → "yes" | "no" | "404" | "500" | "garbage"
	fallback string
	auth     atomic.Value // last Authorization header
}

func newFakeChecker(t *testing.T, answers map[string]string) *fakeChecker {
	f := &fakeChecker{answers: answers, fallback: "404"}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.auth.Store(r.Header.Get("Authorization"))
		f.mu.Lock()
		a, ok := f.answers[r.URL.Query().Get("number")]
		if !ok {
			a = f.fallback
		}
		f.mu.Unlock()
		switch a {
		case "yes":
			fmt.Fprint(w, `{"whatsapp": true}`)
		case "no":
			fmt.Fprint(w, `{"whatsapp": false, "checked_at": "2026-01-01"}`)
		case "404":
			http.NotFound(w, r)
		case "garbage":
			fmt.Fprint(w, `{"on_whatsapp": "perhaps"}`)
		case "hang":
			<-r.Context().Done()
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeChecker) setFallback(answer string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fallback = answer
}

func status(t *testing.T, c *Chain, e164 string) Answer {
	t.Helper()
	a, err := c.Status(context.Background(), e164)
	if err != nil {
		t.Fatalf("Status(%s): %v", e164, err)
	}
	return a
}

func TestPresenceSourcesAlone(t *testing.T) {
	t.Run("nothing configured", func(t *testing.T) {
		c, _ := newChain(t, testConfig(), nil)
		if a := status(t, c, numA); a.Status != Unknown || a.Source != "" {
			t.Errorf("answer = %+v, want unknown", a)
		}
	})
	t.Run("learned facts in the store", func(t *testing.T) {
		c, _ := newChain(t, testConfig(), newMem(t))
		ctx := context.Background()
		if err := c.Learn(ctx, numA, true, ""); err != nil {
			t.Fatal(err)
		}
		if err := c.Learn(ctx, numB, false, "learned:131026"); err != nil {
			t.Fatal(err)
		}
		a := status(t, c, numA)
		if a.Status != Yes || a.Source != SourceLearned || a.Since.IsZero() || time.Until(a.Expires) < 89*24*time.Hour {
			t.Errorf("learned yes = %+v, want yes/learned with the yes_ttl", a)
		}
		b := status(t, c, numB)
		if b.Status != No || b.Source != "learned:131026" || time.Until(b.Expires) > 31*24*time.Hour {
			t.Errorf("learned no = %+v, want no/learned:131026 with the no_ttl", b)
		}
		if a := status(t, c, numC); a.Status != Unknown {
			t.Errorf("unknown number = %+v", a)
		}
	})
	t.Run("static lists from config", func(t *testing.T) {
		cfg := testConfig()
		cfg.Presence.Allow = []string{numA, "050 123 4568"}
		cfg.Presence.Deny = []string{numC, numB} // deny wins over allow
		c, _ := newChain(t, cfg, nil)
		for n, want := range map[string]Status{numA: Yes, numB: No, numC: No, "+966501234570": Unknown} {
			a := status(t, c, n)
			if a.Status != want {
				t.Errorf("%s = %+v, want %s", n, a, want)
			}
			if want != Unknown && a.Source != SourceStatic {
				t.Errorf("%s source = %q, want static", n, a.Source)
			}
		}
	})
	t.Run("http checker", func(t *testing.T) {
		fc := newFakeChecker(t, map[string]string{numA: "yes", numB: "no", numC: "404"})
		cfg := testConfig()
		cfg.Presence.HTTP.URL = fc.URL + "/presence?tenant=1"
		cfg.Presence.HTTP.Token = "s3cret"
		c, _ := newChain(t, cfg, nil)
		for n, want := range map[string]Status{numA: Yes, numB: No, numC: Unknown} {
			if a := status(t, c, n); a.Status != want || (want != Unknown && a.Source != SourceChecker) {
				t.Errorf("%s = %+v, want %s from the checker", n, a, want)
			}
		}
		if got := fc.auth.Load(); got != "Bearer s3cret" {
			t.Errorf("Authorization = %q", got)
		}
	})
}

func TestPresenceOrder(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{numA: "yes", numB: "yes", numC: "no"})
	mem := newMem(t)
	cfg := testConfig()
	cfg.Presence.HTTP.URL = fc.URL
	cfg.Presence.Allow = []string{numA, numB}
	c, _ := newChain(t, cfg, mem)
	ctx := context.Background()

	// The store first: a learned "no" beats the static allow and the checker's yes.
	if err := c.Learn(ctx, numA, false, ""); err != nil {
		t.Fatal(err)
	}
	if a := status(t, c, numA); a.Status != No || a.Source != SourceLearned {
		t.Errorf("store first: %+v", a)
	}
	// Then the static list, before the checker.
	if a := status(t, c, numB); a.Status != Yes || a.Source != SourceStatic {
		t.Errorf("static second: %+v", a)
	}
	if fc.hits.Load() != 0 {
		t.Errorf("checker asked %d times although earlier sources knew", fc.hits.Load())
	}
	// The checker last, and its answer is cached in the store with the negative TTL.
	if a := status(t, c, numC); a.Status != No || a.Source != SourceChecker {
		t.Errorf("checker last: %+v", a)
	}
	c.bg.Wait() // the cache write is off the call path
	f, err := mem.GetPresence(ctx, numC)
	if err != nil {
		t.Fatalf("checker answer not cached: %v", err)
	}
	if f.Source != SourceChecker || f.Status != "no" || time.Until(f.Expires) > cfg.Presence.HTTP.NegativeTTL || time.Until(f.Expires) < cfg.Presence.HTTP.NegativeTTL-time.Minute {
		t.Errorf("cached fact = %+v, want no/http-checker with negative_ttl", f)
	}
	if a := status(t, c, numC); a.Status != No || a.Source != SourceChecker || fc.hits.Load() != 1 {
		t.Errorf("second lookup = %+v after %d checker hits, want the cached answer", a, fc.hits.Load())
	}
	// Forget drops the learned fact: the static list answers again.
	if err := c.Forget(ctx, numA); err != nil {
		t.Fatal(err)
	}
	if a := status(t, c, numA); a.Status != Yes || a.Source != SourceStatic {
		t.Errorf("after Forget: %+v", a)
	}
}

func TestPresencePositiveCacheTTL(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{numA: "yes"})
	mem := newMem(t)
	cfg := testConfig()
	cfg.Presence.HTTP.URL = fc.URL
	c, _ := newChain(t, cfg, mem)
	status(t, c, numA)
	c.bg.Wait()
	f, err := mem.GetPresence(context.Background(), numA)
	if err != nil || f.Status != "yes" {
		t.Fatalf("cached = %+v, %v", f, err)
	}
	if d := time.Until(f.Expires); d > cfg.Presence.HTTP.PositiveTTL || d < cfg.Presence.HTTP.PositiveTTL-time.Minute {
		t.Errorf("positive TTL = %s, want %s", d, cfg.Presence.HTTP.PositiveTTL)
	}
}

func TestPresenceBudgetWithHangingChecker(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{})
	fc.setFallback("hang")
	cfg := testConfig()
	cfg.Presence.Budget = 150 * time.Millisecond
	cfg.Presence.HTTP.Timeout = 5 * time.Second // the budget, not the checker timeout, must stop it
	cfg.Presence.HTTP.URL = fc.URL
	c, reg := newChain(t, cfg, newMem(t))
	for i := range 3 {
		start := time.Now()
		a := status(t, c, numA)
		took := time.Since(start)
		if a.Status != Unknown {
			t.Errorf("answer = %+v, want unknown", a)
		}
		if took > cfg.Presence.Budget+100*time.Millisecond {
			t.Errorf("lookup %d took %s, budget %s", i, took, cfg.Presence.Budget)
		}
	}
	if n := testutil.ToFloat64(c.m.sourceErrors.WithLabelValues("checker", "timeout")); n != 3 {
		t.Errorf("checker timeouts counted = %v, want 3", n)
	}
	if n, err := testutil.GatherAndCount(reg, "deflectd_presence_lookups_total"); err != nil || n == 0 {
		t.Errorf("lookups metric not registered: %d, %v", n, err)
	}
}

// slowFacts is a store that answers only after d (or when ctx ends).
type slowFacts struct {
	d time.Duration
}

func (s slowFacts) GetPresence(ctx context.Context, _ string) (Fact, error) {
	select {
	case <-time.After(s.d):
		return Fact{}, ErrNoFact
	case <-ctx.Done():
		return Fact{}, fmt.Errorf("get presence: %w: %w", store.ErrUnavailable, ctx.Err())
	}
}
func (slowFacts) SetPresence(context.Context, Fact) error      { return nil }
func (slowFacts) DeletePresence(context.Context, string) error { return nil }

func TestPresenceSlowStoreFallsThrough(t *testing.T) {
	cfg := testConfig()
	cfg.Presence.StoreTimeout = 30 * time.Millisecond
	cfg.Presence.Allow = []string{numA}
	c, _ := newChain(t, cfg, slowFacts{d: time.Hour})
	start := time.Now()
	a := status(t, c, numA)
	if a.Status != Yes || a.Source != SourceStatic {
		t.Errorf("answer = %+v, want the static list after the store timed out", a)
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Errorf("took %s with a 30ms store timeout", took)
	}
	if n := testutil.ToFloat64(c.m.sourceErrors.WithLabelValues("store", "timeout")); n != 1 {
		t.Errorf("store timeouts = %v", n)
	}
	// Inspect surfaces the store failure for the API.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Inspect(ctx, numA); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Inspect error = %v, want store.ErrUnavailable", err)
	}
}

func TestPresenceBreaker(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{})
	fc.setFallback("500")
	cfg := testConfig()
	cfg.Presence.HTTP.URL = fc.URL
	cfg.Presence.HTTP.BreakerFailures = 3
	cfg.Presence.HTTP.BreakerCooldown = 200 * time.Millisecond
	c, _ := newChain(t, cfg, nil)
	state := func() float64 { return testutil.ToFloat64(c.m.breakerState) }

	for range 3 {
		if a := status(t, c, numA); a.Status != Unknown {
			t.Fatalf("failing checker answered %+v", a)
		}
	}
	if fc.hits.Load() != 3 || state() != 2 {
		t.Fatalf("after 3 failures: hits %d, breaker state %v; want 3 hits and open (2)", fc.hits.Load(), state())
	}
	// Open: the dead checker costs nothing.
	start := time.Now()
	for range 10 {
		status(t, c, numA)
	}
	if fc.hits.Load() != 3 {
		t.Errorf("open breaker let %d requests through", fc.hits.Load()-3)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("10 lookups with an open breaker took %s", took)
	}
	if n := testutil.ToFloat64(c.m.checkerErrors.WithLabelValues("breaker_open")); n != 10 {
		t.Errorf("breaker_open errors = %v, want 10", n)
	}
	// After the cooldown one probe goes through; a healthy checker closes the breaker.
	fc.setFallback("yes")
	time.Sleep(cfg.Presence.HTTP.BreakerCooldown + 50*time.Millisecond)
	if a := status(t, c, numA); a.Status != Yes {
		t.Errorf("probe answer = %+v, want yes", a)
	}
	if state() != 0 || fc.hits.Load() != 4 {
		t.Errorf("after a good probe: state %v hits %d, want closed (0) and 4", state(), fc.hits.Load())
	}
}

func TestPresenceCheckerErrors(t *testing.T) {
	tests := []struct {
		name, answer, reason string
	}{
		{"server error", "500", "status"},
		{"body without the field", "garbage", "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeChecker(t, map[string]string{numA: tc.answer})
			cfg := testConfig()
			cfg.Presence.HTTP.URL = fc.URL
			c, _ := newChain(t, cfg, nil)
			if a := status(t, c, numA); a.Status != Unknown {
				t.Errorf("answer = %+v, want unknown", a)
			}
			if n := testutil.ToFloat64(c.m.checkerErrors.WithLabelValues(tc.reason)); n != 1 {
				t.Errorf("errors{reason=%s} = %v, want 1", tc.reason, n)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		cfg := testConfig()
		cfg.Presence.HTTP.URL = url
		c, _ := newChain(t, cfg, nil)
		if a := status(t, c, numA); a.Status != Unknown {
			t.Errorf("answer = %+v", a)
		}
		if n := testutil.ToFloat64(c.m.checkerErrors.WithLabelValues("transport")); n != 1 {
			t.Errorf("transport errors = %v", n)
		}
	})
}

func TestPresenceTTLExpiry(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{numB: "yes"})
	cfg := testConfig()
	cfg.Presence.YesTTL = 150 * time.Millisecond
	cfg.Presence.HTTP.URL = fc.URL
	cfg.Presence.HTTP.PositiveTTL = 150 * time.Millisecond
	c, _ := newChain(t, cfg, newMem(t))
	if err := c.Learn(context.Background(), numA, true, ""); err != nil {
		t.Fatal(err)
	}
	if a := status(t, c, numA); a.Status != Yes {
		t.Fatalf("fresh learned fact = %+v", a)
	}
	status(t, c, numB) // cached checker answer
	c.bg.Wait()
	status(t, c, numB)
	if fc.hits.Load() != 1 {
		t.Fatalf("checker hits = %d before expiry, want 1", fc.hits.Load())
	}
	time.Sleep(200 * time.Millisecond)
	if a := status(t, c, numA); a.Status != Unknown {
		t.Errorf("expired learned fact still answers: %+v", a)
	}
	fc.hits.Store(1) // numA just went to the checker (404)
	if a := status(t, c, numB); a.Status != Yes || fc.hits.Load() != 2 {
		t.Errorf("expired cache: answer %+v, checker hits %d; want the checker asked again", a, fc.hits.Load())
	}
}

func TestPresenceListFileReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "presence.txt")
	data, err := os.ReadFile("testdata/presence-list.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Presence.ListFile = path
	cfg.Presence.ListPoll = 20 * time.Millisecond
	c, _ := newChain(t, cfg, nil)
	for n, want := range map[string]Status{
		"+966501230001": Yes, "+966501230002": No, "+966501230003": Yes, "+966501230004": No, "+966501230005": No, "+966501230006": Unknown,
	} {
		if a := status(t, c, n); a.Status != want {
			t.Errorf("%s = %s, want %s", n, a.Status, want)
		}
	}

	// A changed file is picked up by the watcher.
	if err := os.WriteFile(path, []byte("+966501230006 yes\n+966501230001 no\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 3*time.Second, "the presence status", func() bool { return status(t, c, "+966501230006").Status == Yes })
	if a := status(t, c, "+966501230001"); a.Status != No {
		t.Errorf("changed entry = %+v", a)
	}
	if a := status(t, c, "+966501230002"); a.Status != Unknown {
		t.Errorf("removed entry still answers: %+v", a)
	}

	// A broken file keeps the last good list.
	if err := os.WriteFile(path, []byte("+966501230007 yes\nbanana\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.ReloadList(); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ReloadList error = %v, want one naming line 2", err)
	}
	if a := status(t, c, "+966501230006"); a.Status != Yes {
		t.Errorf("broken file replaced the list: %+v", a)
	}
	if a := status(t, c, "+966501230007"); a.Status != Unknown {
		t.Errorf("broken file partly applied: %+v", a)
	}
}

func TestPresenceConstructorErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*configs.LookupConfig)
		want string
	}{
		{"bad allow entry", func(c *configs.LookupConfig) { c.Presence.Allow = []string{"banana"} }, "lookup.presence.allow[0]"},
		{"bad deny entry", func(c *configs.LookupConfig) { c.Presence.Deny = []string{numA, "12"} }, "lookup.presence.deny[1]"},
		{"missing list file", func(c *configs.LookupConfig) { c.Presence.ListFile = "/nonexistent/list" }, "list_file"},
		{"bad checker url", func(c *configs.LookupConfig) { c.Presence.HTTP.URL = "ftp://x" }, "lookup.presence.http.url"},
		{"no budget", func(c *configs.LookupConfig) { c.Presence.Budget = 0 }, "budget"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mod(&cfg)
			_, err := NewPresence(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		c, err := NewPresence(testConfig(), nil, reg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := NewPresence(testConfig(), nil, reg); err == nil {
			t.Error("second registration on the same registry succeeded")
		}
	})
}

func TestPresenceOverrideInspect(t *testing.T) {
	fc := newFakeChecker(t, map[string]string{numA: "yes"})
	cfg := testConfig()
	cfg.Presence.HTTP.URL = fc.URL
	cfg.Presence.Deny = []string{numB}
	c, _ := newChain(t, cfg, newMem(t))
	ctx := context.Background()

	// Inspect never asks the checker.
	if a, err := c.Inspect(ctx, numA); err != nil || a.Status != Unknown || fc.hits.Load() != 0 {
		t.Errorf("Inspect = %+v, %v with %d checker hits; want unknown and no hit", a, err, fc.hits.Load())
	}
	if a, err := c.Inspect(ctx, numB); err != nil || a.Status != No || a.Source != SourceStatic {
		t.Errorf("Inspect static = %+v, %v", a, err)
	}
	if err := c.Override(ctx, numA, No, "", time.Hour); err != nil {
		t.Fatalf("Override: %v", err)
	}
	got, err := c.Inspect(ctx, numA)
	if err != nil || got.Status != No || got.Source != SourceOverride || got.Expires.Sub(got.Since) != time.Hour {
		t.Errorf("Inspect after Override = %+v, %v", got, err)
	}
	if a := status(t, c, numA); a.Status != No || fc.hits.Load() != 0 {
		t.Errorf("Status after Override = %+v (checker hits %d)", a, fc.hits.Load())
	}
	// ttl 0 takes the TTL of the status; the source can be named.
	if err := c.Override(ctx, numC, Yes, "api", 0); err != nil {
		t.Fatal(err)
	}
	if a, err := c.Inspect(ctx, numC); err != nil || a.Source != "api" || a.Expires.Sub(a.Since) != cfg.Presence.YesTTL {
		t.Errorf("Override ttl 0 = %+v, %v", a, err)
	}
	// Unknown forgets.
	if err := c.Override(ctx, numA, Unknown, "", 0); err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Inspect(ctx, numA); a.Status != Unknown {
		t.Errorf("after Override(Unknown) = %+v", a)
	}
	for name, fn := range map[string]func() error{
		"Status":   func() error { _, err := c.Status(ctx, "0501234567"); return err },
		"Inspect":  func() error { _, err := c.Inspect(ctx, "banana"); return err },
		"Override": func() error { return c.Override(ctx, "", Yes, "", 0) },
		"Forget":   func() error { return c.Forget(ctx, "966501234567") },
		"Learn":    func() error { return c.Learn(ctx, "+0", true, "") },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s accepted a non-E.164 number", name)
		}
	}
}

func TestLearnCountsPriorAnswers(t *testing.T) {
	cfg := testConfig()
	cfg.Presence.Allow = []string{numB}
	c, _ := newChain(t, cfg, newMem(t))
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Learn(ctx, numA, true, ""))  // prior unknown
	must(c.Learn(ctx, numA, false, "")) // prior yes (learned)
	must(c.Learn(ctx, numB, false, "")) // prior yes (static)
	for _, tc := range []struct {
		status, prior string
		want          float64
	}{{"yes", "unknown", 1}, {"no", "yes", 2}, {"no", "no", 0}} {
		if got := testutil.ToFloat64(c.m.learned.WithLabelValues(tc.status, tc.prior)); got != tc.want {
			t.Errorf("learned{status=%s,prior=%s} = %v, want %v", tc.status, tc.prior, got, tc.want)
		}
	}
}

// countingFacts counts presence writes.
type countingFacts struct {
	Facts
	mu     sync.Mutex
	writes int
}

func (f *countingFacts) SetPresence(ctx context.Context, p Fact) error {
	f.mu.Lock()
	f.writes++
	f.mu.Unlock()
	return f.Facts.SetPresence(ctx, p)
}

// The same lesson again (delivered, then read, then a reply) writes nothing and counts nothing;
// a different status or source does.
func TestLearnSameLessonOnce(t *testing.T) {
	facts := &countingFacts{Facts: newMem(t)}
	c, _ := newChain(t, testConfig(), facts)
	ctx := context.Background()
	steps := []struct {
		name       string
		yes        bool
		source     string
		wantWrites int
	}{
		{"first yes", true, "", 1},
		{"yes again (read after delivered)", true, "", 1},
		{"yes again, another source", true, "learned:inbound", 2},
		{"no (131026)", false, "", 3},
		{"no again", false, "", 3},
	}
	for _, st := range steps {
		if err := c.Learn(ctx, numA, st.yes, st.source); err != nil {
			t.Fatal(err)
		}
		if facts.writes != st.wantWrites {
			t.Errorf("%s: %d writes, want %d", st.name, facts.writes, st.wantWrites)
		}
	}
	for _, tc := range []struct {
		status, prior string
		want          float64
	}{{"yes", "unknown", 1}, {"yes", "yes", 1}, {"no", "yes", 1}, {"no", "no", 0}} {
		if got := testutil.ToFloat64(c.m.learned.WithLabelValues(tc.status, tc.prior)); got != tc.want {
			t.Errorf("learned{status=%s,prior=%s} = %v, want %v", tc.status, tc.prior, got, tc.want)
		}
	}
}

func TestImportCSV(t *testing.T) {
	f, err := os.Open("testdata/presence-import.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem := newMem(t)
	c, _ := newChain(t, testConfig(), mem)
	var progress []int
	rep, err := c.ImportCSV(context.Background(), f, "SA", func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatalf("ImportCSV: %v", err)
	}
	t.Logf("report: %+v", rep)
	if rep.Stored != 5 || rep.Yes != 3 || rep.No != 2 {
		t.Errorf("stored %d (yes %d, no %d), want 5 (3, 2)", rep.Stored, rep.Yes, rep.No)
	}
	wantInvalid := map[int]string{5: "not a phone number", 6: "whatsapp \"maybe\"", 7: "too short", 9: "whatsapp \"\"", 10: "malformed CSV"}
	if rep.InvalidTotal != len(wantInvalid) || len(rep.Invalid) != len(wantInvalid) {
		t.Fatalf("invalid rows = %+v, want lines %v", rep.Invalid, wantInvalid)
	}
	for _, inv := range rep.Invalid {
		if want, ok := wantInvalid[inv.Line]; !ok || !strings.Contains(inv.Reason, want) {
			t.Errorf("invalid row %+v, want line %d to say %q", inv, inv.Line, want)
		}
		if strings.Contains(inv.Phone, "01234570") {
			t.Errorf("invalid row shows the number unmasked: %+v", inv)
		}
	}
	if len(progress) != rep.Rows || progress[len(progress)-1] != rep.Rows {
		t.Errorf("progress calls %v for %d rows", progress, rep.Rows)
	}
	ctx := context.Background()
	for n, want := range map[string]string{"+966501234567": "yes", "+966501234568": "yes", "+966501234569": "no", "+966501234571": "no", "+447400123456": "yes"} {
		fact, err := mem.GetPresence(ctx, n)
		if err != nil || fact.Status != want || fact.Source != SourceImport {
			t.Errorf("%s: fact %+v, %v; want %s from import", n, fact, err, want)
		}
	}
}

func TestImportCSVBadHeaders(t *testing.T) {
	c, _ := newChain(t, testConfig(), newMem(t))
	for name, in := range map[string]string{
		"empty":          "",
		"no phone":       "number,whatsapp\n+966501234567,yes\n",
		"no whatsapp":    "phone\n+966501234567\n",
		"header is data": "+966501234567,yes\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := c.ImportCSV(context.Background(), strings.NewReader(in), "", nil); err == nil {
				t.Error("accepted")
			}
		})
	}
	t.Run("BOM and case", func(t *testing.T) {
		rep, err := c.ImportCSV(context.Background(), strings.NewReader("\ufeffPHONE , WhatsApp\n0501234567,Y\n"), "", nil)
		if err != nil || rep.Stored != 1 {
			t.Errorf("report %+v, %v", rep, err)
		}
	})
	t.Run("no store", func(t *testing.T) {
		c, _ := newChain(t, testConfig(), nil)
		if _, err := c.ImportCSV(context.Background(), strings.NewReader("phone,whatsapp\n"), "", nil); err == nil {
			t.Error("import without a store succeeded")
		}
	})
}

func TestImportRows(t *testing.T) {
	mem := newMem(t)
	c, _ := newChain(t, testConfig(), mem)
	rep, err := c.ImportRows(context.Background(), []ImportRow{
		{Phone: numA, WhatsApp: true}, {Phone: "nope", WhatsApp: true}, {Phone: "0501234568", WhatsApp: false},
	}, "", nil)
	if err != nil || rep.Stored != 2 || rep.InvalidTotal != 1 || rep.Invalid[0].Line != 2 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	if a := status(t, c, numB); a.Status != No || a.Source != SourceImport {
		t.Errorf("imported fact answers %+v", a)
	}
}

func TestStatusText(t *testing.T) {
	a := Answer{Status: No, Source: SourceStatic}
	b, err := json.Marshal(a)
	if err != nil || !strings.Contains(string(b), `"status":"no"`) {
		t.Fatalf("json = %s, %v", b, err)
	}
	var back Answer
	if err := json.Unmarshal(b, &back); err != nil || back.Status != No {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"status":"maybe"}`), &back); err == nil {
		t.Error("accepted status maybe")
	}
}

// A 404 (the checker has no record) is remembered for not_found_ttl: a caller the CRM does not
// know costs it one request, not one per call; after the TTL it is asked again, and a TTL of 0
// asks every time.
func TestPresenceNotFoundRemembered(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		wantHits int64 // after three lookups
	}{
		{"remembered", time.Hour, 1},
		{"not remembered", 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := newFakeChecker(t, map[string]string{numA: "404"})
			cfg := testConfig()
			cfg.Presence.HTTP.URL = fc.URL
			cfg.Presence.HTTP.NotFoundTTL = tc.ttl
			c, _ := newChain(t, cfg, newMem(t))
			for range 3 {
				if a := status(t, c, numA); a.Status != Unknown {
					t.Fatalf("answer %+v, want unknown", a)
				}
			}
			if got := fc.hits.Load(); got != tc.wantHits {
				t.Errorf("checker asked %d times, want %d", got, tc.wantHits)
			}
		})
	}
	t.Run("asked again after the ttl", func(t *testing.T) {
		fc := newFakeChecker(t, map[string]string{numA: "404"})
		cfg := testConfig()
		cfg.Presence.HTTP.URL = fc.URL
		cfg.Presence.HTTP.NotFoundTTL = 100 * time.Millisecond
		c, _ := newChain(t, cfg, newMem(t))
		status(t, c, numA)
		fc.mu.Lock()
		fc.answers[numA] = "yes" // the CRM learned the number meanwhile
		fc.mu.Unlock()
		if a := status(t, c, numA); a.Status != Unknown || fc.hits.Load() != 1 {
			t.Fatalf("within the ttl: %+v after %d requests, want unknown from memory", a, fc.hits.Load())
		}
		time.Sleep(150 * time.Millisecond)
		if a := status(t, c, numA); a.Status != Yes || fc.hits.Load() != 2 {
			t.Errorf("after the ttl: %+v after %d requests, want yes from the checker", a, fc.hits.Load())
		}
	})
}

func TestNotFoundMemoryIsBounded(t *testing.T) {
	k := &checker{notFoundTTL: time.Hour, notFound: map[string]time.Time{}}
	for i := range maxNotFound + 10 {
		k.rememberNotFound(fmt.Sprintf("+9665%08d", i))
	}
	if n := len(k.notFound); n > maxNotFound {
		t.Fatalf("%d numbers remembered, bound %d", n, maxNotFound)
	}
	if !k.knownNotFound(fmt.Sprintf("+9665%08d", maxNotFound+9)) {
		t.Error("the newest 404 was not remembered")
	}
}
