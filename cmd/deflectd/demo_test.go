package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/api"
)

func TestDemoRefusal(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*configs.Config)
		want   string // "" = demo accounts
	}{
		{"embedded default", func(*configs.Config) {}, ""},
		{"localhost http", func(c *configs.Config) { c.HTTP.Listen = "localhost:8080" }, ""},
		{"ipv6 loopback", func(c *configs.Config) { c.HTTP.Listen = "[::1]:8080" }, ""},
		{"cloud api", func(c *configs.Config) { c.WhatsApp.Provider = "cloudapi" }, "whatsapp.provider is cloudapi"},
		{"every interface", func(c *configs.Config) { c.HTTP.Listen = "0.0.0.0:8080" }, "http.listen 0.0.0.0:8080"},
		{"no host", func(c *configs.Config) { c.HTTP.Listen = ":8080" }, "http.listen :8080"},
		{"public sip", func(c *configs.Config) { c.SIP.Listen = []string{"udp://127.0.0.1:5060", "tcp://192.0.2.10:5060"} }, "sip.listen tcp://192.0.2.10:5060"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configs.Default()
			tc.mutate(&cfg)
			got := demoRefusal(cfg)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Fatalf("demoRefusal = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNoDemoAccountsSaysWhy(t *testing.T) {
	var buf bytes.Buffer
	cfg := configs.Default()
	cfg.WhatsApp.Provider = "cloudapi"
	links := addDemoAccounts(&cfg, api.NewSignInLinks(), slog.New(slog.NewTextHandler(&buf, nil)))
	if len(links) != 0 || len(cfg.API.Tokens) != 0 {
		t.Fatalf("cloudapi got demo accounts: %v %v", links, cfg.API.Tokens)
	}
	if !strings.Contains(buf.String(), "no demo accounts: whatsapp.provider is cloudapi") {
		t.Fatalf("log does not say why: %s", buf.String())
	}
}

// syncBuffer is a log sink read while the gateway writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// demoLinksOf returns the sign-in URLs the gateway logged, by account ("agent", "supervisor").
func demoLinksOf(t *testing.T, log string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.URL == "" || !strings.HasPrefix(rec.Msg, "demo ") {
			continue
		}
		out[strings.TrimSuffix(strings.Fields(rec.Msg)[1], ":")] = rec.URL
	}
	return out
}

// waitDemoLinks reads the demo links from the log, waiting for them: the gateway logs them as
// it starts serving, which may be just after it answers ready.
func waitDemoLinks(t *testing.T, logs interface{ String() string }) map[string]string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		links := demoLinksOf(t, logs.String())
		if links["agent"] != "" && links["supervisor"] != "" {
			return links
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo sign-in links logged within 5 s: %v", links)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redeem exchanges a sign-in link's code for a token as the console does.
func redeem(t *testing.T, link string) (int, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	code := strings.TrimPrefix(u.Fragment, "signin=")
	resp, err := http.Post(u.Scheme+"://"+u.Host+"/api/v1/signin", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &b)
	return resp.StatusCode, b.Token
}

// TestFirstRunDemoSignInLinks: the embedded default logs a one-time link for a demo agent and a
// demo supervisor; each link signs in once, as that account, with its scope.
func TestFirstRunDemoSignInLinks(t *testing.T) {
	var logs syncBuffer
	g := startGatewayLogging(t, nil, &logs)
	links := waitDemoLinks(t, &logs)
	if len(links) != 2 || links["agent"] == "" || links["supervisor"] == "" {
		t.Fatalf("logged demo links = %v\n%s", links, logs.String())
	}
	for who, link := range links {
		if !strings.HasPrefix(link, g.base+"/console/") || !strings.Contains(link, "#signin=") {
			t.Errorf("%s link %q is not a console link on %s", who, link, g.base)
		}
	}
	me := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", g.base+"/api/v1/agents/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for who, want := range map[string]string{"agent": `"id":"demo-agent","name":"demo-agent","admin":false`, "supervisor": `"id":"demo-supervisor","name":"demo-supervisor","admin":true`} {
		code, token := redeem(t, links[who])
		if code != 200 || token == "" {
			t.Fatalf("redeem %s link: %d", who, code)
		}
		if code, body := me(token); code != 200 || !strings.Contains(body, want) {
			t.Errorf("%s token: GET /agents/me = %d %s, want %s", who, code, body, want)
		}
		if code, _ := redeem(t, links[who]); code != 404 {
			t.Errorf("%s link used twice: %d, want 404", who, code)
		}
	}
	if strings.Contains(logs.String(), `"token"`) {
		t.Errorf("a token was logged")
	}
}
