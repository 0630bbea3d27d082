package ivr

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr/media"
)

// fakeDecider records what the IVR tells it; its answers are set per test.
type fakeDecider struct {
	mu       sync.Mutex
	decide   func(ctx context.Context, c *CallInfo) (Decision, error)
	accept   func(ctx context.Context, id string) AcceptResult
	infos    []CallInfo
	outcomes map[string][]Outcome
	finished chan Outcome
	accepted int
}

func newFakeDecider() *fakeDecider {
	return &fakeDecider{outcomes: map[string][]Outcome{}, finished: make(chan Outcome, 64)}
}

func (f *fakeDecider) Decide(ctx context.Context, c *CallInfo) (Decision, error) {
	f.mu.Lock()
	f.infos = append(f.infos, *c)
	n := len(f.infos)
	fn := f.decide
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, c)
	}
	return Decision{Offer: true, SessionID: fmt.Sprintf("s%d", n)}, nil
}

func (f *fakeDecider) Accept(ctx context.Context, id string) AcceptResult {
	f.mu.Lock()
	f.accepted++
	fn := f.accept
	f.mu.Unlock()
	if fn != nil {
		return fn(ctx, id)
	}
	return AcceptResult{Deflected: true}
}

func (f *fakeDecider) Finish(_ context.Context, id string, o Outcome) {
	f.mu.Lock()
	f.outcomes[id] = append(f.outcomes[id], o)
	f.mu.Unlock()
	f.finished <- o
}

func (f *fakeDecider) setDecide(fn func(ctx context.Context, c *CallInfo) (Decision, error)) {
	f.mu.Lock()
	f.decide = fn
	f.mu.Unlock()
}

func (f *fakeDecider) setAccept(fn func(ctx context.Context, id string) AcceptResult) {
	f.mu.Lock()
	f.accept = fn
	f.mu.Unlock()
}

// waitFinish returns the next outcome reported to Finish.
func (f *fakeDecider) waitFinish(t testing.TB) Outcome {
	t.Helper()
	select {
	case o := <-f.finished:
		return o
	case <-time.After(15 * time.Second):
		t.Fatal("Finish was not called")
		return Outcome{}
	}
}

func (f *fakeDecider) calls() []CallInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]CallInfo(nil), f.infos...)
}

// gateway is a Server on loopback port 0 with short test prompts and timers.
type gateway struct {
	*Server
	dec    *fakeDecider
	engine *media.Engine
	reg    *prometheus.Registry
	stop   context.CancelFunc // ends Serve
}

func testConfig() Config {
	def := configs.Default()
	sipCfg := def.SIP
	sipCfg.Listen = []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}
	sipCfg.RetryAfter = 7 * time.Second
	ivrCfg := def.IVR
	ivrCfg.FirstDigitTimeout = 300 * time.Millisecond
	ivrCfg.OfferRepeats = 2
	return Config{SIP: sipCfg, IVR: ivrCfg, OnDecline: "bye"}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("IVR_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func startGateway(t testing.TB, mutate ...func(*Config)) *gateway {
	t.Helper()
	return startGatewayLog(t, testLogger(t), mutate...)
}

func startGatewayLog(t testing.TB, log *slog.Logger, mutate ...func(*Config)) *gateway {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	prompts, err := media.LoadPrompts("testdata/prompts")
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	eng, err := media.NewEngine(media.EngineConfig{BindIP: netip.MustParseAddr("127.0.0.1"), Schedulers: 1}, prompts, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	dec := newFakeDecider()
	srv, err := New(cfg, dec, eng, prompts, LookupNormalizer("SA"), log, reg)
	if err != nil {
		t.Fatal(err)
	}
	srv.t1 = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
		_ = eng.Close()
	})
	return &gateway{Server: srv, dec: dec, engine: eng, reg: reg, stop: cancel}
}

func (g *gateway) uri(transport string) string {
	return fmt.Sprintf("sip:ivr@%s", g.Addr(transport))
}

// dial places a call with Dial against the gateway's UDP listener.
func (g *gateway) dial(t *testing.T, o CallOptions) CallReport {
	t.Helper()
	if o.Target == "" {
		o.Target = g.uri("udp")
		if o.Transport == "tcp" {
			o.Target = g.uri("tcp")
		}
	}
	if o.From == "" {
		o.From = "+966501234567"
	}
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if testing.Verbose() {
		o.OnEvent = func(l string) { t.Log(l) }
	}
	rep, err := Dial(context.Background(), o)
	if err != nil {
		t.Fatalf("Dial: %v (report %+v)", err, rep)
	}
	return rep
}

// waitIdle waits until the gateway has no call up.
func (g *gateway) waitIdle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for g.ActiveCalls() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still active", g.ActiveCalls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *gateway) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

func hasStep(path []string, step string) bool {
	for _, s := range path {
		if s == step {
			return true
		}
	}
	return false
}

// ---- raw SIP over UDP, for the tests that need every byte under control ----------------------

type rawUDP struct {
	t    testing.TB
	conn *net.UDPConn
	dst  *net.UDPAddr
	p    *sip.Parser
}

func newRawUDP(t testing.TB, dst netip.AddrPort) *rawUDP {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawUDP{t: t, conn: c, dst: net.UDPAddrFromAddrPort(dst), p: sip.NewParser()}
}

func (r *rawUDP) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *rawUDP) send(msg string) {
	r.t.Helper()
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := r.conn.WriteToUDP([]byte(msg), r.dst); err != nil {
		r.t.Fatal(err)
	}
}

// recv returns the next SIP message, or nil after d.
func (r *rawUDP) recv(d time.Duration) sip.Message {
	r.t.Helper()
	buf := make([]byte, 65535)
	_ = r.conn.SetReadDeadline(time.Now().Add(d))
	n, _, err := r.conn.ReadFromUDP(buf)
	if err != nil {
		return nil
	}
	m, err := r.p.ParseSIP(buf[:n])
	if err != nil {
		r.t.Fatalf("parse %q: %v", buf[:n], err)
	}
	return m
}

// recvResponse skips requests and returns the next response with a status >= min.
func (r *rawUDP) recvResponse(d time.Duration, min int) *sip.Response {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m := r.recv(time.Until(deadline))
		if res, ok := m.(*sip.Response); ok && res.StatusCode >= min {
			return res
		}
	}
	r.t.Fatalf("no response >= %d within %s", min, d)
	return nil
}

// invite builds an INVITE from this socket with the given branch, Call-ID, extra headers and body.
func (r *rawUDP) invite(branch, callID, extra, body string) string {
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\n"
	}
	return fmt.Sprintf("INVITE sip:ivr@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:+966501234567@127.0.0.1>;tag=caller1\n"+
		"To: <sip:ivr@%s>\n"+
		"Call-ID: %s\n"+
		"CSeq: 1 INVITE\n"+
		"Contact: <sip:caller@127.0.0.1:%d>\n"+
		"%s%s"+
		"Content-Length: %d\n\n%s",
		r.dst, r.port(), branch, r.dst, callID, r.port(), extra, ct, len(body), body)
}

// reinvite builds a re-INVITE in the dialog toTag of an INVITE from this socket.
func (r *rawUDP) reinvite(branch, callID string, cseq int, toTag, body string) string {
	m := strings.Replace(r.invite(branch, callID, "", body), "CSeq: 1 INVITE", fmt.Sprintf("CSeq: %d INVITE", cseq), 1)
	return strings.Replace(m, fmt.Sprintf("To: <sip:ivr@%s>", r.dst), fmt.Sprintf("To: <sip:ivr@%s>;tag=%s", r.dst, toTag), 1)
}

func (r *rawUDP) request(method, branch, callID string, cseq int, toTag, extra string) string {
	to := fmt.Sprintf("<sip:ivr@%s>", r.dst)
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Sprintf("%s sip:ivr@%s SIP/2.0\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=%s\n"+
		"Max-Forwards: 70\n"+
		"From: <sip:+966501234567@127.0.0.1>;tag=caller1\n"+
		"To: %s\n"+
		"Call-ID: %s\n"+
		"CSeq: %d %s\n"+
		"%s"+
		"Content-Length: 0\n\n",
		method, r.dst, r.port(), branch, to, callID, cseq, method, extra)
}

func sdpOffer(port int, formats string, rtpmaps ...string) string {
	s := "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n" +
		fmt.Sprintf("m=audio %d RTP/AVP %s\n", port, formats)
	for _, m := range rtpmaps {
		s += "a=rtpmap:" + m + "\n"
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// heldCalls are calls answered and ACKed from one raw socket, each with its own Call-ID and
// From tag, left listening to the offer. It keeps little (BenchmarkHeldCallMemory counts it).
type heldCalls struct {
	r      *rawUDP
	prefix string
	tags   []string // the gateway's To tags
}

// holdCalls places n calls named prefix-i; their SDP offers RTP ports from rtpBase on.
func holdCalls(tb testing.TB, r *rawUDP, prefix string, n, rtpBase int) *heldCalls {
	tb.Helper()
	h := &heldCalls{r: r, prefix: prefix, tags: make([]string, n)}
	for i := range n {
		id := h.id(i)
		r.send(h.from(r.invite(fmt.Sprintf("z9hG4bK-%s%d", prefix, i), id, "", sdpOffer(rtpBase+2*(i%1000), "0 101", "0 PCMU/8000", "101 telephone-event/8000")), i))
		res := r.recvResponse(5*time.Second, 200)
		for res.CallID().Value() != id {
			res = r.recvResponse(5*time.Second, 200)
		}
		h.tags[i] = strings.Clone(toTag(res))
		r.send(h.from(r.request("ACK", fmt.Sprintf("z9hG4bK-ack-%s%d", prefix, i), id, 1, h.tags[i], ""), i))
	}
	return h
}

func (h *heldCalls) id(i int) string { return fmt.Sprintf("%s-%d@test", h.prefix, i) }

func (h *heldCalls) from(msg string, i int) string {
	return strings.Replace(msg, "tag=caller1", fmt.Sprintf("tag=%s%d", h.prefix, i), 1)
}

// hangUp sends every call's BYE, a few at a time: socket buffers, not the gateway, would drop
// a burst.
func (h *heldCalls) hangUp() {
	for i := range h.tags {
		if i%25 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		h.r.send(h.from(h.r.request("BYE", fmt.Sprintf("z9hG4bK-bye-%s%d", h.prefix, i), h.id(i), 2, h.tags[i], ""), i))
	}
}
