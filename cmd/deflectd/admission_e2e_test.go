package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2ENeverOfferWhatCannotBeSent: callers arrive at twice the number's send rate for longer
// than the confirmation window, and all press 1. Every caller who is offered is deflected; the
// excess is refused before the answer with whatsapp-busy; none is told the send failed.
func TestE2ENeverOfferWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	const (
		throughput = 5.0 // messages per second
		calls      = 60  // at 10 per second: 2x the send rate for 6 s, twice the 3 s window
		gap        = 100 * time.Millisecond
	)
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.Throughput = throughput
		c.Deflect.OnNoStatus = "failed"
	})
	var (
		mu      sync.Mutex
		results = map[string]int{}
		wg      sync.WaitGroup
	)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := ivr.Dial(context.Background(), ivr.CallOptions{
				Target: "sip:queue@" + g.sip.Addr("udp").String(), From: fmt.Sprintf("+96650400%04d", i), Press: "1",
				PressAfter: 300 * time.Millisecond, Timeout: 30 * time.Second,
				Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300"},
			})
			r := rep.Result
			if err != nil {
				r = "error: " + err.Error()
			}
			mu.Lock()
			results[r]++
			mu.Unlock()
		}()
		time.Sleep(gap)
	}
	wg.Wait()
	t.Logf("results: %v", results)
	deflected, busy := results["deflected"], results["ineligible;reason=whatsapp-busy"]
	if deflected+busy != calls {
		t.Errorf("results %v: want only deflected and ineligible;reason=whatsapp-busy", results)
	}
	// The bucket admits its burst (5) and 5 per second over the 6 s of arrivals: about 35.
	if deflected < 25 || busy < 10 {
		t.Errorf("deflected %d, busy %d: want most offered at the send rate and the excess refused", deflected, busy)
	}
	for r := range results {
		if strings.Contains(r, "rate-limited") {
			t.Errorf("a caller was offered and then told the send failed: %s", r)
		}
	}
}
