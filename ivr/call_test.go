package ivr

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

func TestCallFlows(t *testing.T) {
	tests := []struct {
		name       string
		opts       CallOptions
		mutate     func(*Config)
		accept     func(ctx context.Context, id string) AcceptResult
		wantResult string // X-Deflect-Result seen by the caller
		wantSteps  []string
		wantOut    Outcome // Result and Reason
	}{
		{
			// The digit comes after the 1 s offer, inside a first-digit window made wide.
			name:       "accept",
			opts:       CallOptions{Press: "1", PressAfter: 1300 * time.Millisecond},
			mutate:     func(c *Config) { c.IVR.FirstDigitTimeout = 2 * time.Second },
			wantResult: "deflected",
			wantSteps:  []string{"offer", "dtmf:1", "accept", "sent", "bye"},
			wantOut:    Outcome{Result: ResultDeflected},
		},
		{
			name:       "decline",
			opts:       CallOptions{Press: "2", PressAfter: 400 * time.Millisecond},
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
		{
			name:       "timeout",
			opts:       CallOptions{},
			wantResult: "timeout",
			wantSteps:  []string{"offer", "offer", "timeout", "return_queue", "bye"},
			wantOut:    Outcome{Result: ResultTimeout},
		},
		{
			name:       "invalid then valid digit",
			opts:       CallOptions{Press: "51", PressAfter: 400 * time.Millisecond, PressGap: 900 * time.Millisecond},
			wantResult: "deflected",
			wantSteps:  []string{"offer", "dtmf:5", "invalid", "offer", "dtmf:1", "accept", "sent", "bye"},
			wantOut:    Outcome{Result: ResultDeflected},
		},
		{
			name:       "send failure",
			opts:       CallOptions{Press: "1", PressAfter: 400 * time.Millisecond},
			accept:     func(context.Context, string) AcceptResult { return AcceptResult{Reason: "not-on-whatsapp"} },
			wantResult: "failed;reason=not-on-whatsapp",
			wantSteps:  []string{"offer", "dtmf:1", "accept", "not_reachable", "bye"},
			wantOut:    Outcome{Result: ResultFailed, Reason: "not-on-whatsapp"},
		},
		{
			name:       "SIP INFO DTMF",
			opts:       CallOptions{Press: "1", PressAfter: 300 * time.Millisecond, PressVia: "info"},
			wantResult: "deflected",
			wantSteps:  []string{"offer", "dtmf:1", "accept", "sent", "bye"},
			wantOut:    Outcome{Result: ResultDeflected},
		},
		{
			name:       "late offer",
			opts:       CallOptions{Press: "2", PressAfter: 400 * time.Millisecond, LateOffer: true},
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
		{
			name:       "tcp",
			opts:       CallOptions{Press: "1", PressAfter: 400 * time.Millisecond, Transport: "tcp"},
			wantResult: "deflected",
			wantSteps:  []string{"offer", "dtmf:1", "accept", "sent", "bye"},
			wantOut:    Outcome{Result: ResultDeflected},
		},
		{
			name:       "max call duration",
			opts:       CallOptions{},
			mutate:     func(c *Config) { c.SIP.MaxCallDuration = 700 * time.Millisecond },
			wantResult: "timeout;reason=max-duration",
			wantSteps:  []string{"offer", "max-duration", "bye"},
			wantOut:    Outcome{Result: ResultTimeout, Reason: "max-duration"},
		},
		{
			name:       "REFER success",
			opts:       CallOptions{Press: "2", PressAfter: 400 * time.Millisecond},
			mutate:     func(c *Config) { c.OnDecline = "refer"; c.ReturnTarget = "sip:queue@127.0.0.1" },
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "refer", "refer-ok", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
		{
			name:       "REFER refused",
			opts:       CallOptions{Press: "2", PressAfter: 400 * time.Millisecond, ReferStatus: 603},
			mutate:     func(c *Config) { c.OnDecline = "refer"; c.ReturnTarget = "sip:queue@127.0.0.1" },
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "refer", "refer-refused:603", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
		{
			name:       "REFER transfer fails in NOTIFY",
			opts:       CallOptions{Press: "2", PressAfter: 400 * time.Millisecond, ReferNotify: "SIP/2.0 486 Busy Here"},
			mutate:     func(c *Config) { c.OnDecline = "refer"; c.ReturnTarget = "sip:queue@127.0.0.1" },
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "refer", "refer-failed:486", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
		{
			name: "REFER to X-Return-To",
			opts: CallOptions{Press: "2", PressAfter: 400 * time.Millisecond,
				Headers: []string{"X-Return-To: <sip:billing@127.0.0.1>"}},
			mutate:     func(c *Config) { c.OnDecline = "refer" },
			wantResult: "declined",
			wantSteps:  []string{"offer", "dtmf:2", "return_queue", "refer", "refer-ok", "bye"},
			wantOut:    Outcome{Result: ResultDeclined},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mutate []func(*Config)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			g := startGateway(t, mutate...)
			g.dec.setAccept(tc.accept)
			rep := g.dial(t, tc.opts)
			if !rep.Answered || rep.FinalStatus != 200 {
				t.Fatalf("not answered: %+v", rep)
			}
			if rep.Result != tc.wantResult {
				t.Errorf("X-Deflect-Result = %q, want %q", rep.Result, tc.wantResult)
			}
			if !rep.Completed() {
				t.Errorf("call not completed: %+v", rep)
			}
			o := g.dec.waitFinish(t)
			if o.Result != tc.wantOut.Result || o.Reason != tc.wantOut.Reason {
				t.Errorf("outcome = %s/%s, want %s/%s", o.Result, o.Reason, tc.wantOut.Result, tc.wantOut.Reason)
			}
			if got, want := strings.Join(o.Path, ","), strings.Join(tc.wantSteps, ","); got != want {
				t.Errorf("path = %s, want %s", got, want)
			}
			if rep.RTP.AudioPackets == 0 {
				t.Errorf("no audio received")
			}
			if strings.HasPrefix(tc.name, "REFER") && tc.opts.ReferStatus == 0 {
				if rep.EndedBy != "refer" || !strings.Contains(rep.ReferTo, "127.0.0.1") {
					t.Errorf("refer: ended by %q, Refer-To %q", rep.EndedBy, rep.ReferTo)
				}
			}
			g.waitIdle(t)
			select {
			case extra := <-g.dec.finished:
				t.Errorf("Finish called twice: %+v", extra)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestBargeIn(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rep := g.dial(t, CallOptions{Press: "1", PressAfter: 150 * time.Millisecond})
	if rep.Result != "deflected" {
		t.Fatalf("result %q", rep.Result)
	}
	// The offer lasts 1 s; the digit at 150 ms must cut it: sent (0.2 s) and BYE follow at
	// once. Without barge-in the call would last at least 1.2 s after the answer.
	if d := rep.Duration - rep.InviteAfter; d > time.Second {
		t.Errorf("call took %s: the digit did not interrupt the 1 s offer", d)
	}
	o := g.dec.waitFinish(t)
	if o.Path[0] != "offer" || o.Path[1] != "dtmf:1" {
		t.Errorf("path %v", o.Path)
	}
}

func TestCallerHangsUpMidPrompt(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rep := g.dial(t, CallOptions{HangupAfter: 300 * time.Millisecond})
	if rep.EndedBy != "caller" {
		t.Fatalf("ended by %q", rep.EndedBy)
	}
	o := g.dec.waitFinish(t)
	if o.Result != ResultAbandoned {
		t.Errorf("outcome %q, want abandoned", o.Result)
	}
	if hasStep(o.Path, "bye") {
		t.Errorf("gateway sent BYE after the caller hung up: %v", o.Path)
	}
	g.waitIdle(t)
	if v := g.counter(t, "deflectd_rtp_streams", nil); v != 0 {
		t.Errorf("media streams still open: %v", v)
	}
}

func TestAcceptWaitsWithHoldToneAndCallerHangsUp(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	accepted := make(chan error, 1)
	g.dec.setAccept(func(ctx context.Context, _ string) AcceptResult {
		<-ctx.Done() // the WhatsApp confirmation never comes; the caller gives up
		accepted <- ctx.Err()
		return AcceptResult{Reason: "cancelled"}
	})
	rep := g.dial(t, CallOptions{Press: "1", PressAfter: 200 * time.Millisecond, HangupAfter: 1500 * time.Millisecond})
	if rep.EndedBy != "caller" {
		t.Fatalf("ended by %q", rep.EndedBy)
	}
	if err := <-accepted; !errors.Is(err, context.Canceled) {
		t.Errorf("Accept ctx: %v", err)
	}
	o := g.dec.waitFinish(t)
	if o.Result != ResultAbandoned || !hasStep(o.Path, "accept") {
		t.Errorf("outcome %+v", o)
	}
	// The hold tone kept audio flowing while Accept waited.
	if rep.RTP.Seconds() < 1.0 {
		t.Errorf("only %.2f s of audio", rep.RTP.Seconds())
	}
}

func TestIneligible480(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		return Decision{Offer: false, Reason: "not-mobile"}, nil
	})
	rep := g.dial(t, CallOptions{})
	if rep.FinalStatus != 480 || rep.Result != "ineligible;reason=not-mobile" {
		t.Fatalf("status %d result %q", rep.FinalStatus, rep.Result)
	}
	if !rep.Completed() {
		t.Error("a 480 with a result is a completed call")
	}
	select {
	case o := <-g.dec.finished:
		t.Errorf("Finish called for a call not offered: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestDecideError503(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		return Decision{}, errors.New("store down")
	})
	rep := g.dial(t, CallOptions{})
	if rep.FinalStatus != 503 {
		t.Fatalf("status %d", rep.FinalStatus)
	}
	if v := g.counter(t, "deflectd_ivr_invite_responses_total", map[string]string{"code": "503"}); v != 1 {
		t.Errorf("503 counter %v", v)
	}
}

func TestContextReachesDecider(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		return Decision{Offer: false, Reason: "test"}, nil
	})
	g.dial(t, CallOptions{From: "0501234567", Headers: []string{
		"P-Asserted-Identity: <tel:+966551112222>",
		"X-Queue: billing", "X-Wait-Estimate: 240", "X-Customer-Id: C-77",
		"X-Context-Order: 1234", "X-Language: ar-SA",
		"User-to-User: 48656c6c6f;encoding=hex",
	}})
	ci := g.dec.calls()[0]
	if ci.Caller.E164 != "+966551112222" || !ci.Caller.Valid || ci.Caller.Region != "SA" {
		t.Errorf("caller %+v", ci.Caller)
	}
	if ci.Queue != "billing" || ci.WaitEstimate != 240 || ci.CustomerID != "C-77" || ci.Context["Order"] != "1234" ||
		ci.Language != "ar" || ci.UserToUser != "Hello" || ci.Transport != "udp" || !ci.Source.IsValid() {
		t.Errorf("call info %+v", ci)
	}
}

func TestSessionLanguageFromDecision(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	g.dec.setDecide(func(_ context.Context, c *CallInfo) (Decision, error) {
		return Decision{Offer: true, SessionID: "x", Language: "ar"}, nil
	})
	rep := g.dial(t, CallOptions{From: "+447700900123", Press: "2", PressAfter: 300 * time.Millisecond})
	if rep.Result != "declined" {
		t.Fatalf("result %q", rep.Result)
	}
	if ci := g.dec.calls()[0]; ci.Language != "en" {
		t.Errorf("language for a UK caller = %q, want en", ci.Language)
	}
}

// TestLogsCarryIDsNotNumbers: a whole call logs with component, call_id and session_id, and
// the caller's number never appears.
func TestLogsCarryIDsNotNumbers(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g := startGatewayLog(t, log)
	rep := g.dial(t, CallOptions{Press: "2", PressAfter: 300 * time.Millisecond,
		Headers: []string{"P-Asserted-Identity: <tel:+966551112222>", "X-Customer-Id: C-9"}})
	if rep.Result != "declined" {
		t.Fatalf("result %q", rep.Result)
	}
	g.dec.waitFinish(t)
	out := string(buf.Bytes())
	for _, n := range []string{"501234567", "551112222"} {
		if strings.Contains(out, n) {
			t.Errorf("number %s in logs:\n%s", n, out)
		}
	}
	for _, want := range []string{`"component":"ivr"`, `"call_id":"` + rep.CallID + `"`, `"session_id":"s1"`, `"result":"declined"`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// A caller listening to the offer or thinking about it holds no goroutine (menu.go): the menu
// moves on events. 40 held calls must not add anywhere near 40 goroutines.
func TestHeldCallsHoldNoGoroutine(t *testing.T) {
	g := startGateway(t)
	const calls = 40
	r := newRawUDP(t, g.Addr("udp"))
	before := runtime.NumGoroutine()
	held := holdCalls(t, r, "held", calls, 41000)
	deadline := time.Now().Add(2 * time.Second)
	for len(g.dec.calls()) < calls && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // every call is in its offer now
	if added := runtime.NumGoroutine() - before; added > calls/4 {
		t.Errorf("%d held calls added %d goroutines", calls, added)
	}
	held.hangUp()
	for range calls {
		if o := g.dec.waitFinish(t); o.Result != ResultAbandoned {
			t.Errorf("outcome %+v", o)
		}
	}
	g.waitIdle(t)
}
