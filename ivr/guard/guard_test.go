package guard

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
)

type reqOpt func(*sip.Request)

func ua(v string) reqOpt {
	return func(r *sip.Request) { r.AppendHeader(sip.NewHeader("User-Agent", v)) }
}
func body(n int) reqOpt         { return func(r *sip.Request) { r.SetBody([]byte(strings.Repeat("v", n))) } }
func user(u string) reqOpt      { return func(r *sip.Request) { r.Recipient.User = u } }
func header(k, v string) reqOpt { return func(r *sip.Request) { r.AppendHeader(sip.NewHeader(k, v)) } }

// request builds a parsed-looking request from 198.51.100.7.
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
		{"friendly-scanner dropped", base, request(sip.OPTIONS, ua("friendly-scanner")), Drop, 0, "scanner"},
		{"sipvicious any case dropped", base, request(sip.INVITE, ua("SIPVicious 0.3.4")), Drop, 0, "scanner"},
		{"sipcli dropped", base, request(sip.REGISTER, ua("sipcli/v1.8")), Drop, 0, "scanner"},
		{"sip-scan dropped", base, request(sip.OPTIONS, ua("sip-scan")), Drop, 0, "scanner"},
		{"VaxSIPUserAgent dropped", base, request(sip.INVITE, ua("VaxSIPUserAgent/3.1")), Drop, 0, "scanner"},
		{"scanner ACK dropped too", base, request(sip.ACK, ua("friendly-scanner")), Drop, 0, "scanner"},
		{"real PBX user agent allowed", base, request(sip.INVITE, ua("Asterisk PBX 20.5.0")), Allow, 0, ""},
		{"malformed ACK dropped, never answered", base, request(sip.ACK, header("Call-ID", "second")), Drop, 0, "malformed"},
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

// TestNoUserEnumeration: whatever user the Request-URI names, and whether or not it is a real
// account, the answers are the same (status, reason, header names). With sip.auth the IVR's
// TestNoUserEnumeration covers the challenge.
func TestNoUserEnumeration(t *testing.T) {
	for _, cfg := range []configs.SIPConfig{configs.Default().SIP} {
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
				t.Fatalf("answers differ by user: %q", shapes)
			}
		}
	}
}

func TestScreen(t *testing.T) {
	cfg := configs.Default().SIP
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
		{"OPTIONS with a Require refused", request(sip.OPTIONS, header("Require", "foo")), 420, false},
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
			if res.GetHeader("Unsupported") == nil {
				t.Error("no Unsupported")
			}
			if res.CallID().Value() != "call-1" || res.Via() == nil {
				t.Error("response not built from the request")
			}
		})
	}
}

// BenchmarkCheckServe is the guard as serve wires it (scanner, RFC 4475 checks; no auth) on an
// INVITE from a PBX.
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
