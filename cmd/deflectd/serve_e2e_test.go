package main

// End-to-end tests of the gateway as serve wires it: real SIP calls (ivr.Dial, the code behind
// `deflectd call`, and sipp) against the real IVR, deflection engine, WhatsApp client, webhook,
// consumer and sandbox Graph API, on a memory store or a real redis-server. Everything listens on
// loopback port 0.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr"
)

const (
	e2eToken      = "e2e-admin-token"
	notOnWhatsApp = "+966501110000"
)

// e2eConfig is the embedded default on loopback port 0, with short prompts and timers.
func e2eConfig() configs.Config {
	cfg := configs.Default()
	cfg.SIP.Listen = []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}
	cfg.SIP.DrainTimeout = 3 * time.Second
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.RTP.PortMin, cfg.RTP.PortMax = 0, 0 // the OS picks RTP ports
	cfg.IVR.PromptsDir = "testdata/prompts"
	cfg.IVR.FirstDigitTimeout = 1500 * time.Millisecond
	cfg.IVR.OfferRepeats = 1
	cfg.API.AdminToken = e2eToken
	cfg.WhatsApp.AppSecret = "e2e-app-secret"
	cfg.WhatsApp.Sandbox.StatusDelay = 50 * time.Millisecond
	cfg.WhatsApp.Sandbox.NotOnWhatsApp = []string{notOnWhatsApp}
	cfg.WhatsApp.Sandbox.Templates = []configs.TemplateDef{{Name: "call_deflection", Languages: []string{"en", "ar"}, BodyParams: 2, Buttons: 2}}
	cfg.Deflect.Template.Params = []string{"{{.Queue}}", "{{.Context.Account}}"}
	cfg.Deflect.ConfirmTimeout = 3 * time.Second
	return cfg
}

type testGateway struct {
	*gateway
	base string // http://host:port
	t    *testing.T
	stop func() error // graceful shutdown, as on SIGTERM; returns run's error
}

func startGateway(t *testing.T, mutate func(*configs.Config)) *testGateway {
	t.Helper()
	return startGatewayLogging(t, mutate, nil)
}

// startGatewayLogging is startGateway with the process logger (masking, debug level) writing to
// logTo.
func startGatewayLogging(t *testing.T, mutate func(*configs.Config), logTo io.Writer) *testGateway {
	t.Helper()
	cfg := e2eConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("E2E_LOG") != "" {
		log = newLogger(configs.LogConfig{Level: "debug", Format: "text"}, os.Stderr)
	}
	if logTo != nil {
		log = newLogger(configs.LogConfig{Level: "debug", Format: "json"}, logTo)
	}
	g, err := newGateway(cfg, log)
	if err != nil {
		t.Fatalf("newGateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = errors.New("gateway did not stop within 15 s")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("gateway run: %v", err)
		}
	})
	tg := &testGateway{gateway: g, base: "http://" + g.httpLn.Addr().String(), t: t, stop: stop}
	tg.waitReady(5 * time.Second)
	return tg
}

func (g *testGateway) waitReady(within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if code, _ := g.get("/readyz"); code == 200 && g.engine.Listening() {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatal("gateway not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get calls the HTTP API with the admin token.
func (g *testGateway) get(path string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest("GET", g.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// call places a real call from number and returns the report.
func (g *testGateway) call(from string, o ivr.CallOptions) ivr.CallReport {
	g.t.Helper()
	o.Target = "sip:queue@" + g.sip.Addr("udp").String()
	o.From = from
	if o.PressAfter == 0 {
		o.PressAfter = 300 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 20 * time.Second
	}
	if o.Headers == nil {
		o.Headers = []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Context-Account: ACC-7", "X-Customer-Id: C-42"}
	}
	rep, err := ivr.Dial(context.Background(), o)
	if err != nil {
		g.t.Fatalf("call from %s: %v (report %+v)", from, err, rep)
	}
	return rep
}

type apiSession struct {
	ID         string            `json:"id"`
	CallID     string            `json:"call_id"`
	Caller     string            `json:"caller"`
	Queue      string            `json:"queue"`
	CustomerID string            `json:"customer_id"`
	IVRPath    []string          `json:"ivr_path"`
	Variant    string            `json:"variant"`
	State      string            `json:"state"`
	Outcome    string            `json:"outcome"`
	Reason     string            `json:"reason"`
	Context    map[string]string `json:"context"`
	Instance   string            `json:"instance"`
	WhatsApp   struct {
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
	} `json:"whatsapp"`
}

// session waits for the caller's latest session to have ended (Finish runs as the call closes)
// and returns it as the results API shows it.
func (g *testGateway) session(caller string) apiSession {
	g.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := g.get("/api/v1/sessions?limit=1&caller=" + strings.ReplaceAll(caller, "+", "%2B"))
		var r struct{ Sessions []apiSession }
		if code == 200 && json.Unmarshal([]byte(body), &r) == nil && len(r.Sessions) == 1 && r.Sessions[0].State == deflect.StateEnded {
			return r.Sessions[0]
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("no ended session for %s: %d %s", caller, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *testGateway) presence(number string) string {
	g.t.Helper()
	code, body := g.get("/api/v1/presence/" + number)
	var p struct{ Status string }
	if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
		g.t.Fatalf("presence %s: %d %s", number, code, body)
	}
	return p.Status
}

// counter reads a counter from the gateway's registry (0 when the series does not exist).
func (g *testGateway) counter(name string, labels map[string]string) float64 {
	g.t.Helper()
	mfs, err := g.reg.Gather()
	if err != nil {
		g.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range labels {
				if !hasLabel(m, k, v) {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() // counters and gauges
		}
	}
	return sum
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func wantResult(t *testing.T, rep ivr.CallReport, want string) {
	t.Helper()
	if rep.Result != want {
		t.Fatalf("X-Deflect-Result = %q, want %q (final %d, ended by %q, responses %v)", rep.Result, want, rep.FinalStatus, rep.EndedBy, rep.Responses)
	}
}

func TestE2EAcceptDeflected(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	const caller = "+966501234567"
	rep := g.call(caller, ivr.CallOptions{Press: "1"})
	wantResult(t, rep, "deflected")
	if !rep.Answered || rep.EndedBy != "gateway" || rep.RTP.AudioPackets == 0 {
		t.Errorf("call = answered %v, ended by %q, %d audio packets", rep.Answered, rep.EndedBy, rep.RTP.AudioPackets)
	}

	s := g.session(caller)
	if s.Outcome != "deflected" || s.Queue != "billing" || s.Context["Account"] != "ACC-7" || s.CallID != rep.CallID || s.WhatsApp.MessageID == "" {
		t.Errorf("session = %+v", s)
	}

	// The template reached the (sandbox) Graph API with its parameters rendered from the call.
	sent := g.sandbox.Sent(caller)
	if len(sent) != 1 {
		t.Fatalf("sandbox received %d messages, want 1", len(sent))
	}
	var body struct {
		To       string
		Template struct {
			Name       string
			Language   struct{ Code string }
			Components []struct {
				Type       string
				Parameters []struct{ Text, Payload string }
			}
		}
	}
	if err := json.Unmarshal(sent[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	var params, payloads []string
	for _, c := range body.Template.Components {
		for _, p := range c.Parameters {
			if c.Type == "body" {
				params = append(params, p.Text)
			} else {
				payloads = append(payloads, p.Payload)
			}
		}
	}
	if body.Template.Name != "call_deflection" || body.Template.Language.Code != "ar" || strings.Join(params, ",") != "billing,ACC-7" {
		t.Errorf("template = %s", sent[0].Body)
	}
	if strings.Join(payloads, ",") != "deflect:"+s.ID+":wa,deflect:"+s.ID+":agent" {
		t.Errorf("quick-reply payloads = %v", payloads)
	}
	if sent[0].ID != s.WhatsApp.MessageID {
		t.Errorf("session message id %s, sandbox %s", s.WhatsApp.MessageID, sent[0].ID)
	}

	// Statuses keep arriving after the call: delivered/read → presence learned yes.
	deadline := time.Now().Add(3 * time.Second)
	for g.presence(caller) != "yes" {
		if time.Now().After(deadline) {
			t.Fatal("presence not learned from the delivered status")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The offer, made on an unknown presence, is scored delivered (counted before learning).
	if n := g.counter("deflectd_presence_offer_outcomes_total", map[string]string{"prior": "unknown", "result": "delivered"}); n != 1 {
		t.Errorf("presence_offer_outcomes{unknown,delivered} = %v, want 1", n)
	}
	// The conversation is seeded with the call's context.
	doc, err := g.store.GetDoc(context.Background(), deflect.ConversationsCollection, "966501234567")
	if err != nil || !strings.Contains(string(doc.Data), `"session_id":"`+s.ID) || !strings.Contains(string(doc.Data), "ACC-7") {
		t.Errorf("conversation = %s, %v", doc.Data, err)
	}
	if n := g.counter("deflectd_deflect_outcomes_total", map[string]string{"outcome": "deflected"}); n != 1 {
		t.Errorf("outcomes{deflected} = %v", n)
	}
	if n := g.counter("deflectd_deflect_accepts_total", nil); n != 1 {
		t.Errorf("accepts = %v", n)
	}
}

func TestE2EDeclineTimeoutHangup(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	tests := []struct {
		name, caller string
		opts         ivr.CallOptions
		result       string // X-Deflect-Result; "" when the caller hangs up
		outcome      string
	}{
		{"decline", "+966501234501", ivr.CallOptions{Press: "2"}, "declined", "declined"},
		{"timeout", "+966501234502", ivr.CallOptions{}, "timeout", "timeout"},
		{"hang up during the offer", "+966501234503", ivr.CallOptions{HangupAfter: 400 * time.Millisecond}, "", "abandoned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := g.call(tt.caller, tt.opts)
			wantResult(t, rep, tt.result)
			if s := g.session(tt.caller); s.Outcome != tt.outcome {
				t.Errorf("outcome = %q, want %q", s.Outcome, tt.outcome)
			}
			if n := len(g.sandbox.Sent(tt.caller)); n != 0 {
				t.Errorf("sandbox received %d messages", n)
			}
		})
	}
}

func TestE2EIneligible(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	ctx := context.Background()
	if err := g.store.SetOpt(ctx, store.OptRecord{E164: "+966501234599", OptOut: true, Source: "test", At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	// Cooldown: the first call is offered (declined), the second is not.
	wantResult(t, g.call("+966501234588", ivr.CallOptions{Press: "2"}), "declined")

	tests := []struct{ name, caller, reason string }{
		{"landline", "+966112345678", "not-mobile"},
		{"cooldown on the second call", "+966501234588", "cooldown"},
		{"opted out", "+966501234599", "opted-out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := g.call(tt.caller, ivr.CallOptions{Press: "1"})
			if rep.FinalStatus != 480 || rep.Answered {
				t.Fatalf("final status %d (answered %v), want 480", rep.FinalStatus, rep.Answered)
			}
			wantResult(t, rep, "ineligible;reason="+tt.reason)
			if s := g.session(tt.caller); s.Outcome != "ineligible:"+tt.reason {
				t.Errorf("outcome = %q", s.Outcome)
			}
			if n := g.counter("deflectd_deflect_decisions_total", map[string]string{"result": "ineligible", "reason": tt.reason}); n != 1 {
				t.Errorf("decisions{%s} = %v", tt.reason, n)
			}
		})
	}
	// The pre-qualify API agrees and records nothing.
	code, body := g.get("/api/v1/eligibility?number=%2B966501234588&queue=billing&wait=300")
	if code != 200 || !strings.Contains(body, `"reason":"cooldown"`) {
		t.Errorf("eligibility = %d %s", code, body)
	}
}

func TestE2ENotOnWhatsApp(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) { c.Deflect.Cooldown = 0 })
	rep := g.call(notOnWhatsApp, ivr.CallOptions{Press: "1"})
	wantResult(t, rep, "failed;reason=not-on-whatsapp")
	if s := g.session(notOnWhatsApp); s.Outcome != "failed:not-on-whatsapp" || s.WhatsApp.Status != "failed" {
		t.Errorf("session = %+v", s)
	}
	if p := g.presence(notOnWhatsApp); p != "no" {
		t.Errorf("presence = %q, want no (learned from 131026)", p)
	}
	if n := g.counter("deflectd_presence_offer_outcomes_total", map[string]string{"prior": "unknown", "result": "failed"}); n != 1 {
		t.Errorf("presence_offer_outcomes{unknown,failed} = %v, want 1", n)
	}
	// Learned: the next call is not offered.
	rep = g.call(notOnWhatsApp, ivr.CallOptions{Press: "1"})
	wantResult(t, rep, "ineligible;reason=not-on-whatsapp")
}

func TestE2EGraphAPIDown(t *testing.T) {
	t.Parallel()
	dead := closedPort(t)
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.BaseURL = "http://" + dead + "/v23.0"
		c.WhatsApp.MaxRetries = 1
	})
	const caller = "+966501234577"
	rep := g.call(caller, ivr.CallOptions{Press: "1"})
	if !strings.HasPrefix(rep.Result, "failed;reason=") {
		t.Fatalf("X-Deflect-Result = %q, want failed;reason=...", rep.Result)
	}
	if !rep.Answered || rep.EndedBy != "gateway" {
		t.Errorf("caller not returned by the gateway: %+v", rep)
	}
	if s := g.session(caller); !strings.HasPrefix(s.Outcome, "failed:") || s.Outcome == "failed:not-on-whatsapp" {
		t.Errorf("outcome = %q", s.Outcome)
	}
	if p := g.presence(caller); p != "unknown" {
		t.Errorf("presence = %q: an API outage taught something about the caller", p)
	}
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestE2ETwoInstancesSharingRedis: the call is on A, Meta's status webhook reaches B, and A's
// caller is confirmed because B's status reaches A through Redis. on_no_status: failed, so a
// missing status would fail the call.
func TestE2ETwoInstancesSharingRedis(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	shared := func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = url
		c.Store.Redis.KeyPrefix = prefix
		c.Deflect.OnNoStatus = "failed"
		c.Deflect.Cooldown = 0
	}
	b := startGateway(t, shared)
	a := startGateway(t, func(c *configs.Config) {
		shared(c)
		c.WhatsApp.Sandbox.WebhookURL = b.base + "/webhooks/whatsapp"
	})
	const caller = "+966501234566"
	rep := a.call(caller, ivr.CallOptions{Press: "1"})
	wantResult(t, rep, "deflected")
	if n := a.counter("deflectd_whatsapp_webhook_requests_total", map[string]string{"result": "ok"}); n != 0 {
		t.Errorf("A received %v webhooks; they were meant for B", n)
	}
	if n := b.counter("deflectd_whatsapp_webhook_requests_total", map[string]string{"result": "ok"}); n == 0 {
		t.Error("B received no webhook")
	}
	sa, sb := a.session(caller), b.session(caller)
	if sa.ID != sb.ID || sb.Outcome != "deflected" || sb.Instance != a.instance {
		t.Errorf("session on A %+v, on B %+v", sa, sb)
	}

	// What A learns (131026 → not on WhatsApp), B knows: the number is not offered there.
	wantResult(t, a.call(notOnWhatsApp, ivr.CallOptions{Press: "1"}), "failed;reason=not-on-whatsapp")
	wantResult(t, b.call(notOnWhatsApp, ivr.CallOptions{Press: "1"}), "ineligible;reason=not-on-whatsapp")
}

// TestE2ERedisFailsMidCall: Redis dies while the caller listens to the offer; pressing 1 returns
// the caller with a result header; new calls get a fast 503 while Redis is down; when it is back
// the gateway deflects again.
func TestE2ERedisFailsMidCall(t *testing.T) {
	t.Parallel()
	p := redistest.Server(t)
	g := startGateway(t, func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = p.URL()
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
		c.Deflect.OnNoStatus = "failed" // after the restart, statuses must flow again
	})
	answered := make(chan struct{})
	var once sync.Once // an ACK may be sent again for a retransmitted 200 OK
	stopped := make(chan struct{})
	go func() {
		<-answered
		p.Stop()
		close(stopped)
	}()
	rep := g.call("+966501234555", ivr.CallOptions{Press: "1", PressAfter: 1500 * time.Millisecond, OnEvent: func(line string) {
		if strings.HasPrefix(line, "> ACK") {
			once.Do(func() { close(answered) })
		}
	}})
	<-stopped
	wantResult(t, rep, "failed;reason=store-unavailable")

	start := time.Now()
	rep = g.call("+966501234556", ivr.CallOptions{Press: "1"})
	if rep.FinalStatus != 503 || time.Since(start) > 3*time.Second {
		t.Errorf("INVITE with Redis down: %d after %v, want a fast 503", rep.FinalStatus, time.Since(start))
	}
	if code, _ := g.get("/readyz"); code != 503 {
		t.Errorf("readyz with Redis down = %d", code)
	}

	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	g.waitReady(10 * time.Second)
	// Pooled connections to the dead server fail once each before the pool is fresh: a PBX
	// retrying after a 503 gets through within a few attempts.
	for attempt := 1; ; attempt++ {
		rep = g.call("+966501234557", ivr.CallOptions{Press: "1"})
		if rep.FinalStatus != 503 || attempt == 5 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantResult(t, rep, "deflected")
}

// TestE2ESipp drives the gateway with sipp, the PBX-side tool, and its RFC 4733 pcaps: every path
// of the issue, each asserting the exact X-Deflect-Result in sipp itself (-set want; the scenario
// fails the call on any other value) and the session's outcome through the results API.
func TestE2ESipp(t *testing.T) {
	t.Parallel()
	sipp := testkit.RequireTool(t, "sipp")
	g := startGateway(t, nil)
	const optedOut = "+966501234549"
	if err := g.store.SetOpt(context.Background(), store.OptRecord{E164: optedOut, OptOut: true, Source: "test", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Graph API down: its own gateway, pointed at a closed port.
	down := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.BaseURL = "http://" + closedPort(t) + "/v23.0"
		c.WhatsApp.MaxRetries = 1
	})

	type run struct{ scenario, want string }
	tests := []struct {
		name    string
		gw      *testGateway
		caller  string
		before  []run // earlier calls from the same caller
		run     run
		outcome string
	}{
		{"accept", g, "+966501234544", nil, run{"press1.xml", "deflected"}, "deflected"},
		{"decline", g, "+966501234545", nil, run{"press2.xml", "declined"}, "declined"},
		{"ineligible landline", g, "+966112345678", nil, run{"ineligible.xml", "ineligible;reason=not-mobile"}, "ineligible:not-mobile"},
		{"timeout", g, "+966501234546", nil, run{"timeout.xml", "timeout"}, "timeout"},
		{"hang up during the offer", g, "+966501234547", nil, run{"hangup.xml", ""}, "abandoned"},
		{"not on WhatsApp", g, notOnWhatsApp, nil, run{"press1.xml", "failed;reason=not-on-whatsapp"}, "failed:not-on-whatsapp"},
		{"cooldown on the second call", g, "+966501234548", []run{{"press2.xml", "declined"}},
			run{"ineligible.xml", "ineligible;reason=cooldown"}, "ineligible:cooldown"},
		{"opted out", g, optedOut, nil, run{"ineligible.xml", "ineligible;reason=opted-out"}, "ineligible:opted-out"},
		{"Graph API down", down, "+966501234543", nil, run{"press1.xml", "failed;reason=api-unreachable"}, "failed:api-unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range append(tt.before, tt.run) {
				runSipp(t, sipp, tt.gw, r.scenario, tt.caller, r.want)
			}
			if s := tt.gw.session(tt.caller); s.Outcome != tt.outcome || s.Queue != "sipp" {
				t.Errorf("session = %+v, want outcome %s", s, tt.outcome)
			}
		})
	}
	if p := down.presence("+966501234543"); p != "unknown" {
		t.Errorf("presence after the Graph API outage = %q, want unknown", p)
	}
}

// runSipp places one call with sipp's scenario testdata/sipp/<scenario> from caller (-key caller)
// and fails the test unless sipp reports it successful; want is the exact X-Deflect-Result the
// scenario checks (-set want).
func runSipp(t *testing.T, sipp string, g *testGateway, scenario, caller, want string) {
	t.Helper()
	mediaPort := testkit.FreeUDPPort(t, true)
	logFile := filepath.Join(t.TempDir(), "sipp.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{g.sip.Addr("udp").String(),
		"-sf", "testdata/sipp/" + scenario, "-key", "caller", caller,
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-m", "1", "-l", "1", "-timeout", "25s", "-timeout_error", "-nostdin", "-nd",
		"-trace_logs", "-log_file", logFile}
	if want != "" {
		args = append(args, "-set", "want", want)
	}
	cmd := exec.CommandContext(ctx, sipp, args...)
	cmd.Dir = "."
	out, err := cmd.CombinedOutput()
	if err != nil {
		logs, _ := os.ReadFile(logFile)
		t.Fatalf("sipp %s (want %q): %v\n%s\nscenario log:\n%s", scenario, want, err, tail(out, 3000), logs)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

var sipAddrRe = regexp.MustCompile(`sip_udp=(127\.0\.0\.1:\d+)`)

// TestE2EEmbeddedDefaultProcess is the README's promise with the real binaries: `deflectd` on the
// embedded default (only the listen ports moved to 0), then `deflectd call ... --press 1` shows a
// deflected call, and the sandbox shows the template with the call's context.
func TestE2EEmbeddedDefaultProcess(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := exec.CommandContext(ctx, bin)
	srv.Env = testEnv()
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	addrs := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			h, s := httpAddrRe.FindStringSubmatch(sc.Text()), sipAddrRe.FindStringSubmatch(sc.Text())
			if h != nil && s != nil {
				addrs <- [2]string{h[1], s[1]}
			}
		}
	}()
	var httpAddr, sipAddr string
	select {
	case a := <-addrs:
		httpAddr, sipAddr = a[0], a[1]
	case <-time.After(20 * time.Second):
		t.Fatal("deflectd did not log its listen addresses")
	}

	out, err := exec.CommandContext(ctx, bin, "call", "sip:queue@"+sipAddr, "--from", "+966501234567", "--press", "1",
		"--header", "X-Queue:billing", "--header", "X-Context-Account:ACC-7", "--header", "X-Wait-Estimate:300").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("X-Deflect-Result: deflected")) {
		t.Fatalf("deflectd call: %v\n%s", err, out)
	}

	resp, err := http.Get("http://" + httpAddr + "/_sandbox/messages?to=%2B966501234567")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"name":"call_deflection"`, `"text":"billing"`, `"payload":"deflect:`} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("sandbox messages lack %s: %s", want, body)
		}
	}

	if err := srv.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGINT: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("deflectd did not exit within 5 s of SIGINT")
	}
}

// TestE2EDeclineWithRefer: deflect.on_decline refer hands the caller back with a REFER to
// deflect.return_target carrying the result.
func TestE2EDeclineWithRefer(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) {
		c.Deflect.OnDecline = "refer"
		c.Deflect.ReturnTarget = "sip:queue-return@127.0.0.1"
	})
	const caller = "+966501234533"
	rep := g.call(caller, ivr.CallOptions{Press: "2"})
	wantResult(t, rep, "declined")
	if rep.EndedBy != "refer" || !strings.Contains(rep.ReferTo, "queue-return@127.0.0.1") {
		t.Errorf("ended by %q, Refer-To %q", rep.EndedBy, rep.ReferTo)
	}
	if s := g.session(caller); s.Outcome != "declined" {
		t.Errorf("outcome = %q", s.Outcome)
	}
}

// TestE2EReplyReachesBot: after a deflection the customer writes on WhatsApp (through the
// sandbox's customer simulation, as Meta would post it); the message lands in the conversation
// seeded from the call and the menu bot answers.
func TestE2EReplyReachesBot(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	const caller = "+966501234522"
	wantResult(t, g.call(caller, ivr.CallOptions{Press: "1"}), "deflected")
	s := g.session(caller)

	resp, err := http.Post(g.base+"/_sandbox/customers/966501234522/text", "application/json", strings.NewReader(`{"body":"hello","name":"Sara"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("sandbox customer text = %d %s", resp.StatusCode, b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.sandbox.Sent(caller)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the bot never answered; sandbox has %d messages", len(g.sandbox.Sent(caller)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reply := g.sandbox.Sent(caller)[1]; reply.Type == "template" {
		t.Errorf("second message is a template, want the bot's reply: %s", reply.Body)
	}
	doc, err := g.store.GetDoc(context.Background(), deflect.ConversationsCollection, "966501234522")
	if err != nil {
		t.Fatal(err)
	}
	var c deflect.Conversation
	_ = json.Unmarshal(doc.Data, &c)
	inbound := slices.ContainsFunc(c.Messages, func(m deflect.ConversationMessage) bool { return m.Direction == "in" && m.Text == "hello" })
	if c.SessionID != s.ID || c.Name != "Sara" || c.Context["Account"] != "ACC-7" || !inbound || !slices.Contains(c.IVRPath, "dtmf:1") {
		t.Errorf("conversation = %+v", c)
	}
}

// TestE2EGracefulShutdown: on SIGTERM the gateway stops taking calls (503, readyz 503) but lets
// the call in progress finish normally, webhooks included, before it stops HTTP.
func TestE2EGracefulShutdown(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) { c.Deflect.OnNoStatus = "failed" })
	const caller = "+966501234511"
	answered := make(chan struct{})
	var once sync.Once
	result := make(chan ivr.CallReport, 1)
	go func() {
		result <- g.call(caller, ivr.CallOptions{Press: "1", PressAfter: 1200 * time.Millisecond, OnEvent: func(line string) {
			if strings.HasPrefix(line, "> ACK") {
				once.Do(func() { close(answered) })
			}
		}})
	}()
	<-answered
	stopped := make(chan error, 1)
	go func() { stopped <- g.stop() }()

	deadline := time.Now().Add(2 * time.Second)
	for !g.isDraining() {
		if time.Now().After(deadline) {
			t.Fatal("not draining after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := g.get("/readyz"); code != 503 {
		t.Errorf("readyz while draining = %d, want 503", code)
	}
	if rep := g.call("+966501234512", ivr.CallOptions{Press: "1"}); rep.FinalStatus != 503 {
		t.Errorf("INVITE while draining = %d, want 503", rep.FinalStatus)
	}
	// The call in progress is deflected: its status webhook still got through (on_no_status
	// is failed, so a missing status would show).
	wantResult(t, <-result, "deflected")
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not stop after its last call")
	}
}

// TestE2ELogsMaskNumbers: a whole deflection, with a customer reply, logged at debug level by
// every part through the process logger, never shows the caller's number or message.
func TestE2ELogsMaskNumbers(t *testing.T) {
	t.Parallel()
	var buf testkit.Buffer
	g := startGatewayLogging(t, nil, &buf)
	const caller = "+966501234500"
	wantResult(t, g.call(caller, ivr.CallOptions{Press: "1"}), "deflected")
	if _, err := g.sandbox.CustomerText(context.Background(), "966501234500", "my secret account question"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.sandbox.Sent(caller)) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := g.stop(); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// Some parts do log the number (whatsapp: "to", "wa_id"): masked, keeping the last digits.
	if !strings.Contains(out, `"session_id"`) || !strings.Contains(out, "****500") {
		t.Fatalf("expected logs with masked numbers, got:\n%s", out)
	}
	for _, secret := range []string{"966501234500", "501234500", "my secret account question"} {
		if strings.Contains(out, secret) {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("log line shows %q: %s", secret, line)
				}
			}
		}
	}
}

// TestE2EConcurrentCalls: many callers at once on one gateway, each deflected with its own
// template and its own confirmation.
func TestE2EConcurrentCalls(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) { c.Deflect.OnNoStatus = "failed" })
	const n = 20
	results := make(chan string, n)
	for i := range n {
		go func() {
			caller := fmt.Sprintf("+96650300%04d", i)
			rep, err := ivr.Dial(context.Background(), ivr.CallOptions{
				Target: "sip:queue@" + g.sip.Addr("udp").String(), From: caller, Press: "1",
				PressAfter: 300 * time.Millisecond, Timeout: 30 * time.Second,
				Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Context-Account: ACC-" + strconv.Itoa(i)},
			})
			if err != nil {
				results <- caller + ": " + err.Error()
				return
			}
			results <- caller + ": " + rep.Result
		}()
	}
	for range n {
		if r := <-results; !strings.HasSuffix(r, ": deflected") {
			t.Error(r)
		}
	}
	for i := range n {
		caller := fmt.Sprintf("+96650300%04d", i)
		sent := g.sandbox.Sent(caller)
		if len(sent) != 1 || !strings.Contains(string(sent[0].Body), `"ACC-`+strconv.Itoa(i)+`"`) {
			t.Errorf("%s: sandbox has %d messages", caller, len(sent))
		}
	}
}
