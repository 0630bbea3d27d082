package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/ivr"
)

// TestE2ETemplateStateStopsOffers: Meta pausing the deflection template in Arabic (a signed
// message_template_status_update webhook, played by the sandbox) makes the next Arabic caller
// ineligible before the answer (480 template-unavailable) while English callers are offered;
// APPROVED restores offers; a move out of UTILITY (template_category_update) stops them again.
func TestE2ETemplateStateStopsOffers(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	change := func(path, body string) {
		t.Helper()
		res, err := http.Post(g.base+"/sandbox/graph/_sandbox/templates/call_deflection/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("sandbox template change %s: %d", path, res.StatusCode)
		}
	}
	n := 0
	caller := func(lang string) ivr.CallReport {
		n++
		return g.call(fmt.Sprintf("+9665012306%02d", n), ivr.CallOptions{Press: "1",
			Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Language: " + lang}})
	}
	// until waits for the webhook to be consumed: Arabic callers get want.
	until := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			rep := caller("ar")
			if rep.Result == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("an Arabic caller got %q, want %q", rep.Result, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	wantResult(t, caller("ar"), "deflected")
	change("ar/status", `{"event":"PAUSED","reason":"LOW_QUALITY"}`)
	until("ineligible;reason=template-unavailable")
	wantResult(t, caller("en"), "deflected") // English is untouched
	if code, body := g.get("/readyz"); code != 200 || !strings.Contains(body, "template call_deflection/ar: PAUSED") {
		t.Errorf("readyz = %d %q: want ready, naming the paused template", code, body)
	}
	change("ar/status", `{"event":"APPROVED"}`)
	until("deflected")
	change("ar/category", `{"category":"MARKETING"}`)
	until("ineligible;reason=template-unavailable")
	if got := g.counter("deflectd_whatsapp_template_updates_total", map[string]string{"state": "unusable"}); got != 2 {
		t.Errorf("template_updates_total{unusable} = %v, want 2", got)
	}
}

// TestE2EMessagingLimitStopsOffers: Meta lowering the number's messaging limit (a
// phone_number_quality_update webhook) stops offers before the limit is reached (5 % margin),
// and a FLAGGED number shows in the quality gauge.
func TestE2EMessagingLimitStopsOffers(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	res, err := http.Post(g.base+"/sandbox/graph/_sandbox/number/quality", "application/json",
		strings.NewReader(`{"event":"FLAGGED","current_limit":"TIER_2"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("sandbox quality change: %d", res.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.counter("deflectd_whatsapp_messaging_limit", nil) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("messaging limit never reached the gateway")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := g.counter("deflectd_whatsapp_quality_flagged", nil); got != 1 {
		t.Errorf("quality_flagged = %v, want 1", got)
	}
	// A limit of 2 with the 5 % margin: two deflections, then the next caller is not offered.
	wantResult(t, g.call("+966501230701", ivr.CallOptions{Press: "1"}), "deflected")
	wantResult(t, g.call("+966501230702", ivr.CallOptions{Press: "1"}), "deflected")
	if rep := g.call("+966501230703", ivr.CallOptions{Press: "1"}); rep.Result != "ineligible;reason=messaging-limit" {
		t.Errorf("third caller: %q, want ineligible;reason=messaging-limit", rep.Result)
	}
}
