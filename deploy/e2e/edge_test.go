package e2e

// The SIP edge as an attacker meets it: scanner sweeps get silence, a flooding source is banned
// while other sources keep calling.

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sipProbe is a raw UDP SIP client bound to one loopback address.
type sipProbe struct {
	t  *testing.T
	c  *net.UDPConn
	to net.Addr
	n  atomic.Int64
}

func newProbe(t *testing.T, from, to string) *sipProbe {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		t.Fatalf("bind %s: %v", from, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &sipProbe{t: t, c: c, to: net.UDPAddrFromAddrPort(mustAddrPort(to))}
}

// send sends one request and reports its Call-ID.
func (p *sipProbe) send(method, userAgent string) string { return p.sendTo("100", method, userAgent) }

// sendTo sends one request to user and reports its Call-ID.
func (p *sipProbe) sendTo(user, method, userAgent string) string {
	n := p.n.Add(1)
	la := p.c.LocalAddr().String()
	callID := fmt.Sprintf("probe-%d-%s", n, la)
	msg := fmt.Sprintf("%s sip:%s@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK-probe-%d;rport\r\n"+
		"From: <sip:100@%s>;tag=p%d\r\nTo: <sip:100@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\n"+
		"Max-Forwards: 70\r\nUser-Agent: %s\r\nContact: <sip:100@%s>\r\nContent-Length: 0\r\n\r\n",
		method, user, p.to, la, n, la, n, p.to, callID, method, userAgent, la)
	if _, err := p.c.WriteTo([]byte(msg), p.to); err != nil {
		p.t.Fatalf("send: %v", err)
	}
	return callID
}

// answers reads responses for d and counts them by Call-ID.
func (p *sipProbe) answers(d time.Duration) map[string]int {
	out := make(map[string]int)
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = p.c.SetReadDeadline(deadline)
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return out
		}
		if m := callIDLine.FindSubmatch(buf[:n]); m != nil {
			out[string(m[1])]++
		}
	}
}

// response sends one request and returns the first final response to it ("" = none within d).
func (p *sipProbe) response(method, userAgent string, d time.Duration) string {
	return p.responseTo("100", method, userAgent, d)
}

// responseTo is response for a request to user.
func (p *sipProbe) responseTo(user, method, userAgent string, d time.Duration) string {
	id := p.sendTo(user, method, userAgent)
	buf := make([]byte, 65536)
	deadline := time.Now().Add(d)
	for {
		_ = p.c.SetReadDeadline(deadline)
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			return ""
		}
		msg := buf[:n]
		if m := callIDLine.FindSubmatch(msg); m == nil || string(m[1]) != id {
			continue
		}
		if c := statusLine.FindSubmatch(msg); c != nil && c[1][0] != '1' {
			return string(msg)
		}
	}
}

// ask sends one request and reports whether any response came within d.
func (p *sipProbe) ask(method, userAgent string, d time.Duration) bool {
	id := p.send(method, userAgent)
	return p.answers(d)[id] > 0
}

func TestScannerSweepGetsSilence(t *testing.T) {
	g := startGateway(t, "scanner")
	scanner := newProbe(t, "127.0.0.4", g.UDP)
	for _, ua := range []string{"friendly-scanner", "sipvicious 0.3.4", "sipcli/v1.8", "sip-scan", "VaxSIPUserAgent/3.1"} {
		for _, m := range []string{"OPTIONS", "INVITE", "REGISTER"} {
			if scanner.ask(m, ua, 300*time.Millisecond) {
				t.Errorf("%s with User-Agent %q was answered", m, ua)
			}
		}
	}
	// The same requests from a PBX's User-Agent are answered: silence is about the scanner.
	pbx := newProbe(t, "127.0.0.4", g.UDP)
	if !pbx.ask("OPTIONS", "Asterisk PBX 20.5.0", 2*time.Second) {
		t.Fatal("OPTIONS from a PBX User-Agent got no answer")
	}
	if got := g.metric("deflectd_sip_guard_dropped_total", `reason="scanner"`); got != 15 {
		t.Errorf("deflectd_sip_guard_dropped_total{reason=scanner} = %v, want 15", got)
	}
}

func TestFloodBannedWhileOthersCall(t *testing.T) {
	g := startGateway(t, "flood",
		"DEFLECTD_SIP_PIKE_ENABLED=true",
		"DEFLECTD_SIP_PIKE_REQUESTS=16",
		"DEFLECTD_SIP_PIKE_WINDOW=2s",
		"DEFLECTD_SIP_PIKE_BAN=300s",
	)
	flood := newProbe(t, "127.0.0.2", g.UDP)

	// Calls from 127.0.0.1 while 127.0.0.2 floods: 4 calls, one after another, and the flood
	// (OPTIONS and INVITEs, as fast as one socket goes, for as long as the calls last).
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var sent atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m := "OPTIONS"
			if i%2 == 1 {
				m = "INVITE"
			}
			flood.send(m, "flooder")
			sent.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()
	var answered map[string]int
	answeredDone := make(chan struct{})
	go func() { answered = flood.answers(6 * time.Second); close(answeredDone) }()

	for i := range 4 {
		rep := call(t, callOpts("sip:queue@"+g.UDP, caller(100+i)))
		if rep.Result != "deflected" {
			t.Errorf("call %d from 127.0.0.1 during the flood: result %q, final %d", i, rep.Result, rep.FinalStatus)
		}
	}
	close(stop)
	wg.Wait()
	<-answeredDone

	n := sent.Load()
	got := 0
	for _, c := range answered {
		got += min(c, 1)
	}
	t.Logf("flood: %d requests sent from 127.0.0.2, %d answered", n, got)
	if n < 500 {
		t.Fatalf("only %d flood requests sent", n)
	}
	if got > 16 {
		t.Errorf("%d flood requests answered, want at most the 16 of the first window", got)
	}
	// Still banned: a single polite request from 127.0.0.2 gets nothing, one from 127.0.0.1 does.
	if newProbe(t, "127.0.0.2", g.UDP).ask("OPTIONS", "Asterisk PBX", time.Second) {
		t.Error("127.0.0.2 answered during its ban")
	}
	if !newProbe(t, "127.0.0.1", g.UDP).ask("OPTIONS", "Asterisk PBX", 2*time.Second) {
		t.Error("127.0.0.1 not answered")
	}
	if got := g.metric("deflectd_ivr_dropped_messages_total", `reason="pike"`); got < float64(n)-16-10 {
		t.Errorf("dropped_messages_total{reason=pike} = %v for %d flood requests", got, n)
	}
}
