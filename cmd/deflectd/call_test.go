package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/ivr/media"
)

func TestCallUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no target", []string{"call", "--from", "+966501234567"}},
		{"not a sip uri", []string{"call", "http://x", "--from", "+966501234567"}},
		{"no from", []string{"call", "sip:ivr@127.0.0.1:5060"}},
		{"bad digit", []string{"call", "sip:ivr@127.0.0.1:5060", "--from", "+966501234567", "--press", "x"}},
		{"bad transport", []string{"call", "sip:ivr@127.0.0.1:5060", "--from", "+966501234567", "--transport", "sctp"}},
		{"bad header", []string{"call", "sip:ivr@127.0.0.1:5060", "--from", "+966501234567", "--header", "nocolon"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, testEnv(), tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr)
			}
		})
	}
}

// offerAll is the smallest Decider: offer every call, deflect on 1.
type offerAll struct{ finished chan ivr.Outcome }

func (offerAll) Decide(context.Context, *ivr.CallInfo) (ivr.Decision, error) {
	return ivr.Decision{Offer: true, SessionID: "cli"}, nil
}
func (offerAll) Accept(context.Context, string) ivr.AcceptResult {
	return ivr.AcceptResult{Deflected: true}
}
func (o offerAll) Finish(_ context.Context, _ string, out ivr.Outcome) { o.finished <- out }

func TestCallPrintsResult(t *testing.T) {
	prompts, err := media.LoadPrompts("../../ivr/testdata/prompts") // short prompts: a fast test
	if err != nil {
		t.Fatal(err)
	}
	eng, err := media.NewEngine(media.EngineConfig{BindIP: netip.MustParseAddr("127.0.0.1"), Schedulers: 1}, prompts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	def := configs.Default()
	def.SIP.Listen = []string{"udp://127.0.0.1:0"}
	dec := offerAll{finished: make(chan ivr.Outcome, 1)}
	srv, err := ivr.New(ivr.Config{SIP: def.SIP, IVR: def.IVR}, dec, eng, prompts, ivr.LookupNormalizer("SA"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	stdout, stderr, code := runCLI(t, testEnv(), "call", "sip:ivr@"+srv.Addr("udp").String(),
		"--from", "+966501234567", "--press", "1", "--press-after", "300ms", "--header", "X-Queue: billing", "--timeout", "30s")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"> INVITE", "< 200 OK", "> DTMF 1 (RFC 4733)", "< BYE", "X-Deflect-Result: deflected", "audio received: "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	select {
	case o := <-dec.finished:
		if o.Result != "deflected" {
			t.Errorf("outcome %+v", o)
		}
	case <-time.After(5 * time.Second):
		t.Error("no outcome")
	}
}

// refuseAll answers every INVITE before the answer: ineligible (480 with a result) or, with
// err set, "cannot decide" (503, no result).
type refuseAll struct{ err error }

func (r refuseAll) Decide(context.Context, *ivr.CallInfo) (ivr.Decision, error) {
	if r.err != nil {
		return ivr.Decision{}, r.err
	}
	return ivr.Decision{Offer: false, Reason: "cooldown"}, nil
}
func (refuseAll) Accept(context.Context, string) ivr.AcceptResult { return ivr.AcceptResult{} }
func (refuseAll) Finish(context.Context, string, ivr.Outcome)     {}

// TestCallExitStatus: 0 when the gateway gave a result, whatever it was (ineligible included),
// 1 when it gave none (503 cannot-decide, no answer within --timeout).
func TestCallExitStatus(t *testing.T) {
	prompts, err := media.LoadPrompts("../../ivr/testdata/prompts")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := media.NewEngine(media.EngineConfig{BindIP: netip.MustParseAddr("127.0.0.1"), Schedulers: 1}, prompts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	serve := func(t *testing.T, dec ivr.Decider) string {
		def := configs.Default()
		def.SIP.Listen = []string{"udp://127.0.0.1:0"}
		srv, err := ivr.New(ivr.Config{SIP: def.SIP, IVR: def.IVR}, dec, eng, prompts, ivr.LookupNormalizer("SA"), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		return "sip:ivr@" + srv.Addr("udp").String()
	}
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	tests := []struct {
		name     string
		target   func(t *testing.T) string
		wantCode int
		wantOut  string
	}{
		{"ineligible is a result", func(t *testing.T) string { return serve(t, refuseAll{}) }, 0, "X-Deflect-Result: ineligible;reason=cooldown"},
		{"503 is no result", func(t *testing.T) string { return serve(t, refuseAll{err: errors.New("store down")}) }, 1, "final response: 503"},
		{"no answer is no result", func(*testing.T) string { return "sip:ivr@" + dead.LocalAddr().String() }, 1, "X-Deflect-Result: (none)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := runCLI(t, testEnv(), "call", tc.target(t), "--from", "+966501234567", "--timeout", "2s")
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			if !strings.Contains(stdout, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, stdout)
			}
		})
	}
}
