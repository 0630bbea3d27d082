package deflect

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deflectd/deflectd/configs"
)

// TestGraphBreakerStateMetric: deflectd_breaker_state{breaker="graph_api"} follows the breaker
// around the Graph API sender (0 closed, 2 open).
func TestGraphBreakerStateMetric(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.Cooldown = 0; c.Deflect.MaxOffersPerDay = 0 })
	state := func(v string) string {
		return `
# HELP deflectd_breaker_state Circuit breaker state by breaker: 0 closed, 1 half-open, 2 open.
# TYPE deflectd_breaker_state gauge
deflectd_breaker_state{breaker="graph_api"} ` + v + "\n"
	}
	check := func(want string) {
		t.Helper()
		if err := testutil.GatherAndCompare(h.reg, strings.NewReader(want), "deflectd_breaker_state"); err != nil {
			t.Error(err)
		}
	}
	check(state("0")) // closed from the start, before any change
	h.sender.send = func(context.Context, Template, string) (Sent, error) {
		return Sent{}, &SendError{Reason: "api-error", Err: errors.New("500")}
	}
	ctx := context.Background()
	for range 5 {
		d, err := h.svc.Decide(ctx, call("+966501234567"))
		if err != nil || !d.Offer {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		h.svc.Accept(ctx, d.SessionID)
	}
	if h.svc.WhatsAppAvailable() {
		t.Fatal("breaker did not open")
	}
	check(state("2")) // open
}
