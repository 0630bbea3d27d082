package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
)

// agentDo calls the HTTP API with an agent's token.
func (g *testGateway) agentDo(method, path, token, body string) (int, string) {
	g.t.Helper()
	req, _ := http.NewRequest(method, g.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sandboxSent is what the sandbox recorded as sent to id (a wa_id or a business-scoped user id).
func (g *testGateway) sandboxSent(id string) []struct {
	To, Recipient string
	Body          json.RawMessage
} {
	g.t.Helper()
	var out []struct {
		To, Recipient string
		Body          json.RawMessage
	}
	if err := json.Unmarshal([]byte(g.getNoAuth("/sandbox/graph/_sandbox/messages?to="+id)), &out); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// A customer with a WhatsApp username writes with a business-scoped user id and no phone
// number: the message lands in a conversation the API lists under that id, the bot answers,
// an agent takes over and answers, and the sandbox phone receives every reply addressed with
// Meta's "recipient" field and no "to".
func TestUsernameCustomerEndToEnd(t *testing.T) {
	const agentToken = "e2e-agent-token-bsuid-0123456789"
	g := startGateway(t, func(c *configs.Config) {
		c.API.Tokens = append(c.API.Tokens, configs.TokenConfig{Name: "amal", Token: agentToken, Scopes: []string{"agent"}})
	})
	const bsuid = "SA.13491208655302741918"
	g.sandboxCustomer(bsuid, "text", `{"body":"I need help with my licence","name":"Noura"}`)

	var conv struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Messages []struct {
			Direction, Text string
		} `json:"messages"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := g.get("/api/v1/conversations/" + bsuid)
		if code == 200 && json.Unmarshal([]byte(body), &conv) == nil && len(conv.Messages) >= 2 {
			break // the customer's message and the bot's answer
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answered conversation %s: %d %s", bsuid, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if conv.ID != bsuid || conv.Name != "Noura" || conv.Messages[0].Text != "I need help with my licence" {
		t.Fatalf("conversation %+v", conv)
	}

	if code, body := g.agentDo("POST", "/api/v1/conversations/"+bsuid+"/takeover", agentToken, ""); code/100 != 2 {
		t.Fatalf("takeover: %d %s", code, body)
	}
	if code, body := g.agentDo("POST", "/api/v1/conversations/"+bsuid+"/messages", agentToken, `{"text":"Hello Noura, I am looking at it."}`); code != 201 {
		t.Fatalf("agent reply: %d %s", code, body)
	}
	sent := g.sandboxSent(bsuid)
	if len(sent) < 2 || !strings.Contains(string(sent[len(sent)-1].Body), "I am looking at it") {
		t.Fatalf("the customer's phone got %d messages: %+v", len(sent), sent)
	}
	for _, m := range sent {
		var b map[string]any
		_ = json.Unmarshal(m.Body, &b)
		if m.Recipient != bsuid || b["recipient"] != bsuid || b["to"] != nil {
			t.Fatalf("a reply was not addressed by recipient: %s", m.Body)
		}
	}
}

// A customer first known by business-scoped user id who then writes with their number (Meta
// sends both) and later calls: the call's deflection continues the same conversation.
func TestDeflectionJoinsUsernameConversation(t *testing.T) {
	g := startGateway(t, nil)
	const bsuid, waID, caller = "SA.88491208655302741918", "966501234567", "+966501234567"
	g.sandboxCustomer(bsuid, "text", `{"body":"hello"}`)
	g.sandboxCustomer(waID, "text", `{"body":"it is me, with my number","user_id":"`+bsuid+`"}`)
	if rep := g.call(caller, ivr.CallOptions{Press: "1"}); rep.Result != "deflected" {
		t.Fatalf("call result %q", rep.Result)
	}
	var conv struct {
		Queue    string `json:"queue"`
		Messages []struct {
			Direction, Type, Text string
		} `json:"messages"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := g.get("/api/v1/conversations/" + bsuid)
		seeded := false
		if code == 200 && json.Unmarshal([]byte(body), &conv) == nil && conv.Queue != "" {
			for _, m := range conv.Messages {
				seeded = seeded || m.Direction == "out" && m.Type == "template"
			}
		}
		if seeded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deflection did not join conversation %s: %d %s", bsuid, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := g.get("/api/v1/conversations/" + waID); code != 404 {
		t.Fatalf("a second conversation for the number: %d %s", code, body)
	}
}
