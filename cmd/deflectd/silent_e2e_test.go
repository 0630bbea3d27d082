package main

import (
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/ivr/media"
)

// silentBudget is the promise to a caller who presses nothing: back in the queue within 20 s of
// the answer, in every shipped language.
const silentBudget = 20 * time.Second

// TestSilentCallerBudgetPerLanguage computes, from the default timers and the embedded prompts,
// how long a silent caller stays: every play of the offer and its digit wait, then the return
// prompt. It fails when a prompt or a default grows past the budget.
func TestSilentCallerBudgetPerLanguage(t *testing.T) {
	cfg := configs.Default()
	p, err := media.LoadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	langs := p.Languages()
	if len(langs) < 3 {
		t.Fatalf("embedded languages = %v, want at least three", langs)
	}
	for _, lang := range langs {
		offer := p.Duration(lang, media.PromptOffer)
		back := p.Duration(lang, media.PromptReturnQueue)
		total := time.Duration(cfg.IVR.OfferRepeats)*(offer+cfg.IVR.FirstDigitTimeout) + back
		t.Logf("%s: offer %v, return %v, silent caller %v", lang, offer, back, total)
		if offer > 8*time.Second {
			t.Errorf("%s offer lasts %v, want ≤ 8 s", lang, offer)
		}
		if total > silentBudget {
			t.Errorf("%s: a silent caller stays %v after the answer, want ≤ %v", lang, total, silentBudget)
		}
	}
}

// TestE2ESilentCallerBackInQueue calls the gateway on its default prompts and timers in each
// shipped language and presses nothing: the gateway ends the call with "timeout" within the
// budget (a generous bound on a real call, measured from the answer to the gateway's BYE).
func TestE2ESilentCallerBackInQueue(t *testing.T) {
	t.Parallel()
	def := configs.Default()
	g := startGateway(t, func(c *configs.Config) {
		c.IVR.PromptsDir = "" // the embedded prompts
		c.IVR.FirstDigitTimeout = def.IVR.FirstDigitTimeout
		c.IVR.OfferRepeats = def.IVR.OfferRepeats
	})
	tests := []struct{ lang, caller string }{
		{"ar", "+966501234581"},
		{"en", "+966501234582"},
		{"fr", "+33612345678"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			t.Parallel()
			rep := g.call(tt.caller, ivr.CallOptions{
				Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Language: " + tt.lang},
				Timeout: 40 * time.Second,
			})
			wantResult(t, rep, "timeout")
			inCall := rep.Duration - rep.InviteAfter
			t.Logf("%s: answer to BYE %v", tt.lang, inCall)
			if rep.EndedBy != "gateway" || inCall > silentBudget {
				t.Errorf("%s: ended by %q %v after the answer, want the gateway within %v", tt.lang, rep.EndedBy, inCall, silentBudget)
			}
		})
	}
}

// TestE2EStartLineNamesOnlyConfiguredListeners: with a UDP listener only, the start line names
// it and says nothing of TCP (it printed sip_tcp="invalid AddrPort").
func TestE2EStartLineNamesOnlyConfiguredListeners(t *testing.T) {
	t.Parallel()
	var logs testkit.Buffer
	startGatewayLogging(t, func(c *configs.Config) { c.SIP.Listen = []string{"udp://127.0.0.1:0"} }, &logs)
	var line string
	for deadline := time.Now().Add(3 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"msg":"deflectd serving"`) {
				line = l
			}
		}
	}
	if line == "" || !strings.Contains(line, `"sip_udp":"127.0.0.1:`) || strings.Contains(line, "sip_tcp") || strings.Contains(line, "invalid") {
		t.Errorf("start line = %s", line)
	}
}
