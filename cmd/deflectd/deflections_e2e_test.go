package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/deploy/testkit"
)

const pbxE2EToken = "e2e-pbx-token-0123456789"

func withPBXToken(c *configs.Config) {
	c.API.Tokens = append(c.API.Tokens, configs.TokenConfig{Name: "pbx", Token: pbxE2EToken, Scopes: []string{"pbx"}})
}

type deflectAnswer struct {
	Result, Reason, SessionID, E164, MessageID, Status string
}

// postDeflection sends POST /api/v1/deflections as a dialplan's CURL() would.
func (g *testGateway) postDeflection(token, body string, header ...string) (int, deflectAnswer, string) {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.base+"/api/v1/deflections", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a struct {
		Result    string `json:"result"`
		Reason    string `json:"reason"`
		SessionID string `json:"session_id"`
		E164      string `json:"e164"`
		MessageID string `json:"message_id"`
		Status    string `json:"status"`
	}
	_ = json.Unmarshal(raw, &a)
	return resp.StatusCode, deflectAnswer(a), string(raw)
}

// TestE2EDeflectionAPI: the HTTP path for IVRs that play their own offer, against the embedded
// default's sandbox Graph API over HTTP.
func TestE2EDeflectionAPI(t *testing.T) {
	t.Parallel()
	g := startGateway(t, withPBXToken)

	// Eligible, in national form (lookup.default_region SA): deflected once the template is
	// delivered, with the queue in the template and the session marked as coming from the API.
	code, a, raw := g.postDeflection(pbxE2EToken,
		`{"number":"0501234568","queue":"billing","wait":300,"customer_id":"C-1","context":{"Account":"ACC-9"}}`,
		"Idempotency-Key", "k-1")
	if code != 200 || a.Result != "deflected" || a.E164 != "+966501234568" || a.SessionID == "" || a.MessageID == "" {
		t.Fatalf("deflection = %d %s", code, raw)
	}
	if a.Status != "delivered" && a.Status != "read" {
		t.Errorf("status = %q, want delivered or read (wait_for delivered)", a.Status)
	}
	sent := g.sandbox.Sent("+966501234568")
	if len(sent) != 1 || !strings.Contains(string(sent[0].Body), `"billing"`) || !strings.Contains(string(sent[0].Body), "ACC-9") {
		t.Fatalf("sandbox received %d messages: %v", len(sent), sent)
	}
	s := g.session("+966501234568")
	if s.ID != a.SessionID || s.Outcome != "deflected" || s.CustomerID != "C-1" || strings.Join(s.IVRPath, ",") != "api" {
		t.Errorf("session = %+v", s)
	}

	// The same Idempotency-Key: the first answer again, nothing sent.
	code, b, raw := g.postDeflection(pbxE2EToken,
		`{"number":"0501234568","queue":"billing","wait":300,"customer_id":"C-1"}`, "Idempotency-Key", "k-1")
	if code != 200 || b != a {
		t.Errorf("repeat = %d %s, want the first answer %+v", code, raw, a)
	}
	if n := len(g.sandbox.Sent("+966501234568")); n != 1 {
		t.Errorf("sandbox has %d messages after the repeat, want 1", n)
	}

	// A form-encoded body, as Asterisk's CURL() posts it.
	req, _ := http.NewRequest("POST", g.base+"/api/v1/deflections",
		strings.NewReader("number=%2B966501234576&queue=billing&wait=300&customer_id=C-7&context.Account=ACC-F"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+pbxE2EToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	formRaw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(formRaw), `"result":"deflected"`) {
		t.Errorf("form body = %d %s", resp.StatusCode, formRaw)
	}
	if sent := g.sandbox.Sent("+966501234576"); len(sent) != 1 || !strings.Contains(string(sent[0].Body), "ACC-F") {
		t.Errorf("form body: sandbox has %v", sent)
	}

	// JSON labelled as a form, as `curl -d '{…}'` sends it without -H Content-Type.
	req, _ = http.NewRequest("POST", g.base+"/api/v1/deflections",
		strings.NewReader(` {"number":"+966501234577","queue":"billing","wait":300}`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+pbxE2EToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	curlRaw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(curlRaw), `"result":"deflected"`) {
		t.Errorf("JSON with curl's form Content-Type = %d %s", resp.StatusCode, curlRaw)
	}

	// wait_for none: the answer comes before the send; the template follows.
	code, a, raw = g.postDeflection(pbxE2EToken, `{"number":"+966501234575","wait":300,"wait_for":"none"}`)
	if code != 200 || a.Result != "deflected" || a.MessageID != "" || a.Status != "" {
		t.Errorf("wait_for none = %d %s, want deflected with no message yet", code, raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(g.sandbox.Sent("+966501234575")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("wait_for none: the template never reached the sandbox")
		}
		time.Sleep(50 * time.Millisecond)
	}

	tests := []struct {
		name, token, body string
		wantCode          int
		wantResult        string
		wantReason        string
	}{
		{"cooldown: offered a moment ago", pbxE2EToken, `{"number":"+966501234568","queue":"billing","wait":300}`, 200, "ineligible", "cooldown"},
		{"landline", pbxE2EToken, `{"number":"+966112345678","wait":300}`, 200, "ineligible", "not-mobile"},
		{"wait too short", pbxE2EToken, `{"number":"+966501234569","wait":5}`, 200, "ineligible", "wait-too-short"},
		{"not a number", pbxE2EToken, `{"number":"hello","wait":300}`, 200, "ineligible", "invalid-number"},
		{"not on WhatsApp", pbxE2EToken, `{"number":"` + notOnWhatsApp + `","wait":300}`, 200, "failed", "not-on-whatsapp"},
		{"wait_for sent", pbxE2EToken, `{"number":"+966501234570","wait":300,"wait_for":"sent"}`, 200, "deflected", ""},
		{"no number", pbxE2EToken, `{"queue":"billing"}`, 400, "", ""},
		{"bad JSON", pbxE2EToken, `{"number":`, 400, "", ""},
		{"negative wait", pbxE2EToken, `{"number":"+966501234571","wait":-3}`, 400, "", ""},
		{"bad wait_for", pbxE2EToken, `{"number":"+966501234571","wait":300,"wait_for":"read"}`, 400, "", ""},
		{"no token", "", `{"number":"+966501234571","wait":300}`, 401, "", ""},
		{"wrong token", "not-the-token-at-all", `{"number":"+966501234571","wait":300}`, 401, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, a, raw := g.postDeflection(tt.token, tt.body)
			if code != tt.wantCode {
				t.Fatalf("code = %d %s, want %d", code, raw, tt.wantCode)
			}
			if code != 200 {
				if !strings.Contains(raw, `"error"`) {
					t.Errorf("error body = %s", raw)
				}
				return
			}
			if a.Result != tt.wantResult || a.Reason != tt.wantReason {
				t.Errorf("answer = %s, want %s/%s", raw, tt.wantResult, tt.wantReason)
			}
		})
	}
}

// TestE2EDeflectionAPIScope: an agent token may not deflect (403).
func TestE2EDeflectionAPIScope(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) {
		c.API.Tokens = append(c.API.Tokens, configs.TokenConfig{Name: "desk", Token: "e2e-agent-token-0123456789", Scopes: []string{"agent"}})
	})
	if code, _, raw := g.postDeflection("e2e-agent-token-0123456789", `{"number":"+966501234572","wait":300}`); code != 403 {
		t.Errorf("agent token = %d %s, want 403", code, raw)
	}
}

// TestE2EDeflectionAPIRedisDown: with the store gone the API says 503 (the caller stays in the
// queue) and sends nothing; once Redis is back, deflections work again.
func TestE2EDeflectionAPIRedisDown(t *testing.T) {
	t.Parallel()
	p := redistest.Server(t)
	g := startGateway(t, func(c *configs.Config) {
		withPBXToken(c)
		c.Store.Backend = "redis"
		c.Store.Redis.URL = p.URL()
		c.Store.Redis.KeyPrefix = redistest.Prefix(t)
	})
	p.Stop()
	code, _, raw := g.postDeflection(pbxE2EToken, `{"number":"+966501234573","wait":300}`, "Idempotency-Key", "down-1")
	if code != 503 {
		t.Errorf("Redis down = %d %s, want 503", code, raw)
	}
	if n := len(g.sandbox.Sent("+966501234573")); n != 0 {
		t.Errorf("sandbox has %d messages with the store down", n)
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	g.waitReady(10 * time.Second)
	for attempt := 1; ; attempt++ {
		code, a, raw := g.postDeflection(pbxE2EToken, `{"number":"+966501234574","wait":300}`)
		if code == 200 {
			if a.Result != "deflected" {
				t.Errorf("after restart = %s", raw)
			}
			break
		}
		if attempt == 5 {
			t.Fatalf("after restart still %d %s", code, raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestE2EReplayAsteriskRequests runs deploy/scripts/replay-asterisk.sh (the request the Asterisk
// sample makes, with curl) against a gateway: deflected once, then refused by the cooldown and
// sent back to the queue; the sandbox customer got one template with the sample's context.
func TestE2EReplayAsteriskRequests(t *testing.T) {
	t.Parallel()
	testkit.RequireTool(t, "curl")
	g := startGateway(t, withPBXToken)
	run := func(uniqueid string) (string, error) {
		cmd := exec.Command("bash", "../../deploy/scripts/replay-asterisk.sh", "+966501234577", "C-9", "ACC-R", "300")
		cmd.Env = append(os.Environ(), "DEFLECTD_API="+g.base+"/api/v1", "DEFLECTD_PBX_TOKEN="+pbxE2EToken, "UNIQUEID="+uniqueid)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("1733270000.1")
	if err != nil || !strings.Contains(out, "result=deflected: Playback(deflect/sent), Hangup()") {
		t.Fatalf("first replay: %v\n%s", err, out)
	}
	out, err = run("1733270000.2")
	if err != nil || !strings.Contains(out, "result=ineligible: Playback(deflect/back-to-queue), Queue() at the saved position") {
		t.Fatalf("second replay (cooldown): %v\n%s", err, out)
	}
	sent := g.sandbox.Sent("+966501234577")
	if len(sent) != 1 || !strings.Contains(string(sent[0].Body), "ACC-R") || !strings.Contains(string(sent[0].Body), `"billing"`) {
		t.Errorf("sandbox: %v", sent)
	}
	if s := g.session("+966501234577"); s.CustomerID != "C-9" {
		t.Errorf("session = %+v", s)
	}
}
