package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr"
)

func startSippQueue(t *testing.T, scenario string) *testkit.SippUAS {
	t.Helper()
	return testkit.StartSippUAS(t, scenario, 55*time.Second)
}

func withVoice(queuePort int) func(*configs.Config) {
	return func(c *configs.Config) {
		c.Voice.Enabled = true
		c.Voice.Listen = "tls://127.0.0.1:0"
		c.Voice.PBXTarget = "sip:queue@127.0.0.1:" + strconv.Itoa(queuePort)
		// Template, greeting, menu and the call button within seconds: more than Meta's pair
		// rate limit lets through at once (6 s per message after a burst of 3).
		c.WhatsApp.PairBurst = 6
	}
}

// callReport is the sandbox's answer to customers/{wa_id}/call.
type callReport struct {
	Status   int    `json:"status"`
	Answered bool   `json:"answered"`
	TalkMS   int64  `json:"talk_ms"`
	EndedBy  string `json:"ended_by"`
	Sent     int64  `json:"packets_sent"`
	Received int64  `json:"packets_received"`
	Codec    string `json:"codec"`
}

func (g *testGateway) whatsappCall(waID, body string) (int, callReport, string) {
	g.t.Helper()
	resp, err := http.Post(g.base+"/sandbox/graph/_sandbox/customers/"+waID+"/call", "application/json", strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var rep callReport
	_ = json.Unmarshal(b, &rep)
	return resp.StatusCode, rep, string(b)
}

// TestE2EWhatsAppCallReachesQueueWithContext is the voice acceptance run on the embedded
// default: a caller of queue billing (customer C-1001) is deflected, chats with the bot, picks
// "call us on WhatsApp" and gets a call button; the sandbox customer taps it: the sandbox
// places the call as Meta would (TLS, digest, SDES-SRTP, G.711), deflectd bridges it to the
// queue (sipp) with X-Queue, X-Customer-Id and X-Deflect-Session, audio flows both ways, and
// the conversation shows the call.
func TestE2EWhatsAppCallReachesQueueWithContext(t *testing.T) {
	q := startSippQueue(t, "voice-queue-uas.xml")
	g := startGateway(t, withVoice(q.Port))
	const caller, waID = "+966501234567", "966501234567"

	if code, rep, body := g.whatsappCall(waID, `{"duration":"1s"}`); code != http.StatusConflict {
		t.Fatalf("a call with no button sent yet: %d %+v %s, want 409", code, rep, body)
	}
	wantResult(t, g.call(caller, ivr.CallOptions{Press: "1", Headers: []string{"X-Queue: billing",
		"X-Wait-Estimate: 300", "X-Customer-Id: C-1001", "X-Context-Account: ACC-7"}}), "deflected")
	sess := g.session(caller)

	g.sandboxCustomer(waID, "text", `{"body":"hi"}`)
	waitSent(t, g, waID, func(body string) bool { return strings.Contains(body, `"type":"list"`) })
	g.sandboxCustomer(waID, "text", `{"body":"5"}`)
	waitSent(t, g, waID, func(body string) bool { return strings.Contains(body, `"voice_call"`) })
	if _, ok := g.sandbox.LastCallButton(waID); !ok {
		t.Fatal("the sandbox customer has no call button")
	}

	code, rep, body := g.whatsappCall(waID, `{"duration":"2s"}`)
	if code != 200 || !rep.Answered || rep.EndedBy != "customer" {
		t.Fatalf("whatsapp call: %d %s", code, body)
	}
	if rep.Sent < 80 || rep.Received < rep.Sent*8/10 {
		t.Errorf("audio: sent %d, got back %d (sipp echoes through deflectd); want ≥ 80 %%", rep.Sent, rep.Received)
	}
	msgs := q.Wait(t)
	for _, want := range []string{"X-Deflect-Session: " + sess.ID, "X-Queue: billing", "X-Customer-Id: C-1001",
		"X-Context-Account: ACC-7", "X-WhatsApp-Conversation: " + g.base + "/console/"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("the queue's INVITE lacks %q", want)
		}
	}

	testkit.Eventually(t, 5*time.Second, "the call in the conversation", func() bool {
		_, conv := g.get("/api/v1/conversations/" + waID)
		return strings.Contains(conv, "Called on WhatsApp, 0 min 2 s, answered by queue billing")
	})
	if n := g.counter("deflectd_voice_calls_total", map[string]string{"result": "answered"}); n != 1 {
		t.Errorf("deflectd_voice_calls_total{answered} = %v, want 1", n)
	}
	if n := g.counter("deflectd_voice_call_context_total", map[string]string{"outcome": "found"}); n != 1 {
		t.Errorf("deflectd_voice_call_context_total{found} = %v, want 1", n)
	}
}

// waitSent waits for a message to waID whose JSON body matches.
func waitSent(t *testing.T, g *testGateway, waID string, match func(body string) bool) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, "a message to the customer", func() bool {
		for _, m := range g.sandbox.Sent(waID) {
			if match(string(m.Body)) {
				return true
			}
		}
		return false
	})
}

// TestE2EWhatsAppCallAgentButton: an agent sends the call button through the API; the customer
// taps it and the queue agent hangs up first (forged payloads, wrong SIP passwords and a busy
// queue are ivr/voice's tests).
func TestE2EWhatsAppCallAgentButton(t *testing.T) {
	q := startSippQueue(t, "voice-queue-bye.xml")
	const agentToken = "voice-e2e-agent-token"
	agent := func(c *configs.Config) {
		c.API.Tokens = append(c.API.Tokens, configs.TokenConfig{Name: "alice", Token: agentToken, Scopes: []string{"agent"}})
	}
	g := startGateway(t, func(c *configs.Config) { withVoice(q.Port)(c); agent(c) })
	// The console shows its "Send a WhatsApp call button" only when calls are on.
	for _, tc := range []struct {
		g    *testGateway
		want bool
	}{{g, true}, {startGateway(t, agent), false}} {
		req, _ := http.NewRequest("GET", tc.g.base+"/api/v1/agents/me", nil)
		req.Header.Set("Authorization", "Bearer "+agentToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var me struct {
			Calls bool `json:"calls"`
		}
		err = json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		if err != nil || me.Calls != tc.want {
			t.Errorf("agents/me calls = %v (%v), want %v", me.Calls, err, tc.want)
		}
	}
	const caller, waID = "+966501234568", "966501234568"
	wantResult(t, g.call(caller, ivr.CallOptions{Press: "1"}), "deflected")
	g.sandboxCustomer(waID, "text", `{"body":"hi"}`)
	waitSent(t, g, waID, func(body string) bool { return strings.Contains(body, `"type":"list"`) })

	code, body := g.post("/api/v1/conversations/"+waID+"/messages", `{"type":"call_button","text":"Call us, we have your details"}`)
	if code != http.StatusCreated {
		t.Fatalf("agent call button: %d %s", code, body)
	}
	waitSent(t, g, waID, func(b string) bool {
		return strings.Contains(b, `"voice_call"`) && strings.Contains(b, "Call us, we have your details")
	})
	// The queue agent hangs up after 1.5 s: deflectd ends the WhatsApp side.
	code, rep, raw := g.whatsappCall(waID, `{"duration":"20s"}`)
	if code != 200 || !rep.Answered || rep.EndedBy != "business" || rep.TalkMS > 10000 {
		t.Fatalf("whatsapp call: %d %s", code, raw)
	}
	msgs := q.Wait(t)
	if !strings.Contains(msgs, "X-Queue: billing") || !strings.Contains(msgs, "X-Customer-Id: C-42") {
		t.Errorf("the queue's INVITE lacks the deflection's context:\n%s", msgs)
	}
}

func (g *testGateway) post(path, body string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest("POST", g.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCallCommandWhatsApp: `deflectd call --whatsapp` through a gateway's sandbox, and straight
// to the voice listener the way Meta would (certificate and SIP password given).
func TestCallCommandWhatsApp(t *testing.T) {
	tests := []struct {
		name string
		args func(g *testGateway, ca string) []string
		env  []string
	}{
		{name: "through the sandbox", args: func(g *testGateway, _ string) []string {
			return []string{"call", "--whatsapp", "--gateway", g.base, "--from", "+966501230401", "--payload", "", "--duration", "20s"}
		}},
		{name: "straight to the listener", env: []string{"DEFLECTD_CALL_PASSWORD=voice-e2e-sip-password"},
			args: func(g *testGateway, ca string) []string {
				return []string{"call", "--whatsapp", "tls://" + g.voice.Addr().String(), "--from", "966501230402",
					"--auth-user", "15550001111", "--ca", ca, "--duration", "20s"}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := startSippQueue(t, "voice-queue-bye.xml")
			cert, key, _ := testkit.SelfSignedCert(t, t.TempDir())
			g := startGateway(t, func(c *configs.Config) {
				withVoice(q.Port)(c)
				c.Voice.TLS = configs.TLSConfig{CertFile: cert, KeyFile: key}
				c.Voice.Password = "voice-e2e-sip-password"
			})
			var out, errb strings.Builder
			if code := run(tc.args(g, cert), &out, &errb, tc.env); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
			for _, want := range []string{"final response: 200", "ended by: business", "codec: PCMU"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			q.Wait(t)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		cert, key, _ := testkit.SelfSignedCert(t, t.TempDir())
		g := startGateway(t, func(c *configs.Config) {
			withVoice(testkit.FreeUDPPort(t, false))(c)
			c.Voice.TLS = configs.TLSConfig{CertFile: cert, KeyFile: key}
			c.Voice.Password = "voice-e2e-sip-password"
		})
		var out, errb strings.Builder
		code := run([]string{"call", "--whatsapp", "tls://" + g.voice.Addr().String(), "--from", "966501230403",
			"--auth-user", "15550001111", "--ca", cert, "--duration", "1s"}, &out, &errb, []string{"DEFLECTD_CALL_PASSWORD=guess"})
		if code != 0 || !strings.Contains(out.String(), "final response: 401") {
			t.Errorf("exit %d, output %s%s; want the 401 reported", code, out.String(), errb.String())
		}
		if n := g.counter("deflectd_voice_calls_total", map[string]string{"result": "unauthorized"}); n < 1 {
			t.Errorf("deflectd_voice_calls_total{unauthorized} = %v", n)
		}
	})
}

// TestE2EWhatsAppCallWithoutButtonFindsDeflection: a customer who calls from the chat's call
// icon (no button, no payload) still reaches the queue with their latest deflection's context.
func TestE2EWhatsAppCallWithoutButtonFindsDeflection(t *testing.T) {
	q := startSippQueue(t, "voice-queue-uas.xml")
	g := startGateway(t, withVoice(q.Port))
	const caller, waID = "+966501230501", "966501230501"
	wantResult(t, g.call(caller, ivr.CallOptions{Press: "1", Headers: []string{"X-Queue: billing", "X-Customer-Id: C-1001"}}), "deflected")
	code, rep, body := g.whatsappCall(waID, `{"payload":"","duration":"1s"}`)
	if code != 200 || !rep.Answered {
		t.Fatalf("whatsapp call: %d %s", code, body)
	}
	if msgs := q.Wait(t); !strings.Contains(msgs, "X-Deflect-Session: "+g.session(caller).ID) {
		t.Errorf("the queue's INVITE lacks the deflection's session:\n%s", msgs)
	}
	if n := g.counter("deflectd_voice_call_context_total", map[string]string{"outcome": "by-number"}); n != 1 {
		t.Errorf("deflectd_voice_call_context_total{by-number} = %v, want 1", n)
	}
}
