package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2EAccountRestrictionStopsOffers: Meta restricting the business account's
// business-initiated messaging (a signed account_update webhook, played by the sandbox) makes
// the next caller ineligible before the answer (480 account-restricted), shows on /readyz and in
// deflectd_whatsapp_account_restricted; REINSTATE restores offers. The number's quality rating,
// read from the sandbox's GET /{phone_number_id} every sync interval, is the quality gauge.
func TestE2EAccountRestrictionStopsOffers(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) { c.WhatsApp.TemplateSyncInterval = 200 * time.Millisecond })
	control := func(path, body string) {
		t.Helper()
		res, err := http.Post(g.base+"/sandbox/graph/_sandbox/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("sandbox %s: %d", path, res.StatusCode)
		}
	}
	n := 0
	until := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			n++
			rep := g.call(fmt.Sprintf("+9665012307%02d", n), ivr.CallOptions{Press: "1",
				Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300"}})
			if rep.Result == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("a caller got %q, want %q", rep.Result, want)
			}
		}
	}
	gauge := func(name string, labels map[string]string, want float64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); g.counter(name, labels) != want; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s%v = %v, want %v", name, labels, g.counter(name, labels), want)
			}
		}
	}

	gauge("deflectd_whatsapp_quality", map[string]string{"rating": "GREEN"}, 1)
	control("number/quality", `{"quality_rating":"YELLOW"}`)
	gauge("deflectd_whatsapp_quality", map[string]string{"rating": "YELLOW"}, 1)
	gauge("deflectd_whatsapp_quality", map[string]string{"rating": "GREEN"}, 0)

	until("deflected")
	expires := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05-0700")
	control("account", `{"event":"ACCOUNT_RESTRICTION","restriction_type":"RESTRICTED_BIZ_INITIATED_MESSAGING","expiration":"`+expires+`"}`)
	until("ineligible;reason=account-restricted")
	gauge("deflectd_whatsapp_account_restricted", nil, 1)
	if code, body := g.get("/readyz"); code != 200 || !strings.Contains(body, "business-initiated messaging is restricted until") {
		t.Errorf("readyz = %d %q: want ready, naming the restriction", code, body)
	}
	control("account", `{"event":"DISABLED_UPDATE","ban_state":"REINSTATE"}`)
	until("deflected")
	gauge("deflectd_whatsapp_account_restricted", nil, 0)
	if got := g.counter("deflectd_deflect_decisions_total", map[string]string{"result": "ineligible", "reason": "account-restricted"}); got != 1 {
		t.Errorf("decisions_total{ineligible,account-restricted} = %v, want 1", got)
	}
}
