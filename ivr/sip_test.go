package ivr

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
)

func TestCancelBeforeAnswer(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	deciding := make(chan struct{})
	decideErr := make(chan error, 1)
	g.dec.setDecide(func(ctx context.Context, _ *CallInfo) (Decision, error) {
		close(deciding)
		<-ctx.Done() // a slow decision: the caller gives up first
		decideErr <- ctx.Err()
		return Decision{}, ctx.Err()
	})
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-cancel1", "cancel-1@test", "", sdpOffer(40000, "0", "0 PCMU/8000")))
	if res := r.recvResponse(2*time.Second, 100); res.StatusCode != 100 {
		t.Fatalf("first response %d, want 100 Trying at once", res.StatusCode)
	}
	<-deciding
	r.send(r.request("CANCEL", "z9hG4bK-cancel1", "cancel-1@test", 1, "", ""))
	got := map[string]int{}
	for len(got) < 2 {
		res := r.recvResponse(2*time.Second, 200)
		got[res.CSeq().MethodName.String()] = res.StatusCode
	}
	if got["CANCEL"] != 200 || got["INVITE"] != 487 {
		t.Fatalf("responses %v, want CANCEL 200 and INVITE 487", got)
	}
	r.send(r.request("ACK", "z9hG4bK-cancel1", "cancel-1@test", 1, "x", ""))
	select {
	case err := <-decideErr:
		if err == nil {
			t.Error("Decide's context did not end on CANCEL")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Decide's context did not end on CANCEL")
	}
	g.waitIdle(t)
	// Nothing else may follow the 487 (our own late 503 would be a protocol error).
	if m := r.recv(300 * time.Millisecond); m != nil {
		if res, ok := m.(*sip.Response); ok && res.StatusCode != 487 {
			t.Errorf("unexpected %s after CANCEL", res.StartLine())
		}
	}
}

func TestNoCommonCodec488(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-488", "488@test", "", sdpOffer(40000, "18", "18 G729/8000")))
	res := r.recvResponse(3*time.Second, 200)
	if res.StatusCode != 488 {
		t.Fatalf("status %d, want 488", res.StatusCode)
	}
	o := g.dec.waitFinish(t)
	if o.Result != ResultFailed || o.Reason != "no-common-codec" {
		t.Errorf("outcome %+v", o)
	}
	r.send(r.request("ACK", "z9hG4bK-488", "488@test", 1, toTag(res), ""))
}

func TestMaxCalls503(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) { c.SIP.MaxCalls = 1 })
	hold := make(chan struct{})
	g.dec.setDecide(func(ctx context.Context, _ *CallInfo) (Decision, error) {
		select {
		case <-hold:
		case <-ctx.Done():
		}
		return Decision{Offer: false, Reason: "test"}, nil
	})
	first := newRawUDP(t, g.Addr("udp"))
	first.send(first.invite("z9hG4bK-max1", "max-1@test", "", ""))
	first.recvResponse(2*time.Second, 100)
	for g.ActiveCalls() != 1 {
		time.Sleep(5 * time.Millisecond)
	}
	second := newRawUDP(t, g.Addr("udp"))
	second.send(second.invite("z9hG4bK-max2", "max-2@test", "", ""))
	res := second.recvResponse(2*time.Second, 200)
	if res.StatusCode != 503 {
		t.Fatalf("second call: %d, want 503", res.StatusCode)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "7" {
		t.Errorf("Retry-After = %v, want 7", h)
	}
	if h := res.GetHeader("Server"); h == nil || h.Value() != "deflectd" {
		t.Errorf("Server = %v, want deflectd (no version)", h)
	}
	close(hold)
	if res := first.recvResponse(2*time.Second, 200); res.StatusCode != 480 {
		t.Errorf("first call: %d", res.StatusCode)
	}
	g.waitIdle(t)
}

func TestRetransmittedInviteAbsorbed(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	release := make(chan struct{})
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		<-release
		return Decision{Offer: false, Reason: "test"}, nil
	})
	r := newRawUDP(t, g.Addr("udp"))
	inv := r.invite("z9hG4bK-retx", "retx@test", "", "")
	r.send(inv)
	r.send(inv)
	r.send(inv)
	time.Sleep(200 * time.Millisecond)
	close(release)
	res := r.recvResponse(2*time.Second, 200)
	if res.StatusCode != 480 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if n := len(g.dec.calls()); n != 1 {
		t.Errorf("Decide called %d times for one INVITE sent thrice", n)
	}
	// A retransmission after the final response gets the same final response again.
	r.send(inv)
	if res := r.recvResponse(2*time.Second, 200); res.StatusCode != 480 {
		t.Errorf("retransmission answered %d", res.StatusCode)
	}
}

func Test2xxRetransmittedUntilAck(t *testing.T) {
	t.Parallel()
	g := startGateway(t) // T1 = 50 ms: 200 OK at 0, 50, 150, 350, 750 ms...; gives up at 3.2 s
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-2xx", "2xx@test", "", sdpOffer(40002, "0 101", "0 PCMU/8000", "101 telephone-event/8000")))
	var oks []time.Time
	var bye *sip.Request
	deadline := time.Now().Add(6 * time.Second)
	for bye == nil && time.Now().Before(deadline) {
		switch m := r.recv(time.Until(deadline)).(type) {
		case *sip.Response:
			if m.StatusCode == 200 {
				oks = append(oks, time.Now())
			}
		case *sip.Request:
			if m.Method == sip.BYE {
				bye = m
			}
		}
	}
	if bye == nil {
		t.Fatal("no BYE after the ACK never came")
	}
	if h := bye.GetHeader("X-Deflect-Result"); h == nil || h.Value() != "failed;reason=no-ack" {
		t.Errorf("BYE X-Deflect-Result = %v", h)
	}
	if len(oks) < 5 {
		t.Fatalf("200 OK sent %d times, want retransmissions", len(oks))
	}
	// Intervals double from T1 (50 ms) up to T2 (8*T1 = 400 ms): 50, 100, 200, 400, 400, ...
	var gaps []time.Duration
	for i := 1; i < len(oks); i++ {
		gaps = append(gaps, oks[i].Sub(oks[i-1]))
	}
	// The shape, tolerant of one scheduling hiccup on a loaded machine: the first two gaps
	// together are shorter than the fourth (doubling), and most later gaps sit at T2.
	if gaps[0]+gaps[1] >= gaps[3] {
		t.Errorf("gaps %v: not doubling from T1", gaps)
	}
	atT2 := 0
	for _, gp := range gaps[3:] {
		if gp >= 300*time.Millisecond && gp <= 600*time.Millisecond {
			atT2++
		}
	}
	if atT2 < len(gaps[3:])/2+1 {
		t.Errorf("gaps %v: not capped at T2 (400 ms)", gaps)
	}
	o := g.dec.waitFinish(t)
	if o.Result != ResultFailed || o.Reason != "no-ack" {
		t.Errorf("outcome %+v", o)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.request("OPTIONS", "z9hG4bK-opt1", "opt@test", 1, "", ""))
	res := r.recvResponse(2*time.Second, 200)
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", res.StatusCode)
	}
	for name, want := range map[string]string{"Allow": "INVITE", "Accept": "application/sdp", "Server": "deflectd"} {
		if h := res.GetHeader(name); h == nil || !strings.Contains(h.Value(), want) {
			t.Errorf("%s = %v, want it to contain %q", name, h, want)
		}
	}

	// While draining: OPTIONS and INVITE answer 503 with Retry-After.
	if err := g.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.send(r.request("OPTIONS", "z9hG4bK-opt2", "opt2@test", 1, "", ""))
	if res := r.recvResponse(2*time.Second, 200); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("OPTIONS while draining: %d", res.StatusCode)
	}
	r.send(r.invite("z9hG4bK-drain", "drain@test", "", ""))
	if res := r.recvResponse(2*time.Second, 200); res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("INVITE while draining: %d", res.StatusCode)
	}
}

func TestDrainWaitsForCalls(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	done := make(chan CallReport, 1)
	go func() {
		rep, _ := Dial(context.Background(), CallOptions{Target: g.uri("udp"), From: "+966501234567", Press: "2", PressAfter: 500 * time.Millisecond, Timeout: 10 * time.Second})
		done <- rep
	}()
	for g.ActiveCalls() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if g.ActiveCalls() != 0 {
		t.Error("Drain returned with calls up")
	}
	if rep := <-done; rep.Result != "declined" {
		t.Errorf("the call in progress was not let finish: %+v", rep)
	}
}

func TestUnknownMethods(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	tests := []struct {
		method string
		want   int
	}{
		{"SUBSCRIBE", 405},
		{"MESSAGE", 405},
		{"FOO", 501},
	}
	for i, tc := range tests {
		r := newRawUDP(t, g.Addr("udp"))
		r.send(r.request(tc.method, "z9hG4bK-m"+string(rune('a'+i)), "m@test", 1, "", ""))
		res := r.recvResponse(2*time.Second, 200)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.method, res.StatusCode, tc.want)
		}
		if h := res.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "INVITE") {
			t.Errorf("%s: Allow = %v", tc.method, h)
		}
	}
}

func TestByeOutsideDialog481(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.request("BYE", "z9hG4bK-bye", "nodialog@test", 2, "abc", ""))
	if res := r.recvResponse(2*time.Second, 200); res.StatusCode != 481 {
		t.Errorf("BYE outside a dialog: %d, want 481", res.StatusCode)
	}
}

func toTag(res *sip.Response) string {
	tag, _ := res.To().Params.Get("tag")
	return tag
}

func TestRequireUnsupported420(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-420", "420@test", "Require: 100rel\n", ""))
	res := r.recvResponse(2*time.Second, 200)
	if res.StatusCode != 420 {
		t.Fatalf("status %d, want 420", res.StatusCode)
	}
	if h := res.GetHeader("Unsupported"); h == nil || h.Value() != "100rel" {
		t.Errorf("Unsupported = %v", h)
	}
	if len(g.dec.calls()) != 0 {
		t.Error("Decide was asked about a refused INVITE")
	}
}

func TestShutdownHangsUpCalls(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	done := make(chan CallReport, 1)
	go func() {
		rep, _ := Dial(context.Background(), CallOptions{Target: g.uri("udp"), From: "+966501234567", Timeout: 10 * time.Second})
		done <- rep
	}()
	for g.ActiveCalls() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // answered, offer playing
	g.stop()
	rep := <-done
	if rep.EndedBy != "gateway" || rep.Result != "failed;reason=shutdown" {
		t.Errorf("ended by %q with %q", rep.EndedBy, rep.Result)
	}
	if o := g.dec.waitFinish(t); o.Result != ResultFailed || o.Reason != "shutdown" {
		t.Errorf("outcome %+v", o)
	}
}

func TestAllowCIDRs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		cidrs  []string
		answer bool
	}{
		{"loopback allowed", []string{"10.0.0.0/8", "127.0.0.0/8"}, true},
		{"loopback not allowed", []string{"10.0.0.0/8"}, false},
		{"empty list allows everyone", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t, func(c *Config) { c.SIP.AllowCIDRs = tc.cidrs })
			r := newRawUDP(t, g.Addr("udp"))
			r.send(r.request("OPTIONS", "z9hG4bK-acl", "acl@test", 1, "", ""))
			m := r.recv(500 * time.Millisecond)
			if (m != nil) != tc.answer {
				t.Fatalf("answered %v, want %v", m != nil, tc.answer)
			}
			if !tc.answer && g.counter(t, "deflectd_ivr_dropped_messages_total", map[string]string{"reason": "not-allowed"}) != 1 {
				t.Error("drop not counted")
			}
		})
	}
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile, _ := testkit.SelfSignedCert(t, dir)
	g := startGateway(t, func(c *Config) {
		c.SIP.Listen = []string{"tls://127.0.0.1:0"}
		c.SIP.TLS = configs.TLSConfig{CertFile: certFile, KeyFile: keyFile}
	})
	addr := g.Addr("tls")
	conn, err := tls.Dial("tcp", addr.String(), &tls.Config{InsecureSkipVerify: true}) // self-signed test cert
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.TCPAddr).Port
	msg := fmt.Sprintf("OPTIONS sip:ivr@%s;transport=tls SIP/2.0\r\n"+
		"Via: SIP/2.0/TLS 127.0.0.1:%d;branch=z9hG4bK-tls1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:ivr@%s>\r\nCall-ID: tls@test\r\n"+
		"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", addr, port, addr)
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "SIP/2.0 200") {
		t.Errorf("OPTIONS over TLS: %q", line)
	}
}

func TestDigestAuth(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) {
		c.SIP.Auth = configs.SIPAuthConfig{Realm: "deflectd", Username: "pbx", Password: "s3cret"}
	})
	tests := []struct {
		name       string
		user, pass string
		wantStatus int
	}{
		{"right credentials", "pbx", "s3cret", 480},
		{"wrong password", "pbx", "nope", 401},
		{"no credentials", "", "", 401},
	}
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		return Decision{Offer: false, Reason: "authenticated"}, nil
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := g.dial(t, CallOptions{Username: tc.user, Password: tc.pass})
			if rep.FinalStatus != tc.wantStatus {
				t.Errorf("final %d, want %d (%v)", rep.FinalStatus, tc.wantStatus, rep.Responses)
			}
		})
	}
	if n := len(g.dec.calls()); n != 1 {
		t.Errorf("Decide called %d times, want once (only the authenticated call)", n)
	}
}

func TestDigestNonce(t *testing.T) {
	a := newDigestAuth("deflectd", "pbx", "pw")
	now := time.Unix(1_800_000_000, 0)
	a.now = func() time.Time { return now }
	n := a.nonce()
	if ours, stale := a.checkNonce(n); !ours || stale {
		t.Errorf("fresh nonce: ours %v stale %v", ours, stale)
	}
	now = now.Add(nonceTTL + time.Second)
	if ours, stale := a.checkNonce(n); !ours || !stale {
		t.Errorf("old nonce: ours %v stale %v", ours, stale)
	}
	forged := n[:len(n)-1] + "0"
	if n[len(n)-1] == '0' {
		forged = n[:len(n)-1] + "1"
	}
	if ours, _ := a.checkNonce(forged); ours {
		t.Error("forged nonce accepted")
	}
	// Behind a dispatcher (or after a restart) an instance with the same sip.auth accepts the
	// nonce; one keyed differently does not.
	if ours, _ := newDigestAuth("deflectd", "pbx", "pw").checkNonce(n); !ours {
		t.Error("the nonce of an instance with the same sip.auth refused")
	}
	if ours, _ := newDigestAuth("deflectd", "pbx", "other").checkNonce(n); ours {
		t.Error("a differently keyed instance's nonce accepted")
	}
	now = now.Add(-nonceTTL - 2*time.Minute) // a nonce from the future: a clock step
	if ours, stale := a.checkNonce(n); !ours || !stale {
		t.Errorf("future nonce: ours %v stale %v", ours, stale)
	}
}

func TestPikeBansFloodingSource(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) {
		c.SIP.Pike = configs.PikeConfig{Enabled: true, Requests: 3, Window: 10 * time.Second, Ban: time.Minute}
	})
	r := newRawUDP(t, g.Addr("udp"))
	answered := 0
	for i := range 6 {
		r.send(r.request("OPTIONS", fmt.Sprintf("z9hG4bK-pike%d", i), fmt.Sprintf("pike%d@test", i), 1, "", ""))
		if r.recv(300*time.Millisecond) != nil {
			answered++
		}
	}
	if answered != 3 {
		t.Errorf("%d of 6 answered, want 3", answered)
	}
	if v := g.counter(t, "deflectd_ivr_dropped_messages_total", map[string]string{"reason": "pike"}); v != 3 {
		t.Errorf("pike drops %v, want 3", v)
	}
	if v := g.counter(t, "deflectd_ivr_pike_bans_total", nil); v != 1 {
		t.Errorf("pike bans %v, want 1", v)
	}
	if v := g.counter(t, "deflectd_ivr_pike_tracked_sources", nil); v != 1 {
		t.Errorf("pike tracks %v sources, want 1", v)
	}
}

// TestReinviteAndCallerBye drives a dialog by hand: answer, ACK, a re-INVITE (session
// refresh) answered with the same SDP, then the caller's BYE.
func TestReinviteAndCallerBye(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-re1", "re@test", "", sdpOffer(40010, "8 101", "8 PCMA/8000", "101 telephone-event/8000")))
	ok := r.recvResponse(3*time.Second, 200)
	if ok.StatusCode != 200 || !strings.Contains(string(ok.Body()), "PCMA/8000") {
		t.Fatalf("answer %d %q", ok.StatusCode, ok.Body())
	}
	tag := toTag(ok)
	r.send(r.request("ACK", "z9hG4bK-re1ack", "re@test", 1, tag, ""))

	r.send(r.reinvite("z9hG4bK-re2", "re@test", 2, tag, sdpOffer(40010, "8 101", "8 PCMA/8000", "101 telephone-event/8000")))
	re := r.recvResponse(3*time.Second, 200)
	for re.CSeq().SeqNo != 2 { // a late retransmission of the first 200 OK
		re = r.recvResponse(3*time.Second, 200)
	}
	if re.StatusCode != 200 || string(re.Body()) != string(ok.Body()) {
		t.Errorf("re-INVITE: %d, same SDP %v", re.StatusCode, string(re.Body()) == string(ok.Body()))
	}
	r.send(r.request("ACK", "z9hG4bK-re2ack", "re@test", 2, tag, ""))

	r.send(r.request("BYE", "z9hG4bK-re3", "re@test", 3, tag, ""))
	res := r.recvResponse(3*time.Second, 200)
	for res.CSeq().MethodName != sip.BYE {
		res = r.recvResponse(3*time.Second, 200)
	}
	if res.StatusCode != 200 {
		t.Errorf("BYE: %s", res.StartLine())
	}
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v", o)
	}
	g.waitIdle(t)
}

// Once the ACK confirmed the dialog the INVITE transaction is let go; a retransmission of the
// INVITE still in flight must not start a second call.
func TestInviteRetransmissionAfterAckDropped(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	inv := r.invite("z9hG4bK-late", "late@test", "", sdpOffer(40020, "0 101", "0 PCMU/8000", "101 telephone-event/8000"))
	r.send(inv)
	ok := r.recvResponse(3*time.Second, 200)
	if ok.StatusCode != 200 {
		t.Fatalf("answer %s", ok.StartLine())
	}
	tag := toTag(ok)
	r.send(r.request("ACK", "z9hG4bK-lateack", "late@test", 1, tag, ""))
	time.Sleep(100 * time.Millisecond)

	r.send(inv)
	deadline := time.Now().Add(600 * time.Millisecond)
	for time.Now().Before(deadline) {
		if m, ok := r.recv(time.Until(deadline)).(*sip.Response); ok && m.CSeq().MethodName == sip.INVITE {
			// A late copy of our first 200 OK is fine; anything for a new call is not.
			if m.StatusCode != 200 || toTag(m) != tag {
				t.Fatalf("retransmitted INVITE answered: %s (to tag %q, call's %q)", m.StartLine(), toTag(m), tag)
			}
		}
	}
	if n := len(g.dec.calls()); n != 1 {
		t.Fatalf("Decide called %d times, want 1", n)
	}

	// The same INVITE by another path (another branch): 482 Loop Detected (RFC 3261 8.2.2.2).
	r.send(strings.Replace(inv, "branch=z9hG4bK-late", "branch=z9hG4bK-late-fork", 1))
	res := r.recvResponse(2*time.Second, 400)
	if res.StatusCode != 482 {
		t.Errorf("merged INVITE: %s, want 482", res.StartLine())
	}

	// A CANCEL after the answer finds no transaction: 481, and the call goes on.
	r.send(r.request("CANCEL", "z9hG4bK-late", "late@test", 1, "", ""))
	res = r.recvResponse(2*time.Second, 200)
	for res.CSeq().MethodName != sip.CANCEL {
		res = r.recvResponse(2*time.Second, 200)
	}
	if res.StatusCode != 481 {
		t.Errorf("CANCEL after answer: %s", res.StartLine())
	}

	r.send(r.request("BYE", "z9hG4bK-latebye", "late@test", 2, tag, ""))
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v", o)
	}
	g.waitIdle(t)
}

// Responses follow the Via (RFC 3261 18.2.2): a caller that sends from one port and names
// another in its Via (no rport) gets the 100 and the 200 OK on the Via's port, a port the
// gateway has never received from.
func TestAnswerFollowsViaPort(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	send := newRawUDP(t, g.Addr("udp"))
	recv := newRawUDP(t, g.Addr("udp"))
	inv := strings.Replace(send.invite("z9hG4bK-via", "via@test", "", sdpOffer(40030, "0 101", "0 PCMU/8000", "101 telephone-event/8000")),
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;", send.port()), fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;", recv.port()), 1)
	send.send(inv)
	ok := recv.recvResponse(3*time.Second, 200)
	if ok.StatusCode != 200 {
		t.Fatalf("answer %s", ok.StartLine())
	}
	ack := send.request("ACK", "z9hG4bK-viaack", "via@test", 1, toTag(ok), "")
	send.send(ack)
	send.send(send.request("BYE", "z9hG4bK-viabye", "via@test", 2, toTag(ok), ""))
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v", o)
	}
	g.waitIdle(t)
}

// A decision that ignores the CANCEL and says "offer" must not answer an INVITE already
// answered 487: one answer state decides between the CANCEL and our 200 OK.
func TestCancelWinsOverLateOffer(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	deciding, release := make(chan struct{}), make(chan struct{})
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		close(deciding)
		<-release // deaf to the CANCEL
		return Decision{Offer: true, SessionID: "late"}, nil
	})
	r := newRawUDP(t, g.Addr("udp"))
	r.send(r.invite("z9hG4bK-lateoffer", "late-offer@test", "", sdpOffer(40040, "0", "0 PCMU/8000")))
	<-deciding
	r.send(r.request("CANCEL", "z9hG4bK-lateoffer", "late-offer@test", 1, "", ""))
	got := map[string]int{}
	for len(got) < 2 {
		res := r.recvResponse(2*time.Second, 200)
		got[res.CSeq().MethodName.String()] = res.StatusCode
	}
	if got["CANCEL"] != 200 || got["INVITE"] != 487 {
		t.Fatalf("responses %v, want CANCEL 200 and INVITE 487", got)
	}
	r.send(r.request("ACK", "z9hG4bK-lateoffer", "late-offer@test", 1, "x", ""))
	close(release)
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v, want abandoned", o)
	}
	deadline := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(deadline) {
		if res, ok := r.recv(time.Until(deadline)).(*sip.Response); ok && res.StatusCode == 200 && res.CSeq().MethodName == sip.INVITE {
			t.Fatalf("200 OK sent after the 487")
		}
	}
	g.waitIdle(t)
}

// A re-INVITE moves the media: hold (a=sendonly) stops our RTP and is answered recvonly with
// the same session's origin, version + 1; resume to another port sends there; an offer we
// cannot take gets 488 and the media stays as it was.
func TestReinviteHoldResumeAndMove(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) { c.IVR.FirstDigitTimeout = time.Minute })
	r := newRawUDP(t, g.Addr("udp"))
	rtpA, rtpB := newRTPSink(t), newRTPSink(t)
	offer := func(port int, extra ...string) string {
		return sdpOffer(port, "0 101", append([]string{"0 PCMU/8000", "101 telephone-event/8000"}, extra...)...)
	}
	r.send(r.invite("z9hG4bK-mv1", "move@test", "", offer(rtpA.port())))
	ok := r.recvResponse(3*time.Second, 200)
	tag := toTag(ok)
	r.send(r.request("ACK", "z9hG4bK-mv1ack", "move@test", 1, tag, ""))
	if n := rtpA.count(300 * time.Millisecond); n < 5 {
		t.Fatalf("%d RTP packets before the re-INVITE", n)
	}

	reinvite := func(branch string, cseq int, body string) *sip.Response {
		t.Helper()
		r.send(r.reinvite(branch, "move@test", cseq, tag, body))
		res := r.recvResponse(3*time.Second, 200)
		for res.CSeq().SeqNo != uint32(cseq) {
			res = r.recvResponse(3*time.Second, 200)
		}
		r.send(r.request("ACK", branch+"ack", "move@test", cseq, tag, ""))
		return res
	}
	version := func(body []byte) string {
		f := strings.Fields(strings.SplitN(strings.SplitN(string(body), "o=", 2)[1], "\n", 2)[0])
		return f[1] + " " + f[2] // session id and version
	}

	held := reinvite("z9hG4bK-mv2", 2, strings.Replace(offer(rtpA.port()), "a=sendrecv", "", 1)+"a=sendonly\r\n")
	if held.StatusCode != 200 || !strings.Contains(string(held.Body()), "a=recvonly") {
		t.Fatalf("hold: %s\n%s", held.StartLine(), held.Body())
	}
	id0, v0, _ := strings.Cut(version(ok.Body()), " ")
	id1, v1, _ := strings.Cut(version(held.Body()), " ")
	if id0 != id1 || v0 == v1 {
		t.Errorf("origin %s %s after hold, was %s %s: want the same session id, a new version", id1, v1, id0, v0)
	}
	rtpA.count(100 * time.Millisecond) // in flight
	if n := rtpA.count(300 * time.Millisecond); n != 0 {
		t.Errorf("%d RTP packets while on hold", n)
	}

	resumed := reinvite("z9hG4bK-mv3", 3, offer(rtpB.port()))
	if resumed.StatusCode != 200 || !strings.Contains(string(resumed.Body()), "a=sendrecv") {
		t.Fatalf("resume: %s\n%s", resumed.StartLine(), resumed.Body())
	}
	if n := rtpB.count(300 * time.Millisecond); n < 5 {
		t.Errorf("%d RTP packets at the new port after resume", n)
	}

	refused := reinvite("z9hG4bK-mv4", 4, sdpOffer(rtpA.port(), "9", "9 G722/8000"))
	if refused.StatusCode != 488 {
		t.Errorf("re-INVITE without a common codec: %s, want 488", refused.StartLine())
	}
	if n := rtpB.count(300 * time.Millisecond); n < 5 {
		t.Errorf("%d RTP packets after the refused re-INVITE: the media should stay", n)
	}

	r.send(r.request("BYE", "z9hG4bK-mv5", "move@test", 5, tag, ""))
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v", o)
	}
	g.waitIdle(t)
}

// rtpSink counts the datagrams arriving at a loopback UDP port.
type rtpSink struct{ c *net.UDPConn }

func newRTPSink(t *testing.T) *rtpSink {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rtpSink{c: c}
}

func (s *rtpSink) port() int { return s.c.LocalAddr().(*net.UDPAddr).Port }

// count reads for d and returns how many datagrams came.
func (s *rtpSink) count(d time.Duration) int {
	buf := make([]byte, 2048)
	n := 0
	deadline := time.Now().Add(d)
	for {
		_ = s.c.SetReadDeadline(deadline)
		if _, _, err := s.c.ReadFromUDP(buf); err != nil {
			return n
		}
		n++
	}
}

// TestInviteRetransmissionAfterEndDropped: a copy of the INVITE that arrives after its call
// ended (within 64×T1, while the caller's transaction may still retransmit) must not start a
// new call; after that the key is forgotten.
func TestInviteRetransmissionAfterEndDropped(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := newRawUDP(t, g.Addr("udp"))
	inv := r.invite("z9hG4bK-ended", "ended@test", "", sdpOffer(40040, "0 101", "0 PCMU/8000", "101 telephone-event/8000"))
	r.send(inv)
	ok := r.recvResponse(3*time.Second, 200)
	if ok.StatusCode != 200 {
		t.Fatalf("answer %s", ok.StartLine())
	}
	tag := toTag(ok)
	r.send(r.request("ACK", "z9hG4bK-endedack", "ended@test", 1, tag, ""))
	r.send(r.request("BYE", "z9hG4bK-endedbye", "ended@test", 2, tag, ""))
	if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
		t.Errorf("outcome %+v", o)
	}
	g.waitIdle(t)

	r.send(inv) // late: the call is over
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if m, ok := r.recv(time.Until(deadline)).(*sip.Response); ok && m.CSeq().MethodName == sip.INVITE && m.StatusCode != 200 {
			t.Fatalf("late INVITE answered %s", m.StartLine())
		}
	}
	if n := len(g.dec.calls()); n != 1 {
		t.Fatalf("Decide called %d times after a late retransmission, want 1", n)
	}
	// 64×T1 later (T1 is 50 ms here) nothing of the call is kept: the same INVITE is a new call.
	time.Sleep(64*50*time.Millisecond + 200*time.Millisecond)
	r.send(inv)
	res := r.recvResponse(3*time.Second, 200)
	if res.StatusCode != 200 || len(g.dec.calls()) != 2 {
		t.Fatalf("after 64×T1: %s, %d decisions; want a new call", res.StartLine(), len(g.dec.calls()))
	}
	r.send(r.request("BYE", "z9hG4bK-endedbye2", "ended@test", 3, toTag(res), ""))
	g.dec.waitFinish(t)
}
