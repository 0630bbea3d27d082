package voice_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr/voice"
	"github.com/deflectd/deflectd/ivr/voice/metasim"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// resolver stands in for the deflection engine: one valid payload, "good".
type resolver struct {
	mu      sync.Mutex
	records []voice.CallRecord
	done    chan struct{}
}

func (r *resolver) ResolveCall(_ context.Context, payload, waID string) (voice.CallContext, error) {
	if payload != "good" {
		return voice.CallContext{}, errors.New("forged")
	}
	return voice.CallContext{SessionID: "S-voice-1", WAID: waID, Queue: "billing", CustomerID: "C-1001",
		Language: "en", Context: map[string]string{"Plan": "gold"}}, nil
}

func (r *resolver) RecordCall(_ context.Context, rec voice.CallRecord) {
	r.mu.Lock()
	r.records = append(r.records, rec)
	r.mu.Unlock()
	r.done <- struct{}{}
}

func (r *resolver) wait(t *testing.T) voice.CallRecord {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		t.Fatal("no call recorded")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records[len(r.records)-1]
}

type harness struct {
	srv  *voice.Server
	res  *resolver
	pool *x509.CertPool
	reg  *prometheus.Registry
	stop func() // ends Serve (as on shutdown) and waits for it
}

// start runs a voice server toward a queue at queuePort; mutate adjusts its config.
func start(t *testing.T, queuePort int, mutate func(*voice.Config)) *harness {
	t.Helper()
	return startLogging(t, queuePort, mutate, nil)
}

// startLogging is start with the server's (and sipgo's) log lines written to logTo.
func startLogging(t *testing.T, queuePort int, mutate func(*voice.Config), logTo io.Writer) *harness {
	t.Helper()
	cert, pool, err := voice.SelfSigned(loopback)
	if err != nil {
		t.Fatal(err)
	}
	cfg := voice.Config{
		Listen: netip.AddrPortFrom(loopback, 0), PBXListen: netip.AddrPortFrom(loopback, 0),
		TLS:       &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		PBXTarget: sip.Uri{Scheme: "sip", User: "queue", Host: "127.0.0.1", Port: queuePort},
		Realm:     "deflectd", User: "15550001111", Password: "sip-password-for-tests",
		MediaIP: loopback, AnswerTimeout: 10 * time.Second, MaxDuration: time.Minute, MediaTimeout: 10 * time.Second,
		ConsoleURL: "http://127.0.0.1:8080",
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{res: &resolver{done: make(chan struct{}, 4)}, pool: pool, reg: prometheus.NewRegistry()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if logTo != nil {
		log = slog.New(slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h.srv, err = voice.New(cfg, h.res, log, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.srv.Serve(ctx) }()
	var once sync.Once
	h.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(h.stop)
	return h
}

func (h *harness) call(t *testing.T, payload, password string, dur time.Duration) metasim.Report {
	t.Helper()
	return h.callWith(t, metasim.Call{Payload: payload, Password: password, Duration: dur})
}

// callWith places c with the harness's target, trust and customer filled in.
func (h *harness) callWith(t *testing.T, c metasim.Call) metasim.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c.Target, c.MediaIP = h.srv.Addr(), loopback
	c.TLS = &tls.Config{RootCAs: h.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	c.Business, c.User, c.WAID, c.Name = "15550001111", "15550001111", "966501234567", "Sara"
	rep, err := metasim.Place(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("whatsapp call: %v (report %+v)", err, rep)
	}
	return rep
}

// startQueue runs sipp as the PBX queue with a scenario of deploy/loadtest/sipp.
func startQueue(t *testing.T, scenario string) *testkit.SippUAS {
	t.Helper()
	return testkit.StartSippUAS(t, scenario, 40*time.Second)
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// TestBridgeCarriesContextAndAudio: the customer taps the call button of their deflection;
// the queue receives the context headers, audio flows both ways through SRTP ↔ RTP (sipp
// echoes it back), the customer hangs up and the queue gets the BYE.
func TestBridgeCarriesContextAndAudio(t *testing.T) {
	q := startQueue(t, "voice-queue-uas.xml")
	h := start(t, q.Port, nil)
	rep := h.call(t, "good", "sip-password-for-tests", 1500*time.Millisecond)
	if !rep.Answered || rep.Status != 200 || rep.EndedBy != "customer" {
		t.Fatalf("report %+v, want answered and ended by the customer", rep)
	}
	// 1.5 s of 20 ms frames is 75; the echo crosses deflectd twice (SRTP→RTP→sipp→RTP→SRTP).
	if rep.Sent < 60 || rep.Received < rep.Sent*8/10 {
		t.Errorf("audio: sent %d, received back %d decrypted packets; want ≥ 80 %% back", rep.Sent, rep.Received)
	}
	msgs := q.Wait(t)
	for _, want := range []string{"X-Deflect-Session: S-voice-1", "X-Queue: billing", "X-Customer-Id: C-1001",
		"X-Language: en", "X-Context-Plan: gold", "X-WhatsApp-Conversation: http://127.0.0.1:8080/console/",
		"From: \"WhatsApp\" <sip:+966501234567@"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("the queue's INVITE lacks %q", want)
		}
	}
	rec := h.res.wait(t)
	if rec.Result != voice.ResultAnswered || rec.EndedBy != "customer" || rec.SessionID != "S-voice-1" || rec.Talk < time.Second {
		t.Errorf("record %+v", rec)
	}
}

// TestBridgeQueueHangsUp: the agent hangs up; deflectd sends the BYE to WhatsApp.
func TestBridgeQueueHangsUp(t *testing.T) {
	q := startQueue(t, "voice-queue-bye.xml")
	h := start(t, q.Port, nil)
	rep := h.call(t, "good", "sip-password-for-tests", 20*time.Second)
	if !rep.Answered || rep.EndedBy != "business" {
		t.Fatalf("report %+v, want the business to hang up", rep)
	}
	if rep.Talk > 10*time.Second || rep.Received == 0 {
		t.Errorf("talk %s, %d packets back; want about 1.5 s with audio", rep.Talk, rep.Received)
	}
	q.Wait(t)
	if rec := h.res.wait(t); rec.EndedBy != "queue" || rec.Result != voice.ResultAnswered {
		t.Errorf("record %+v, want answered, ended by the queue", rec)
	}
}

// TestBridgeWithoutValidPayload: a forged payload or none still reaches the queue, without
// the deflection's context.
func TestBridgeWithoutValidPayload(t *testing.T) {
	for _, payload := range []string{"forged", ""} {
		t.Run("payload="+payload, func(t *testing.T) {
			q := startQueue(t, "voice-queue-bye.xml")
			h := start(t, q.Port, nil)
			rep := h.call(t, payload, "sip-password-for-tests", 20*time.Second)
			if !rep.Answered {
				t.Fatalf("report %+v, want the call bridged", rep)
			}
			msgs := q.Wait(t)
			if strings.Contains(msgs, "X-Deflect-Session") || strings.Contains(msgs, "X-Queue") {
				t.Errorf("the queue got a context for a payload that was not ours:\n%s", tail(msgs))
			}
			if !strings.Contains(msgs, "X-Deflect-Source: whatsapp-call") {
				t.Errorf("the queue's INVITE lacks X-Deflect-Source")
			}
			if rec := h.res.wait(t); rec.SessionID != "" {
				t.Errorf("record %+v has a session", rec)
			}
		})
	}
}

// TestRefusals: what never reaches the queue.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		mutate   func(*voice.Config)
		password string
		want     int
	}{
		{name: "wrong SIP password", password: "not-the-password", want: 401},
		{name: "no SIP password", password: "", want: 401},
		{name: "source not in voice.allow", password: "sip-password-for-tests", want: 403,
			mutate: func(c *voice.Config) { c.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }},
		{name: "queue busy", scenario: "voice-queue-busy.xml", password: "sip-password-for-tests", want: 486},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := testkit.FreeUDPPort(t, false) // nothing listens: the call must not get that far
			var q *testkit.SippUAS
			if tc.scenario != "" {
				q = startQueue(t, tc.scenario)
				port = q.Port
			}
			h := start(t, port, tc.mutate)
			rep := h.call(t, "good", tc.password, time.Second)
			if rep.Status != tc.want || rep.Answered {
				t.Fatalf("report %+v, want %d", rep, tc.want)
			}
			if q != nil {
				q.Wait(t)
				if rec := h.res.wait(t); rec.Result != voice.ResultBusy {
					t.Errorf("record %+v, want busy", rec)
				}
			}
		})
	}
}

// TestCustomerHangsUpWhileQueueRings: a CANCEL from WhatsApp cancels the queue's leg.
func TestCustomerHangsUpWhileQueueRings(t *testing.T) {
	q := startQueue(t, "voice-queue-ring.xml")
	h := start(t, q.Port, nil)
	rep := h.callWith(t, metasim.Call{Payload: "good", Password: "sip-password-for-tests", Timeout: 1500 * time.Millisecond})
	if rep.Answered || rep.Status != 487 {
		t.Fatalf("report %+v, want the customer's own give-up", rep)
	}
	q.Wait(t) // fails unless the queue got the CANCEL
	if rec := h.res.wait(t); rec.Result != voice.ResultCancelled || rec.EndedBy != "customer" {
		t.Errorf("record %+v, want cancelled by the customer", rec)
	}
}

// TestDrainAndShutdown: draining refuses new WhatsApp calls with 503 and waits for the bridged
// one; shutting down then hangs it up on both legs.
func TestDrainAndShutdown(t *testing.T) {
	q := startQueue(t, "voice-queue-uas.xml")
	h := start(t, q.Port, nil)
	first := make(chan metasim.Report, 1)
	go func() { first <- h.call(t, "good", "sip-password-for-tests", 30*time.Second) }()
	testkit.Eventually(t, 10*time.Second, "the first call bridged (the queue got its ACK)", func() bool {
		b, _ := os.ReadFile(q.Log)
		return h.srv.ActiveCalls() == 1 && strings.Contains(string(b), "ACK sip:")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := h.srv.Drain(ctx); err == nil {
		t.Fatal("drain returned while a call was up")
	}
	if rep := h.call(t, "good", "sip-password-for-tests", time.Second); rep.Status != 503 {
		t.Errorf("a new call while draining: %+v, want 503", rep)
	}
	h.stop()
	rep := <-first
	if !rep.Answered || rep.EndedBy != "business" || rep.Talk > 20*time.Second {
		t.Errorf("the bridged call: %+v, want hung up by deflectd at shutdown", rep)
	}
	q.Wait(t) // the queue got its BYE
	if rec := h.res.wait(t); rec.EndedBy != "shutdown" {
		t.Errorf("record %+v, want ended by shutdown", rec)
	}
}

// TestLogsCarryNoNumbers: a whole call, with a payload refused (a warning with its error) and
// the queue hanging up, logs neither the customer's nor the business's number.
func TestLogsCarryNoNumbers(t *testing.T) {
	var logs testkit.Buffer
	q := startQueue(t, "voice-queue-bye.xml")
	h := startLogging(t, q.Port, nil, &logs)
	if rep := h.call(t, "forged", "sip-password-for-tests", 20*time.Second); !rep.Answered {
		t.Fatalf("report %+v", rep)
	}
	q.Wait(t)
	h.res.wait(t)
	h.stop()
	out := logs.String()
	if !strings.Contains(out, "whatsapp call ended") || !strings.Contains(out, "payload not accepted") {
		t.Fatalf("the log lacks the call's lines:\n%s", out)
	}
	for _, n := range []string{"966501234567", "15550001111"} {
		if strings.Contains(out, n) {
			t.Errorf("the log carries %s:\n%s", n, out)
		}
	}
}

// TestQueueReinvite: the queue's re-INVITE is answered (not passed to WhatsApp, which takes
// none) and the call goes on with audio until the queue hangs up.
func TestQueueReinvite(t *testing.T) {
	q := startQueue(t, "voice-queue-reinvite.xml")
	h := start(t, q.Port, nil)
	rep := h.call(t, "good", "sip-password-for-tests", 20*time.Second)
	if !rep.Answered || rep.EndedBy != "business" {
		t.Fatalf("report %+v, want the queue to hang up after its re-INVITE", rep)
	}
	// 1.5 s of talk: the audio went on across the re-INVITE.
	if rep.Received < 50 {
		t.Errorf("%d packets back, want the audio to flow across the re-INVITE", rep.Received)
	}
	msgs := q.Wait(t) // fails unless the re-INVITE got its 200
	if !strings.Contains(msgs, "CSeq: 2 INVITE") {
		t.Errorf("no re-INVITE in the queue's trace")
	}
}
