package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// reply is one scripted answer of the fake Graph API.
type reply struct {
	status  int
	fixture string // file in testdata/responses
}

// graph is an httptest Graph API that records requests and answers from a script (the last
// reply repeats).
type graph struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	script []reply
	bodies [][]byte
	auth   []string
	paths  []string
}

func newGraph(t *testing.T, script ...reply) *graph {
	t.Helper()
	g := &graph{t: t, script: script}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		n := len(g.bodies)
		g.bodies = append(g.bodies, body)
		g.auth = append(g.auth, r.Header.Get("Authorization"))
		g.paths = append(g.paths, r.Method+" "+r.URL.Path)
		rep := reply{200, "success.json"}
		if len(g.script) > 0 {
			rep = g.script[min(n, len(g.script)-1)]
		}
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		_, _ = w.Write(readFixture(t, "responses", rep.fixture))
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graph) requests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.bodies)
}

func readFixture(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normJSON re-encodes JSON with sorted keys and no spacing, so bodies compare byte for byte.
func normJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testClient(t *testing.T, url string, mod func(*ClientConfig)) (*Client, *prometheus.Registry) {
	t.Helper()
	cfg := ClientConfig{
		BaseURL: url + "/v23.0", PhoneNumberID: "106540352242922", AccessToken: "EAAJB-test",
		Timeout: 2 * time.Second, MaxRetries: 3, Throughput: 1000, PairPeriod: time.Millisecond, PairBurst: 100,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	reg := prometheus.NewRegistry()
	c, err := New(cfg, NewLocalBucket(), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func TestRequestBodiesMatchFixtures(t *testing.T) {
	const to = "+16505551234"
	tests := []struct {
		name    string
		fixture string
		send    func(context.Context, *Client) error
	}{
		{"text with preview", "text.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendText(ctx, to, "As requested, here's the link to our latest product: https://www.meta.com/quest/quest-3/", true)
			return err
		}},
		{"template with header, body and quick replies", "template.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, to, Template{Name: "order_delivery_update", Language: "en_US",
				HeaderParams: []string{"Pablo"}, BodyParams: []string{"Pablo", "566701"},
				QuickReplyPayloads: []string{"deflect:yes:566701", "deflect:no:566701"}})
			return err
		}},
		{"template without parameters", "template_no_params.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "16505551234", Template{Name: "hello_world", Language: "en_US"})
			return err
		}},
		{"reply buttons", "buttons.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, to, "Hi Pablo! Your gardening workshop is scheduled for 9am tomorrow. Use the buttons if you need to reschedule. Thank you!",
				[]Button{{ID: "change-button", Title: "Change"}, {ID: "cancel-button", Title: "Cancel"}})
			return err
		}},
		{"list", "list.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, to, "Which shipping option do you prefer?", "Shipping Options", []Section{
				{Title: "I want it ASAP!", Rows: []Row{
					{ID: "priority_express", Title: "Priority Mail Express", Description: "Next Day to 2 Days"},
					{ID: "priority_mail", Title: "Priority Mail", Description: "1–3 Days"}}},
				{Title: "I can wait a bit", Rows: []Row{
					{ID: "usps_ground_advantage", Title: "USPS Ground Advantage", Description: "2–5 Days"},
					{ID: "media_mail", Title: "Media Mail", Description: "2–8 Days"}}},
			})
			return err
		}},
		{"call button", "voice_call.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendCallButton(ctx, to, CallButton{Body: "Need help with your order? Call us.", DisplayText: "Call support",
				TTL: 24 * time.Hour, Payload: "order-4471"})
			return err
		}},
		{"image by link", "image_link.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, to, Media{Kind: MediaImage, Link: "https://127.0.0.1/images/landscape.jpg", Caption: "The best succulent ever?"})
			return err
		}},
		{"document by id", "document_id.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, to, Media{Kind: MediaDocument, ID: "1376223850470848", Caption: "Lucky Shrub Invoice", Filename: "lucky-shrub-invoice.pdf"})
			return err
		}},
		{"video by id", "video_id.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, to, Media{Kind: MediaVideo, ID: "1166846181421424", Caption: "A succulent eclipse!"})
			return err
		}},
		{"text to a business-scoped user id", "text_bsuid.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendText(ctx, "US.13491208655302741918", "Hello", false)
			return err
		}},
		{"image to a parent business-scoped user id", "image_parent_bsuid.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "US.ENT.11815799212886844830", Media{Kind: MediaImage, ID: "1166846181421424"})
			return err
		}},
		{"audio by link", "audio_link.json", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, to, Media{Kind: MediaAudio, Link: "https://127.0.0.1/audio/voice.ogg"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t)
			c, _ := testClient(t, g.srv.URL, nil)
			if err := tt.send(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if g.requests() != 1 {
				t.Fatalf("requests = %d, want 1", g.requests())
			}
			want := normJSON(t, readFixture(t, "requests", tt.fixture))
			if got := normJSON(t, g.bodies[0]); !bytes.Equal(got, want) {
				t.Errorf("body differs from %s\n got %s\nwant %s", tt.fixture, got, want)
			}
			if g.auth[0] != "Bearer EAAJB-test" {
				t.Errorf("Authorization = %q", g.auth[0])
			}
			if g.paths[0] != "POST /v23.0/106540352242922/messages" {
				t.Errorf("request = %q", g.paths[0])
			}
		})
	}
}

func TestSendParsesSuccess(t *testing.T) {
	g := newGraph(t)
	c, reg := testClient(t, g.srv.URL, nil)
	res, err := c.SendText(context.Background(), "+16505551234", "hi", false)
	if err != nil {
		t.Fatal(err)
	}
	want := SendResult{MessageID: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA", Status: "accepted", WAID: "16505551234", Input: "+16505551234"}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if n := testutil.ToFloat64(c.m.requests.WithLabelValues("text", "ok")); n != 1 {
		t.Errorf("ok requests metric = %v", n)
	}
	// Every operation's latency series exists from the start; the text one has the request.
	if n, _ := testutil.GatherAndCount(reg, "deflectd_whatsapp_api_request_duration_seconds"); n != 7 {
		t.Errorf("latency series = %d, want one per operation (7)", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "deflectd_whatsapp_api_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			want := uint64(0)
			if m.GetLabel()[0].GetValue() == "text" {
				want = 1
			}
			if got := m.GetHistogram().GetSampleCount(); got != want {
				t.Errorf("latency samples for %s = %d, want %d", m.GetLabel()[0].GetValue(), got, want)
			}
		}
	}
}

func TestMarkRead(t *testing.T) {
	g := newGraph(t, reply{200, "mark_read.json"})
	c, _ := testClient(t, g.srv.URL, nil)
	if err := c.MarkRead(context.Background(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"); err != nil {
		t.Fatal(err)
	}
	if got, want := normJSON(t, g.bodies[0]), normJSON(t, readFixture(t, "requests", "mark_read.json")); !bytes.Equal(got, want) {
		t.Errorf("body %s, want %s", got, want)
	}
	if err := c.MarkRead(context.Background(), ""); err == nil {
		t.Error("empty message id accepted")
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		fixture     string
		status      int
		code        int
		class       Class
		notOnWA     bool
		windowShut  bool
		configAlarm bool
	}{
		{"error_130429.json", 400, 130429, Retryable, false, false, false},
		{"error_131056.json", 400, 131056, Retryable, false, false, false},
		{"error_4.json", 400, 4, Retryable, false, false, false},
		{"error_80007.json", 400, 80007, Retryable, false, false, false},
		{"error_131000.json", 500, 131000, Retryable, false, false, false},
		{"error_131026.json", 400, 131026, RecipientPermanent, true, false, false},
		{"error_131047.json", 400, 131047, RecipientPermanent, false, true, false},
		{"error_131048.json", 400, 131048, RecipientPermanent, false, false, false},
		{"error_132000.json", 400, 132000, Config, false, false, true},
		{"error_132001.json", 404, 132001, Config, false, false, true},
		{"error_190.json", 401, 190, Config, false, false, true},
		{"error_100.json", 400, 100, Other, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			g := newGraph(t, reply{tt.status, tt.fixture})
			c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) { cfg.MaxRetries = 0 })
			_, err := c.SendText(context.Background(), "+16505551234", "hi", false)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *APIError", err, err)
			}
			if ae.Code != tt.code || ae.HTTPStatus != tt.status || ae.Message == "" || ae.FBTraceID == "" {
				t.Errorf("parsed %+v", ae)
			}
			if tt.code != 190 && (ae.Details == "" || ae.Subcode == 0) {
				t.Errorf("details/subcode not parsed: %+v", ae)
			}
			if ae.Class() != tt.class || ClassOf(err) != tt.class {
				t.Errorf("class = %v, want %v", ae.Class(), tt.class)
			}
			if IsRetryable(err) != (tt.class == Retryable) || IsNotOnWhatsApp(err) != tt.notOnWA || IsWindowClosed(err) != tt.windowShut {
				t.Errorf("helpers: retryable=%v notOnWA=%v windowClosed=%v", IsRetryable(err), IsNotOnWhatsApp(err), IsWindowClosed(err))
			}
			alarm := testutil.ToFloat64(c.m.configAlarms.WithLabelValues(ae.label()))
			if (alarm == 1) != tt.configAlarm {
				t.Errorf("config alarm = %v, want %v", alarm, tt.configAlarm)
			}
			if !strings.Contains(err.Error(), ae.Message) {
				t.Errorf("error text %q lacks the message", err)
			}
		})
	}
}

func TestNonJSONErrorClassifiedByStatus(t *testing.T) {
	for _, tt := range []struct {
		status    int
		class     Class
		maybeSent bool
	}{{500, Retryable, false}, {503, Retryable, false}, {429, Retryable, false}, {502, Other, true}, {504, Other, true}, {400, Other, false}, {403, Other, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream trouble", tt.status)
		}))
		c, _ := testClient(t, srv.URL, func(cfg *ClientConfig) { cfg.MaxRetries = 0 })
		_, err := c.SendText(context.Background(), "1", "x", false)
		srv.Close()
		var ae *APIError
		if !errors.As(err, &ae) || ae.HTTPStatus != tt.status || ae.Class() != tt.class || IsMaybeSent(err) != tt.maybeSent {
			t.Errorf("status %d: %v class %v maybe-sent %v, want %v %v", tt.status, err, ClassOf(err), IsMaybeSent(err), tt.class, tt.maybeSent)
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		script   []reply
		retries  int
		wantReqs int
		wantErr  int // Meta code, 0 = success
	}{
		{"throughput 130429 then success", []reply{{400, "error_130429.json"}, {200, "success.json"}}, 3, 2, 0},
		{"pair 131056 twice then success", []reply{{400, "error_131056.json"}, {400, "error_131056.json"}, {200, "success.json"}}, 3, 3, 0},
		{"500 then success", []reply{{500, "error_131000.json"}, {200, "success.json"}}, 3, 2, 0},
		{"500 until retries run out", []reply{{500, "error_131000.json"}}, 2, 3, 131000},
		{"window closed is not retried", []reply{{400, "error_131047.json"}, {200, "success.json"}}, 3, 1, 131047},
		{"not on WhatsApp is not retried", []reply{{400, "error_131026.json"}}, 3, 1, 131026},
		{"bad token is not retried", []reply{{401, "error_190.json"}}, 3, 1, 190},
		{"no retries configured", []reply{{400, "error_130429.json"}, {200, "success.json"}}, 0, 1, 130429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t, tt.script...)
			c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) { cfg.MaxRetries = tt.retries })
			_, err := c.SendTemplate(context.Background(), "+16505551234", Template{Name: "call_deflection", Language: "en", BodyParams: []string{"Sara"}})
			if g.requests() != tt.wantReqs {
				t.Errorf("requests = %d, want %d", g.requests(), tt.wantReqs)
			}
			var ae *APIError
			switch {
			case tt.wantErr == 0 && err != nil:
				t.Errorf("err = %v", err)
			case tt.wantErr != 0 && (!errors.As(err, &ae) || ae.Code != tt.wantErr):
				t.Errorf("err = %v, want code %d", err, tt.wantErr)
			}
			// Every retry is the same request.
			for i := 1; i < len(g.bodies); i++ {
				if !bytes.Equal(g.bodies[i], g.bodies[0]) {
					t.Errorf("retry %d sent a different body", i)
				}
			}
		})
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	g := newGraph(t, reply{400, "error_130429.json"})
	c, _ := testClient(t, g.srv.URL, func(cfg *ClientConfig) {
		cfg.MaxRetries = 10
		cfg.BackoffBase, cfg.BackoffMax = 200*time.Millisecond, time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.SendText(ctx, "+16505551234", "hi", false)
	if !IsRetryable(err) || !hasCode(err, CodeThroughput) {
		t.Fatalf("err = %v, want Meta's 130429", err)
	}
	if el := time.Since(start); el > 280*time.Millisecond {
		t.Errorf("took %v: it waited although no backoff fits the deadline", el)
	}
	if g.requests() != 1 {
		t.Errorf("requests = %d: a backoff of ≥ 400ms does not fit a 300ms deadline", g.requests())
	}
}

// A connection refused happens before anything was written: retried. A server that reads the
// whole request and then drops the connection may have accepted the message: never retried.
func TestTransportErrors(t *testing.T) {
	t.Run("refused before write is retried", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c, _ := testClient(t, "http://"+addr, func(cfg *ClientConfig) { cfg.MaxRetries = 2 })
		_, err = c.SendText(context.Background(), "+16505551234", "hi", false)
		var te *TransportError
		if !errors.As(err, &te) || te.MaybeSent || !IsRetryable(err) || IsMaybeSent(err) {
			t.Fatalf("err = %v (%T)", err, err)
		}
		if n := testutil.ToFloat64(c.m.retries.WithLabelValues("text")); n != 2 {
			t.Errorf("retries = %v, want 2", n)
		}
	})
	t.Run("reset after write is not retried", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var mu sync.Mutex
		accepted := 0
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				accepted++
				mu.Unlock()
				go func() {
					req, err := http.ReadRequest(bufioReader(conn))
					if err == nil {
						_, _ = io.ReadAll(req.Body)
					}
					conn.Close() // the request was fully received: Meta may have sent it
				}()
			}
		}()
		c, _ := testClient(t, "http://"+ln.Addr().String(), func(cfg *ClientConfig) { cfg.MaxRetries = 3 })
		_, err = c.SendText(context.Background(), "+16505551234", "hi", false)
		var te *TransportError
		if !errors.As(err, &te) || !te.MaybeSent || IsRetryable(err) || !IsMaybeSent(err) {
			t.Fatalf("err = %v (%T), want a maybe-sent transport error", err, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if accepted != 1 {
			t.Errorf("connections = %d, want 1 (no resend)", accepted)
		}
	})
	t.Run("timeout after write is not retried", func(t *testing.T) {
		var mu sync.Mutex
		n := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n++
			mu.Unlock()
			_, _ = io.ReadAll(r.Body)
			select {
			case <-r.Context().Done():
			case <-time.After(2 * time.Second):
			}
		}))
		defer srv.Close()
		c, _ := testClient(t, srv.URL, func(cfg *ClientConfig) { cfg.MaxRetries = 3; cfg.Timeout = 100 * time.Millisecond })
		_, err := c.SendText(context.Background(), "+16505551234", "hi", false)
		if !IsMaybeSent(err) || IsRetryable(err) {
			t.Fatalf("err = %v, want maybe-sent", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
}

func TestNewValidatesConfig(t *testing.T) {
	for name, cfg := range map[string]ClientConfig{
		"no base url":     {PhoneNumberID: "1", AccessToken: "t"},
		"no phone id":     {BaseURL: "http://127.0.0.1", AccessToken: "t"},
		"no token":        {BaseURL: "http://127.0.0.1", PhoneNumberID: "1"},
		"throughput 1001": {BaseURL: "http://127.0.0.1", PhoneNumberID: "1", AccessToken: "t", Throughput: 1001},
	} {
		if _, err := New(cfg, nil, nil, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c, err := New(ClientConfig{BaseURL: "http://127.0.0.1", PhoneNumberID: "1", AccessToken: "t"}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.cfg.Throughput != 80 || c.cfg.PairPeriod != 6*time.Second || c.cfg.PairBurst != 3 {
		t.Errorf("defaults: %+v", c.cfg)
	}
}

// Two clients on one registry must not panic on duplicate metrics.
func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if _, err := New(ClientConfig{BaseURL: "http://127.0.0.1", PhoneNumberID: "1", AccessToken: "t"}, nil, nil, reg); err != nil {
			t.Fatal(err)
		}
	}
	_ = NewWebhook(WebhookConfig{}, nil, nil, reg)
	_ = NewWebhook(WebhookConfig{}, nil, nil, reg)
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+447700900123": "+44770****123",
		"966501234567":  "966501****567",
		"1234567":       "123****567",
		"12345":         "*****",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// Logs of a failing, retried send carry the masked number only.
func TestLogsMaskNumbers(t *testing.T) {
	g := newGraph(t, reply{400, "error_130429.json"}, reply{401, "error_190.json"})
	var buf bytes.Buffer
	cfg := ClientConfig{BaseURL: g.srv.URL, PhoneNumberID: "1", AccessToken: "secret-token", MaxRetries: 2,
		BackoffBase: time.Millisecond, BackoffMax: time.Millisecond, PairPeriod: time.Millisecond, PairBurst: 10}
	c, err := New(cfg, nil, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.SendText(context.Background(), "+16505551234", "my secret body", false)
	if ClassOf(err) != Config {
		t.Fatalf("err = %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "+16505****234") || !strings.Contains(out, "configuration error") {
		t.Errorf("expected masked number and config error in logs:\n%s", out)
	}
	for _, secret := range []string{"16505551234", "my secret body", "secret-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain %q:\n%s", secret, out)
		}
	}
}
