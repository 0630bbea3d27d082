package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

var serverHeader = regexp.MustCompile(`(?im)^Server:[ \t]*(.*?)\r?$`)

// TestDigestAuthAndNoUserEnumeration: with sip.auth set, an INVITE without credentials is
// challenged whatever user it is for, a caller with the right ones deflects, wrong ones are
// refused; the Server header names no version unless configured.
func TestDigestAuthAndNoUserEnumeration(t *testing.T) {
	g := startGateway(t, "auth", "DEFLECTD_SIP_AUTH_USERNAME=pbx", "DEFLECTD_SIP_AUTH_PASSWORD=s3cret",
		"DEFLECTD_SIP_USER_AGENT=deflectd")
	target := "sip:queue@" + g.UDP

	// Same answer for every user, existing or not: only the status line and header names
	// are compared (nonces and tags differ by design).
	shape := func(user string) string {
		p := newProbe(t, "127.0.0.1", g.UDP)
		res := p.responseTo(user, "INVITE", "pbx", 2*time.Second)
		var names []string
		for _, line := range strings.Split(res, "\r\n")[1:] {
			if name, _, ok := strings.Cut(line, ":"); ok {
				names = append(names, strings.ToLower(strings.TrimSpace(name)))
			}
		}
		status, _, _ := strings.Cut(res, "\r\n")
		return status + " " + strings.Join(names, ",")
	}
	first := shape("queue")
	t.Logf("INVITE without credentials: %s", first)
	if !strings.HasPrefix(first, "SIP/2.0 401") || !strings.Contains(first, "www-authenticate") {
		t.Fatalf("INVITE without credentials: %q, want 401 with WWW-Authenticate", first)
	}
	for _, u := range []string{"admin", "100", "pbx", "no-such-user-xyz"} {
		if got := shape(u); got != first {
			t.Errorf("INVITE to %q answered %q, to queue %q: the answer tells users apart", u, got, first)
		}
	}

	o := callOpts(target, caller(1000))
	o.Username, o.Password = "pbx", "s3cret"
	if rep := call(t, o); rep.Result != "deflected" {
		t.Errorf("with credentials: result %q, final %d", rep.Result, rep.FinalStatus)
	} else {
		t.Logf("with credentials: %v, %s", rep.Responses, rep.Duration.Round(time.Millisecond))
	}
	o = callOpts(target, caller(1001))
	o.Username, o.Password = "pbx", "wrong"
	o.Timeout = 5 * time.Second
	if rep := call(t, o); rep.Answered || rep.FinalStatus < 400 {
		t.Errorf("wrong password: answered %v, final %d", rep.Answered, rep.FinalStatus)
	} else {
		t.Logf("wrong password: %v", rep.Responses)
	}

	opt := newProbe(t, "127.0.0.1", g.UDP).response("OPTIONS", "pbx", 2*time.Second)
	if m := serverHeader.FindStringSubmatch(opt); m == nil || m[1] != "deflectd" {
		t.Errorf("Server header %q, want exactly deflectd (no version)", m)
	}
}

// TestTLSListener: a tls:// listener with a certificate from files answers OPTIONS over TLS.
func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, dir)
	g := startGateway(t, "tls", "DEFLECTD_SIP_LISTEN=udp://127.0.0.1:0,tls://127.0.0.1:0",
		"DEFLECTD_SIP_TLS_CERT_FILE="+certFile, "DEFLECTD_SIP_TLS_KEY_FILE="+keyFile)
	// The listener's address is logged by its serving goroutine, maybe after "deflectd serving".
	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		g.mu.Lock()
		for _, l := range g.lines {
			var rec map[string]any
			if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "sip listening" && rec["transport"] == "tls" {
				addr, _ = rec["addr"].(string)
			}
		}
		g.mu.Unlock()
	}
	if addr == "" {
		t.Fatal("no tls listener in the log")
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("tls handshake: %v", err)
	}
	defer c.Close()
	la := c.LocalAddr().String()
	msg := fmt.Sprintf("OPTIONS sip:queue@%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-tls-1\r\n"+
		"From: <sip:pbx@%s>;tag=t1\r\nTo: <sip:queue@%s>\r\nCall-ID: tls-1@e2e\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"+
		"Content-Length: 0\r\n\r\n", addr, la, la, addr)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read over tls: %v", err)
	}
	if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TLS: %.60q", buf[:n])
	}
}

// TestMaxMessageSize: above sip.max_message_size a UDP datagram is dropped unparsed and a TCP
// request is answered 513; below it both are answered.
func TestMaxMessageSize(t *testing.T) {
	g := startGateway(t, "size", "DEFLECTD_SIP_MAX_MESSAGE_SIZE=4000")
	options := func(callID string, pad int) []byte {
		return []byte(fmt.Sprintf("OPTIONS sip:queue@%s SIP/2.0\r\nVia: SIP/2.0/%s 127.0.0.1:5999;branch=z9hG4bK-%s;rport\r\n"+
			"From: <sip:pbx@127.0.0.1>;tag=s1\r\nTo: <sip:queue@127.0.0.1>\r\nCall-ID: %s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"+
			"X-Context-Padding: %s\r\nContent-Length: 0\r\n\r\n", g.UDP, "UDP", callID, callID, strings.Repeat("p", pad)))
	}
	for _, tc := range []struct {
		name string
		pad  int
		udp  string // first line prefix, "" = nothing
		tcp  string
	}{
		{"small", 1000, "SIP/2.0 200", "SIP/2.0 200"},
		{"too large", 6000, "", "SIP/2.0 513"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uc, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(mustAddrPort(g.UDP)))
			if err != nil {
				t.Fatal(err)
			}
			defer uc.Close()
			_, _ = uc.Write(options("size-udp-"+tc.name, tc.pad))
			_ = uc.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 65536)
			n, _ := uc.Read(buf)
			if got := string(buf[:n]); (tc.udp == "" && n != 0) || !strings.HasPrefix(got, tc.udp) {
				t.Errorf("udp: %.30q, want %q", got, tc.udp)
			}
			tc2, err := net.DialTimeout("tcp", g.TCP, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer tc2.Close()
			msg := strings.Replace(string(options("size-tcp-"+tc.name, tc.pad)), "SIP/2.0/UDP", "SIP/2.0/TCP", 1)
			_, _ = tc2.Write([]byte(msg))
			_ = tc2.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, _ = tc2.Read(buf)
			if got := string(buf[:n]); !strings.HasPrefix(got, tc.tcp) {
				t.Errorf("tcp: %.30q, want %q", got, tc.tcp)
			}
		})
	}
}
