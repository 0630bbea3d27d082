package guard

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deflectd/deflectd/configs"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)} }
func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type reqOpt func(*sip.Request)

func ua(v string) reqOpt {
	return func(r *sip.Request) { r.AppendHeader(sip.NewHeader("User-Agent", v)) }
}
func from(src string) reqOpt    { return func(r *sip.Request) { r.SetSource(src) } }
func body(n int) reqOpt         { return func(r *sip.Request) { r.SetBody([]byte(strings.Repeat("v", n))) } }
func toTag() reqOpt             { return func(r *sip.Request) { r.To().Params.Add("tag", "abc") } }
func user(u string) reqOpt      { return func(r *sip.Request) { r.Recipient.User = u } }
func header(k, v string) reqOpt { return func(r *sip.Request) { r.AppendHeader(sip.NewHeader(k, v)) } }

// request builds a parsed-looking request from 198.51.100.7 unless from() says otherwise.
func request(method sip.RequestMethod, opts ...reqOpt) *sip.Request {
	r := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "queue", Host: "127.0.0.1", Port: 5060})
	via := sip.NewParams()
	via.Add("branch", sip.GenerateBranch())
	r.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "198.51.100.7", Port: 5060, Params: via})
	fromTag := sip.NewParams()
	fromTag.Add("tag", "f1")
	r.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "+966501234567", Host: "198.51.100.7"}, Params: fromTag})
	r.AppendHeader(&sip.ToHeader{Address: r.Recipient, Params: sip.NewParams()})
	cid := sip.CallIDHeader("call-1")
	r.AppendHeader(&cid)
	r.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	r.SetSource("198.51.100.7:5060")
	r.SetTransport("UDP")
	for _, o := range opts {
		o(r)
	}
	return r
}

func mustGuard(t *testing.T, cfg configs.SIPConfig, o Options) (*Guard, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g, err := New(cfg, reg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g, reg
}

func TestCheck(t *testing.T) {
	base := configs.Default().SIP
	acl := base
	acl.AllowCIDRs = []string{"10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32"}
	small := base
	small.MaxMessageSize = 1200

	tests := []struct {
		name   string
		cfg    configs.SIPConfig
		req    *sip.Request
		action Action
		code   int
		why    string
	}{
		{"plain INVITE allowed", base, request(sip.INVITE), Allow, 0, ""},
		{"OPTIONS allowed", base, request(sip.OPTIONS), Allow, 0, ""},
		{"empty ACL allows everyone", base, request(sip.INVITE, from("203.0.113.9:5060")), Allow, 0, ""},
		{"ACL allows listed v4", acl, request(sip.INVITE, from("10.1.2.3:5060")), Allow, 0, ""},
		{"ACL allows listed v6", acl, request(sip.INVITE, from("[2001:db8::5]:5060")), Allow, 0, ""},
		{"ACL allows v4-mapped v6", acl, request(sip.INVITE, from("[::ffff:127.0.0.1]:5060")), Allow, 0, ""},
		{"ACL drops unlisted", acl, request(sip.INVITE, from("203.0.113.9:5060")), Drop, 0, "not-allowed"},
		{"ACL drops unparseable source", acl, request(sip.INVITE, from("nonsense")), Drop, 0, "not-allowed"},
		{"friendly-scanner dropped", base, request(sip.OPTIONS, ua("friendly-scanner")), Drop, 0, "scanner"},
		{"sipvicious any case dropped", base, request(sip.INVITE, ua("SIPVicious 0.3.4")), Drop, 0, "scanner"},
		{"sipcli dropped", base, request(sip.REGISTER, ua("sipcli/v1.8")), Drop, 0, "scanner"},
		{"sip-scan dropped", base, request(sip.OPTIONS, ua("sip-scan")), Drop, 0, "scanner"},
		{"VaxSIPUserAgent dropped", base, request(sip.INVITE, ua("VaxSIPUserAgent/3.1")), Drop, 0, "scanner"},
		{"scanner ACK dropped too", base, request(sip.ACK, ua("friendly-scanner")), Drop, 0, "scanner"},
		{"real PBX user agent allowed", base, request(sip.INVITE, ua("Asterisk PBX 20.5.0")), Allow, 0, ""},
		{"small enough allowed", small, request(sip.INVITE, body(500)), Allow, 0, ""},
		{"too large answered 513", small, request(sip.INVITE, body(1500)), Respond, 513, "too-large"},
		{"too large OPTIONS answered 513", small, request(sip.OPTIONS, body(1500)), Respond, 513, "too-large"},
		{"too large ACK dropped, never answered", small, request(sip.ACK, body(1500)), Drop, 0, "too-large"},
		{"big header counts", small, request(sip.INVITE, header("X-Context-Notes", strings.Repeat("n", 1300))), Respond, 513, "too-large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := mustGuard(t, tc.cfg, Options{})
			v := g.Check(tc.req)
			if v.Action != tc.action || v.Code != tc.code || v.Why != tc.why {
				t.Fatalf("Check = %v %d %q, want %v %d %q", v.Action, v.Code, v.Why, tc.action, tc.code, tc.why)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*configs.SIPConfig)
	}{
		{"bad CIDR", func(c *configs.SIPConfig) { c.AllowCIDRs = []string{"10.0.0.0/33"} }},
		{"pike without window", func(c *configs.SIPConfig) { c.Pike = configs.PikeConfig{Enabled: true, Requests: 5, Ban: time.Second} }},
		{"pike without requests", func(c *configs.SIPConfig) {
			c.Pike = configs.PikeConfig{Enabled: true, Window: time.Second, Ban: time.Second}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configs.Default().SIP
			tc.mut(&cfg)
			if _, err := New(cfg, nil, Options{}); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func pikeConfig(requests int, window, ban time.Duration) configs.SIPConfig {
	cfg := configs.Default().SIP
	cfg.Pike = configs.PikeConfig{Enabled: true, Requests: requests, Window: window, Ban: ban}
	return cfg
}

func TestPikeBansFloodingSourceOnly(t *testing.T) {
	clk := newClock()
	g, reg := mustGuard(t, pikeConfig(16, 2*time.Second, 300*time.Second), Options{Now: clk.now})
	flood := func() Verdict { return g.Check(request(sip.OPTIONS, from("127.0.0.2:5070"))) }

	for i := range 16 {
		if v := flood(); v.Action != Allow {
			t.Fatalf("request %d of 16 in the window: %v %q, want allow", i+1, v.Action, v.Why)
		}
		clk.add(100 * time.Millisecond)
	}
	if v := flood(); v.Action != Drop || v.Why != "flood" {
		t.Fatalf("17th request: %v %q, want drop flood", v.Action, v.Why)
	}
	if !g.Banned(netip.MustParseAddr("127.0.0.2")) {
		t.Fatal("source not reported banned")
	}
	// Another source, same moment: untouched.
	if v := g.Check(request(sip.INVITE, from("127.0.0.1:5060"))); v.Action != Allow {
		t.Fatalf("other source: %v %q, want allow", v.Action, v.Why)
	}
	// Banned for the whole ban, even when it goes quiet and comes back slowly; INVITE, BYE, ACK alike.
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.BYE, sip.ACK} {
		clk.add(60 * time.Second)
		if v := g.Check(request(m, from("127.0.0.2:5070"))); v.Action != Drop || v.Why != "banned" {
			t.Fatalf("%s during ban: %v %q, want drop banned", m, v.Action, v.Why)
		}
	}
	clk.add(300 * time.Second)
	if v := flood(); v.Action != Allow {
		t.Fatalf("after the ban: %v %q, want allow", v.Action, v.Why)
	}
	if got := testutil.ToFloat64(g.m.bans.WithLabelValues("flood")); got != 1 {
		t.Errorf("bans_total{flood} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(g.m.dropped.WithLabelValues("banned")); got != 3 {
		t.Errorf("dropped_total{banned} = %v, want 3", got)
	}
	if n, err := testutil.GatherAndCount(reg, "deflectd_sip_guard_dropped_total", "deflectd_sip_guard_bans_total", "deflectd_sip_guard_rejected_total", "deflectd_sip_guard_tracked_sources"); err != nil || n == 0 {
		t.Errorf("metrics not registered: %d %v", n, err)
	}
}

func TestPikeWindowResets(t *testing.T) {
	clk := newClock()
	g, _ := mustGuard(t, pikeConfig(4, time.Second, time.Minute), Options{Now: clk.now})
	// 4 per second for 10 seconds: steady traffic at the limit is never banned.
	for i := range 40 {
		if v := g.Check(request(sip.OPTIONS)); v.Action != Allow {
			t.Fatalf("request %d: %v %q", i, v.Action, v.Why)
		}
		clk.add(250 * time.Millisecond)
	}
}

func TestPikeMemoryBounded(t *testing.T) {
	clk := newClock()
	const maxSources = 640
	g, _ := mustGuard(t, pikeConfig(2, time.Second, time.Hour), Options{Now: clk.now, MaxSources: maxSources})
	// One banned source that a spoofed-source sweep must not free.
	for range 3 {
		g.Check(request(sip.INVITE, from("192.0.2.99:5060")))
	}
	if !g.Banned(netip.MustParseAddr("192.0.2.99")) {
		t.Fatal("setup: source not banned")
	}
	for i := range 50_000 {
		src := fmt.Sprintf("10.%d.%d.%d:5060", i>>16&255, i>>8&255, i&255)
		g.Check(request(sip.OPTIONS, from(src)))
	}
	if n := g.pike.sources(); n > maxSources {
		t.Fatalf("tracking %d sources, bound is %d", n, maxSources)
	}
	if !g.Banned(netip.MustParseAddr("192.0.2.99")) {
		t.Fatal("a spoofed-source sweep lifted a ban")
	}
	// Idle sources are swept once their window has passed.
	clk.add(2 * time.Second)
	for i := range shardCount * 8 { // touch every shard
		g.Check(request(sip.OPTIONS, from(fmt.Sprintf("172.16.%d.%d:5060", i>>8, i&255))))
	}
	if n := g.pike.sources(); n > shardCount*8+1 {
		t.Fatalf("after the window, %d sources still tracked", n)
	}
}

func TestPikeConcurrent(t *testing.T) {
	g, _ := mustGuard(t, pikeConfig(1000, time.Minute, time.Minute), Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 500 {
				src := "127.0.0.1:5060"
				if i%2 == 0 {
					src = fmt.Sprintf("10.0.%d.%d:5060", w, i%200)
				}
				if g.Check(request(sip.OPTIONS, from(src))).Action == Allow {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// 8×250 requests from 127.0.0.1: exactly 1000 allowed before its ban, every other source allowed.
	if allowed != 1000+8*250 {
		t.Fatalf("allowed %d, want %d", allowed, 1000+8*250)
	}
}

// answer computes the Authorization a client would send for the challenge in v.
func answer(t *testing.T, v Verdict, req *sip.Request, username, password string) string {
	t.Helper()
	if v.Code != 401 || len(v.Headers) != 1 || v.Headers[0].Name() != "WWW-Authenticate" {
		t.Fatalf("not a challenge: %+v", v)
	}
	chal, err := digest.ParseChallenge(v.Headers[0].Value())
	if err != nil {
		t.Fatalf("parse challenge %q: %v", v.Headers[0].Value(), err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: req.Method.String(), URI: req.Recipient.String(), Username: username, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func authConfig() configs.SIPConfig {
	cfg := configs.Default().SIP
	cfg.Auth = configs.SIPAuthConfig{Realm: "deflectd", Username: "pbx", Password: "s3cret"}
	return cfg
}

func TestDigestAuth(t *testing.T) {
	clk := newClock()
	g, _ := mustGuard(t, authConfig(), Options{Now: clk.now, NonceTTL: time.Minute})
	// A second instance with the same config (behind a dispatcher) accepts the first one's nonces.
	g2, _ := mustGuard(t, authConfig(), Options{Now: clk.now, NonceTTL: time.Minute})
	other := authConfig()
	other.Auth.Password = "different"
	g3, _ := mustGuard(t, other, Options{Now: clk.now})

	challenge := g.Check(request(sip.INVITE))
	if challenge.Action != Respond || challenge.Code != 401 || challenge.Why != "auth-challenge" {
		t.Fatalf("INVITE without credentials: %+v, want 401", challenge)
	}
	val := challenge.Headers[0].Value()
	for _, want := range []string{`realm="deflectd"`, "nonce=", "qop=", "MD5"} {
		if !strings.Contains(val, want) {
			t.Errorf("WWW-Authenticate %q lacks %s", val, want)
		}
	}

	withAuth := func(user, pass string, opts ...reqOpt) *sip.Request {
		r := request(sip.INVITE, opts...)
		r.AppendHeader(sip.NewHeader("Authorization", answer(t, challenge, r, user, pass)))
		return r
	}
	tests := []struct {
		name string
		g    *Guard
		req  *sip.Request
		code int // 0 = allowed
		why  string
	}{
		{"right credentials", g, withAuth("pbx", "s3cret"), 0, ""},
		{"right credentials, any R-URI user", g, withAuth("pbx", "s3cret", user("nobody-here")), 0, ""},
		{"right credentials at another instance", g2, withAuth("pbx", "s3cret"), 0, ""},
		{"wrong password", g, withAuth("pbx", "guess"), 403, "auth-failed"},
		{"unknown user looks the same as wrong password", g, withAuth("admin", "s3cret"), 403, "auth-failed"},
		{"nonce from a differently keyed instance", g3, withAuth("pbx", "s3cret"), 403, "auth-failed"},
		{"forged nonce", g, request(sip.INVITE, header("Authorization", `Digest username="pbx", realm="deflectd", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:queue@127.0.0.1:5060", response="00000000000000000000000000000000"`)), 403, "auth-failed"},
		{"garbage Authorization gets a challenge", g, request(sip.INVITE, header("Authorization", "Basic cGJ4OnMzY3JldA==")), 401, "auth-challenge"},
		{"other realm gets a challenge", g, request(sip.INVITE, header("Authorization", `Digest username="pbx", realm="elsewhere", nonce="x", uri="sip:a@b", response="0"`)), 401, "auth-challenge"},
		{"in-dialog INVITE not challenged", g, request(sip.INVITE, toTag()), 0, ""},
		{"OPTIONS not challenged", g, request(sip.OPTIONS), 0, ""},
		{"BYE not challenged", g, request(sip.BYE, toTag()), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.g.Check(tc.req)
			switch {
			case tc.code == 0 && v.Action != Allow:
				t.Fatalf("got %+v, want allow", v)
			case tc.code != 0 && (v.Action != Respond || v.Code != tc.code || v.Why != tc.why):
				t.Fatalf("got %v %d %q, want %d %q", v.Action, v.Code, v.Why, tc.code, tc.why)
			}
		})
	}

	t.Run("expired nonce is stale", func(t *testing.T) {
		r := withAuth("pbx", "s3cret")
		clk.add(2 * time.Minute)
		v := g.Check(r)
		if v.Code != 401 || v.Why != "auth-stale" || !strings.Contains(strings.ToLower(v.Headers[0].Value()), "stale=true") {
			t.Fatalf("got %+v, want 401 stale=true", v)
		}
		// The fresh challenge works.
		r2 := request(sip.INVITE)
		r2.AppendHeader(sip.NewHeader("Authorization", answer(t, v, r2, "pbx", "s3cret")))
		if v := g.Check(r2); v.Action != Allow {
			t.Fatalf("after re-challenge: %+v", v)
		}
	})
}

// TestNoUserEnumeration: whatever user the Request-URI names, and whether or not it is a real
// account, the answers are the same (status, reason, header names).
func TestNoUserEnumeration(t *testing.T) {
	for _, cfg := range []configs.SIPConfig{configs.Default().SIP, authConfig()} {
		g, _ := mustGuard(t, cfg, Options{})
		var shapes []string
		for _, u := range []string{"queue", "pbx", "admin", "100", "", "nonexistent-user-xyz"} {
			r := request(sip.INVITE, user(u))
			res, drop := g.Screen(r)
			shape := fmt.Sprint(drop)
			if res != nil {
				shape += fmt.Sprint(res.StatusCode, res.Reason)
				for _, h := range res.Headers() {
					shape += " " + h.Name()
				}
			}
			shapes = append(shapes, shape)
		}
		for _, s := range shapes[1:] {
			if s != shapes[0] {
				t.Fatalf("answers differ by user (auth %v): %q", cfg.Auth.Username != "", shapes)
			}
		}
	}
}

func TestScreen(t *testing.T) {
	cfg := authConfig()
	cfg.UserAgent = "deflectd"
	g, _ := mustGuard(t, cfg, Options{})
	tests := []struct {
		name string
		req  *sip.Request
		code int
		drop bool
	}{
		{"allowed OPTIONS passes", request(sip.OPTIONS), 0, false},
		{"scanner dropped", request(sip.OPTIONS, ua("friendly-scanner")), 0, true},
		{"INVITE challenged", request(sip.INVITE), 401, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, drop := g.Screen(tc.req)
			if drop != tc.drop {
				t.Fatalf("drop = %v, want %v", drop, tc.drop)
			}
			if tc.code == 0 {
				if res != nil {
					t.Fatalf("response %d, want none", res.StatusCode)
				}
				return
			}
			if res == nil || res.StatusCode != tc.code {
				t.Fatalf("response %v, want %d", res, tc.code)
			}
			if h := res.GetHeader("Server"); h == nil || h.Value() != "deflectd" {
				t.Errorf("Server header %v, want deflectd (no version)", h)
			}
			if res.GetHeader("WWW-Authenticate") == nil {
				t.Error("no WWW-Authenticate")
			}
			if res.CallID().Value() != "call-1" || res.Via() == nil {
				t.Error("response not built from the request")
			}
		})
	}
}

func BenchmarkCheckPike(b *testing.B) {
	g, _ := New(pikeConfig(1<<30, time.Second, time.Minute), nil, Options{})
	reqs := make([]*sip.Request, 1024)
	for i := range reqs {
		reqs[i] = request(sip.OPTIONS, from(fmt.Sprintf("10.0.%d.%d:5060", i>>8, i&255)), ua("Asterisk PBX"))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			g.Check(reqs[i&1023])
			i++
		}
	})
}

// BenchmarkCheckServe is the guard as serve wires it (scanner, RFC 4475 checks, size; no pike,
// no auth) on an INVITE from a PBX.
func BenchmarkCheckServe(b *testing.B) {
	g, _ := New(configs.Default().SIP, nil, Options{})
	req := request(sip.INVITE, ua("Asterisk PBX 20.5.0"), header("X-Queue", "billing"), header("X-Wait-Estimate", "300"), body(300))
	b.ReportAllocs()
	for b.Loop() {
		if g.Check(req).Action != Allow {
			b.Fatal("not allowed")
		}
	}
}
