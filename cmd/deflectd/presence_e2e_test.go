package main

// End-to-end tests of the external presence checker (lookup.presence.http) in front of real SIP
// calls: a CRM-style service answering {"whatsapp": true|false} or 404 decides whether the
// caller is offered, and a checker that hangs never holds the INVITE past the presence budget.

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
)

const checkerToken = "crm-checker-token"

// crmChecker is an httptest CRM: numbers in answers get {"whatsapp": answer}, others 404. It
// records the numbers asked and rejects requests without the bearer token.
type crmChecker struct {
	*httptest.Server
	answers map[string]bool
	mu      sync.Mutex
	asked   []string
}

func newCRMChecker(t *testing.T, answers map[string]bool) *crmChecker {
	t.Helper()
	c := &crmChecker{answers: answers}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+checkerToken {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		n := r.URL.Query().Get("number")
		c.mu.Lock()
		c.asked = append(c.asked, n)
		c.mu.Unlock()
		yes, ok := c.answers[n]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]bool{"whatsapp": yes})
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *crmChecker) askedFor(n string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, a := range c.asked {
		if a == n {
			k++
		}
	}
	return k
}

func useChecker(url string) func(*configs.Config) {
	return func(c *configs.Config) {
		c.Lookup.Presence.HTTP.URL = url
		c.Lookup.Presence.HTTP.Token = checkerToken
	}
}

// presenceSource waits until the presence API reports number with the given status and returns
// its source (checker answers are cached off the call path).
func (g *testGateway) presenceSource(number, status string) string {
	g.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, body := g.get("/api/v1/presence/" + number)
		var p struct{ Status, Source string }
		if code == 200 && json.Unmarshal([]byte(body), &p) == nil && p.Status == status {
			return p.Source
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("presence %s: %d %s, want status %s", number, code, body, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestE2EPresenceChecker(t *testing.T) {
	t.Parallel()
	const (
		notOn = "+966501230001" // the CRM says: not on WhatsApp
		on    = "+966501230002" // the CRM says: on WhatsApp
	)
	crm := newCRMChecker(t, map[string]bool{notOn: false, on: true})
	g := startGateway(t, useChecker(crm.URL))

	t.Run("not on whatsapp gets 480", func(t *testing.T) {
		rep := g.call(notOn, ivr.CallOptions{Press: "1"})
		if rep.FinalStatus != 480 || rep.Answered {
			t.Fatalf("final status %d (answered %v), want 480", rep.FinalStatus, rep.Answered)
		}
		wantResult(t, rep, "ineligible;reason=not-on-whatsapp")
		if s := g.session(notOn); s.Outcome != "ineligible:not-on-whatsapp" {
			t.Errorf("outcome = %q", s.Outcome)
		}
		if n := crm.askedFor(notOn); n != 1 {
			t.Errorf("checker asked %d times for the caller, want 1", n)
		}
		if src := g.presenceSource(notOn, "no"); src != "http-checker" {
			t.Errorf("cached answer source = %q, want http-checker", src)
		}
		if n := len(g.sandbox.Sent(notOn)); n != 0 {
			t.Errorf("sandbox received %d messages for an ineligible caller", n)
		}
	})
	t.Run("on whatsapp is offered and deflected", func(t *testing.T) {
		rep := g.call(on, ivr.CallOptions{Press: "1"})
		if rep.FinalStatus != 200 || !rep.Answered {
			t.Fatalf("final status %d (answered %v), want 200", rep.FinalStatus, rep.Answered)
		}
		wantResult(t, rep, "deflected")
		if s := g.session(on); s.Outcome != "deflected" {
			t.Errorf("outcome = %q", s.Outcome)
		}
		if n := len(g.sandbox.Sent(on)); n != 1 {
			t.Errorf("sandbox received %d messages, want the template", n)
		}
	})
	t.Run("cached answer spares the checker", func(t *testing.T) {
		// The second call from the "no" number is answered from the store's cached fact.
		rep := g.call(notOn, ivr.CallOptions{Press: "1"})
		wantResult(t, rep, "ineligible;reason=not-on-whatsapp")
		if n := crm.askedFor(notOn); n != 1 {
			t.Errorf("checker asked %d times, want 1 (the cached answer serves the second call)", n)
		}
	})
	if n := g.counter("deflectd_deflect_decisions_total", map[string]string{"result": "ineligible", "reason": "not-on-whatsapp"}); n != 2 {
		t.Errorf("decisions{not-on-whatsapp} = %v, want 2", n)
	}
}

func TestE2EPresenceCheckerUnknownSkip(t *testing.T) {
	t.Parallel()
	const unknown = "+966501230003" // the CRM has no record: 404
	crm := newCRMChecker(t, map[string]bool{})
	g := startGateway(t, func(c *configs.Config) {
		useChecker(crm.URL)(c)
		c.Deflect.UnknownPresence = "skip"
	})
	rep := g.call(unknown, ivr.CallOptions{Press: "1"})
	if rep.FinalStatus != 480 || rep.Answered {
		t.Fatalf("final status %d (answered %v), want 480", rep.FinalStatus, rep.Answered)
	}
	wantResult(t, rep, "ineligible;reason=presence-unknown")
	// The same caller again: the 404 is remembered (lookup.presence.http.not_found_ttl).
	rep = g.call(unknown, ivr.CallOptions{Press: "1"})
	wantResult(t, rep, "ineligible;reason=presence-unknown")
	if n := crm.askedFor(unknown); n != 1 {
		t.Errorf("checker asked %d times for two calls, want 1", n)
	}
	if s := g.session(unknown); s.Outcome != "ineligible:presence-unknown" {
		t.Errorf("outcome = %q", s.Outcome)
	}
}

func TestE2EPresenceCheckerHangs(t *testing.T) {
	t.Parallel()
	const budget = 300 * time.Millisecond
	// The checker never answers (until the test ends); its own timeout is far beyond the budget,
	// so only lookup.presence.budget can bound the INVITE.
	release := make(chan struct{})
	var mu sync.Mutex
	hung := 0
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hung++
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })

	tests := []struct {
		name, caller, unknownPresence string
		wantStatus                    int
		wantResult                    string
	}{
		{"unknown offered", "+966501230004", "offer", 200, "declined"},
		{"unknown skipped", "+966501230005", "skip", 480, "ineligible;reason=presence-unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := startGateway(t, func(c *configs.Config) {
				useChecker(hang.URL)(c)
				c.Lookup.Presence.Budget = budget
				c.Lookup.Presence.HTTP.Timeout = 10 * time.Second
				c.Deflect.UnknownPresence = tt.unknownPresence
			})
			rep := g.call(tt.caller, ivr.CallOptions{Press: "2"})
			if rep.FinalStatus != tt.wantStatus {
				t.Fatalf("final status %d, want %d (responses %v)", rep.FinalStatus, tt.wantStatus, rep.Responses)
			}
			wantResult(t, rep, tt.wantResult)
			// Budget plus a margin for the rest of call setup (store, SIP) under -race on 2 cores.
			if limit := budget + 700*time.Millisecond; rep.InviteAfter > limit {
				t.Errorf("INVITE answered after %v, want within %v", rep.InviteAfter, limit)
			}
			if rep.InviteAfter < budget {
				t.Errorf("INVITE answered after %v, before the budget ran out: was the checker asked?", rep.InviteAfter)
			}
			if n := g.counter("deflectd_presence_lookups_total", map[string]string{"result": "unknown"}); n < 1 {
				t.Errorf("presence lookups{unknown} = %v", n)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if hung != len(tests) {
		t.Errorf("checker asked %d times, want %d", hung, len(tests))
	}
}
