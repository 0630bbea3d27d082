package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/whatsapp"
)

const (
	adminToken = "admin-secret-token"
	agentToken = "agent-secret-token"
	pbxToken   = "pbx-secret-token"
)

type noSender struct{}

func (noSender) SendTemplate(context.Context, deflect.Template) (deflect.Sent, error) {
	return deflect.Sent{MessageID: "wamid.X"}, nil
}

type fixture struct {
	srv      *httptest.Server
	mem      *memstore.Mem
	svc      *deflect.Service
	draining atomic.Bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cfg := configs.Default()
	cfg.API.AdminToken = adminToken
	cfg.Deflect.Queues = map[string]configs.QueueConfig{"vip": {Skip: true}}
	cfg.API.Tokens = []configs.TokenConfig{
		{Name: "desk", Token: agentToken, Scopes: []string{"agent"}},
		{Name: "pbx", Token: pbxToken, Scopes: []string{"pbx"}},
	}
	f := &fixture{mem: memstore.New(memstore.Options{})}
	t.Cleanup(func() { f.mem.Close() })
	reg := prometheus.NewRegistry()
	facts, err := lookup.NewPresence(cfg.Lookup, deflect.PresenceFacts(f.mem), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { facts.Close() })
	svc, err := deflect.New(deflect.Options{Config: cfg, Store: f.mem, Sender: noSender{}, Registry: reg, Presence: facts})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	wh := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: "s", VerifyToken: "vt"}, whatsapp.AdaptStreams(f.mem, func(m store.StreamMessage) whatsapp.QueueMessage {
		return whatsapp.QueueMessage{ID: m.ID, Payload: m.Payload}
	}), nil, nil)
	f.srv = httptest.NewServer(api.New(api.Options{
		API: cfg.API, MaxBodyBytes: 4096, Region: "SA",
		Engine: svc, Sessions: f.mem,
		Presence: facts,
		Webhook:  wh, Gatherer: reg, Store: f.mem, Draining: f.draining.Load,
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, token, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthAndScopes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"eligibility without token", "GET", "/api/v1/eligibility?number=%2B966501234567", "", "", 401},
		{"eligibility wrong token", "GET", "/api/v1/eligibility?number=%2B966501234567", "nope", "", 401},
		{"eligibility pbx", "GET", "/api/v1/eligibility?number=%2B966501234567", pbxToken, "", 200},
		{"eligibility admin", "GET", "/api/v1/eligibility?number=%2B966501234567", adminToken, "", 200},
		{"eligibility agent", "GET", "/api/v1/eligibility?number=%2B966501234567", agentToken, "", 403},
		{"sessions without token", "GET", "/api/v1/sessions", "", "", 401},
		{"sessions pbx", "GET", "/api/v1/sessions", pbxToken, "", 403},
		{"sessions agent", "GET", "/api/v1/sessions", agentToken, "", 200},
		{"sessions admin", "GET", "/api/v1/sessions", adminToken, "", 200},
		{"presence agent", "GET", "/api/v1/presence/+966501234567", agentToken, "", 403},
		{"presence pbx", "GET", "/api/v1/presence/+966501234567", pbxToken, "", 403},
		{"presence admin", "GET", "/api/v1/presence/+966501234567", adminToken, "", 200},
		{"presence put agent", "PUT", "/api/v1/presence/+966501234567", agentToken, `{"status":"yes"}`, 403},
		{"presence delete without token", "DELETE", "/api/v1/presence/+966501234567", "", "", 401},
		{"presence import agent", "POST", "/api/v1/presence", agentToken, `{"entries":[]}`, 403},
		{"presence import empty", "POST", "/api/v1/presence", adminToken, `{"entries":[]}`, 400},
		{"openapi is public", "GET", "/api/v1/openapi.yaml", "", "", 200},
		{"deflections agent", "POST", "/api/v1/deflections", agentToken, `{"number":"+966501234567"}`, 403},
		{"deflections without token", "POST", "/api/v1/deflections", "", `{"number":"+966501234567"}`, 401},
		{"healthz", "GET", "/healthz", "", "", 200},
		{"unknown endpoint", "GET", "/api/v1/nothing", adminToken, "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do(t, tt.method, tt.path, tt.token, tt.body)
			if code != tt.want {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
			if code >= 400 && !strings.Contains(body, `"error"`) {
				t.Errorf("error body is not JSON {\"error\"}: %s", body)
			}
		})
	}
}

func TestEligibility(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, query string
		want        map[string]any
	}{
		{"saudi mobile", "number=%2B966501234567&queue=billing&wait=300", map[string]any{"eligible": true, "reason": "", "e164": "+966501234567", "language": "ar"}},
		{"national form", "number=0501234567&wait=300", map[string]any{"eligible": true, "e164": "+966501234567"}},
		{"landline", "number=%2B966112345678&wait=300", map[string]any{"eligible": false, "reason": "not-mobile", "e164": "+966112345678"}},
		{"short wait", "number=%2B966501234567&wait=10", map[string]any{"eligible": false, "reason": "wait-too-short"}},
		{"british mobile speaks english", "number=%2B447911123456&wait=300", map[string]any{"eligible": true, "language": "en"}},
		{"junk", "number=banana", map[string]any{"eligible": false, "reason": "invalid-number"}},
		{"queue never deflected", "number=%2B966501234567&queue=VIP&wait=300", map[string]any{"eligible": false, "reason": "queue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := f.do(t, "GET", "/api/v1/eligibility?"+tt.query, pbxToken, "")
			if code != 200 {
				t.Fatalf("= %d %s", code, body)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"eligible", "reason", "e164", "language"} {
				if _, ok := got[k]; !ok {
					t.Errorf("field %s missing: %s", k, body)
				}
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, got[k], v, body)
				}
			}
		})
	}
	if code, _ := f.do(t, "GET", "/api/v1/eligibility", pbxToken, ""); code != 400 {
		t.Errorf("missing number = %d, want 400", code)
	}
	if code, _ := f.do(t, "GET", "/api/v1/eligibility?number=%2B966501234567&wait=soon", pbxToken, ""); code != 400 {
		t.Errorf("bad wait = %d, want 400", code)
	}
	if list, _ := f.mem.ListSessions(context.Background(), store.SessionFilter{}); len(list) != 0 {
		t.Errorf("eligibility created %d sessions", len(list))
	}
}

func TestSessions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	n, _ := lookup.Normalize("+966501234567", "SA")
	d, err := f.svc.Decide(ctx, &ivr.CallInfo{CallID: "abc@pbx", CallerRaw: "+966501234567", Caller: n, Queue: "billing", WaitEstimate: 200, Language: "ar", Context: map[string]string{"Account": "A1"}})
	if err != nil || !d.Offer {
		t.Fatal(d, err)
	}
	f.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "declined", Path: []string{"offer", "2"}})
	land, _ := lookup.Normalize("+966112345678", "SA")
	d2, _ := f.svc.Decide(ctx, &ivr.CallInfo{CallID: "def@pbx", Caller: land, WaitEstimate: 200})

	code, body := f.do(t, "GET", "/api/v1/sessions/"+d.SessionID, agentToken, "")
	if code != 200 {
		t.Fatalf("get = %d %s", code, body)
	}
	var s map[string]any
	_ = json.Unmarshal([]byte(body), &s)
	for _, k := range []string{"id", "call_id", "caller", "queue", "language", "state", "outcome", "reason", "context", "whatsapp", "created_at", "updated_at"} {
		if _, ok := s[k]; !ok {
			t.Errorf("session field %s missing: %s", k, body)
		}
	}
	if s["outcome"] != "declined" || s["call_id"] != "abc@pbx" || s["context"].(map[string]any)["Account"] != "A1" {
		t.Errorf("session = %s", body)
	}
	if _, ok := s["whatsapp"].(map[string]any)["message_id"]; !ok {
		t.Errorf("whatsapp.message_id missing: %s", body)
	}

	list := func(q string) []string {
		t.Helper()
		code, body := f.do(t, "GET", "/api/v1/sessions?"+q, agentToken, "")
		if code != 200 {
			t.Fatalf("list %s = %d %s", q, code, body)
		}
		var r struct{ Sessions []struct{ ID string } }
		_ = json.Unmarshal([]byte(body), &r)
		var ids []string
		for _, x := range r.Sessions {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if ids := list(""); len(ids) != 2 || ids[0] != d2.SessionID {
		t.Errorf("all sessions = %v, want newest first", ids)
	}
	if ids := list("caller=0501234567"); len(ids) != 1 || ids[0] != d.SessionID {
		t.Errorf("by caller = %v", ids)
	}
	if ids := list("outcome=ineligible"); len(ids) != 1 || ids[0] != d2.SessionID {
		t.Errorf("by outcome prefix = %v", ids)
	}
	if ids := list("since=1h"); len(ids) != 2 {
		t.Errorf("since 1h = %v", ids)
	}
	if ids := list("since=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); len(ids) != 0 {
		t.Errorf("since the future = %v", ids)
	}
	if code, _ := f.do(t, "GET", "/api/v1/sessions?since=yesterday", agentToken, ""); code != 400 {
		t.Errorf("bad since = %d", code)
	}
	if code, _ := f.do(t, "GET", "/api/v1/sessions/nope", agentToken, ""); code != 404 {
		t.Errorf("unknown session = %d", code)
	}
}

func TestPresence(t *testing.T) {
	f := newFixture(t)
	get := func() map[string]any {
		t.Helper()
		code, body := f.do(t, "GET", "/api/v1/presence/0501234567", adminToken, "")
		if code != 200 {
			t.Fatalf("get = %d %s", code, body)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		return m
	}
	if m := get(); m["status"] != "unknown" || m["e164"] != "+966501234567" {
		t.Errorf("fresh = %v", m)
	}
	if code, body := f.do(t, "PUT", "/api/v1/presence/+966501234567", adminToken, `{"status":"no","ttl":"48h"}`); code != 200 || !strings.Contains(body, `"status":"no"`) {
		t.Fatalf("put = %d %s", code, body)
	}
	if m := get(); m["status"] != "no" || m["source"] != "api" || m["expires"] == nil {
		t.Errorf("after put = %v", m)
	}
	// The engine reads the same facts: now ineligible.
	code, body := f.do(t, "GET", "/api/v1/eligibility?number=%2B966501234567&wait=300", pbxToken, "")
	if code != 200 || !strings.Contains(body, `"reason":"not-on-whatsapp"`) {
		t.Errorf("eligibility after override no = %d %s", code, body)
	}
	if code, _ := f.do(t, "DELETE", "/api/v1/presence/+966501234567", adminToken, ""); code != 204 {
		t.Fatalf("delete = %d", code)
	}
	if m := get(); m["status"] != "unknown" {
		t.Errorf("after delete = %v", m)
	}
	for _, bad := range []string{`{"status":"maybe"}`, `{"status":"yes","ttl":"-1h"}`, `not json`} {
		if code, _ := f.do(t, "PUT", "/api/v1/presence/+966501234567", adminToken, bad); code != 400 {
			t.Errorf("put %s = %d, want 400", bad, code)
		}
	}
	if code, _ := f.do(t, "GET", "/api/v1/presence/banana", adminToken, ""); code != 400 {
		t.Errorf("junk number = %d, want 400", code)
	}

	code, body = f.do(t, "POST", "/api/v1/presence", adminToken, `{"entries":[{"phone":"+966501234567","whatsapp":true},{"phone":"banana","whatsapp":true},{"phone":"+447911123456","whatsapp":false},{"phone":"0501234568","whatsapp":true}]}`)
	if code != 200 {
		t.Fatalf("import = %d %s", code, body)
	}
	var r struct {
		Rows, Stored int
		Invalid      []struct{ Line int }
	}
	_ = json.Unmarshal([]byte(body), &r)
	if r.Rows != 4 || r.Stored != 3 || len(r.Invalid) != 1 || r.Invalid[0].Line != 2 {
		t.Errorf("import = %s", body)
	}
	if code, body := f.do(t, "POST", "/api/v1/presence", adminToken, `{"entries":[{"phone":"+966501234567"}]}`); code != 400 || !strings.Contains(body, "entries[0].whatsapp") {
		t.Errorf("import without whatsapp = %d %s", code, body)
	}
	if p, err := f.mem.GetPresence(context.Background(), "+447911123456"); err != nil || p.Status != "no" || p.Source != "import" {
		t.Errorf("imported fact = %+v, %v", p, err)
	}
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t)
	big := `{"entries":[` + strings.Repeat(`{"phone":"+966501234567","whatsapp":true},`, 200) + `{"phone":"+966501234567","whatsapp":true}]}`
	code, body := f.do(t, "POST", "/api/v1/presence", adminToken, big)
	if code != 413 || !strings.Contains(body, `"error"`) {
		t.Fatalf("oversized body = %d %s, want 413", code, body)
	}
}

func TestReadiness(t *testing.T) {
	f := newFixture(t)
	if code, _ := f.do(t, "GET", "/readyz", "", ""); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	f.draining.Store(true)
	if code, _ := f.do(t, "GET", "/readyz", "", ""); code != 503 {
		t.Errorf("readyz while draining = %d", code)
	}
	f.draining.Store(false)
	f.mem.Close()
	if code, _ := f.do(t, "GET", "/readyz", "", ""); code != 503 {
		t.Errorf("readyz with the store down = %d", code)
	}
}

func TestWebhookAndMetricsMounted(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=vt&hub.challenge=1234", "", "")
	if code != 200 || body != "1234" {
		t.Errorf("verify handshake = %d %q", code, body)
	}
	if code, _ := f.do(t, "GET", "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", "", ""); code != 403 {
		t.Errorf("wrong verify token = %d", code)
	}
	if code, _ := f.do(t, "POST", "/webhooks/whatsapp", "", `{"object":"whatsapp_business_account","entry":[]}`); code != 401 {
		t.Errorf("unsigned webhook = %d, want 401", code)
	}
	code, body = f.do(t, "GET", "/metrics", "", "")
	if code != 200 || !strings.Contains(body, "deflectd_deflect_offers_total") {
		t.Errorf("metrics = %d, deflect series missing", code)
	}
}

// Every route the server answers is documented, and the document is valid YAML with OpenAPI 3.
func TestOpenAPIDocumentsEveryEndpoint(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	want := map[string][]string{
		"/healthz": {"get"}, "/readyz": {"get"}, "/metrics": {"get"},
		"/webhooks/whatsapp": {"get", "post"}, "/api/v1/openapi.yaml": {"get"},
		"/api/v1/eligibility": {"get"}, "/api/v1/sessions": {"get"}, "/api/v1/sessions/{id}": {"get"},
		"/api/v1/presence/{number}": {"get", "put", "delete"}, "/api/v1/presence": {"post"},
	}
	for p, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[p][m]; !ok {
				t.Errorf("%s %s is not documented", strings.ToUpper(m), p)
			}
		}
	}
}

// Every $ref in the OpenAPI document points at a component that exists.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	n := 0
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if k == "$ref" {
					n++
					ref, _ := e.(string)
					parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
					var cur any = doc
					for _, p := range parts {
						m, ok := cur.(map[string]any)
						if !ok {
							cur = nil
							break
						}
						cur = m[p]
					}
					if cur == nil {
						t.Errorf("$ref %s does not resolve", ref)
					}
					continue
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if n == 0 {
		t.Fatal("no $ref found; the walk is broken")
	}
}

// TestBearerSchemeIsCaseInsensitive: RFC 9110 makes the authentication scheme case-insensitive.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, header string
		want         int
	}{
		{"canonical", "Bearer " + pbxToken, 200},
		{"lower case", "bearer " + pbxToken, 200},
		{"upper case", "BEARER " + pbxToken, 200},
		{"two spaces", "Bearer  " + pbxToken, 200},
		{"other scheme", "Basic " + pbxToken, 401},
		{"scheme only", "Bearer", 401},
		{"no space", "Bearer" + pbxToken, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/eligibility?number=%2B966501234567", nil)
			req.Header.Set("Authorization", tt.header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("Authorization %q = %d, want %d", tt.header, resp.StatusCode, tt.want)
			}
		})
	}
}
