package deflect

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

// countingPresence counts lookups by number.
type countingPresence struct {
	mu  sync.Mutex
	got map[string]int
}

func (p *countingPresence) Status(_ context.Context, e164 string) (lookup.Answer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got[e164]++
	return lookup.Answer{Status: lookup.Yes, Source: "test"}, nil
}

// TestPresenceOnlyForEligibleCallers: presence is asked only when the other facts leave the
// caller eligible: an opted-out caller and one in cooldown cost no lookup (an external checker
// may be paid per query), an eligible one does.
func TestPresenceOnlyForEligibleCallers(t *testing.T) {
	t.Parallel()
	p := &countingPresence{got: map[string]int{}}
	h := newHarness(t, func(_ *configs.Config, o *Options) { o.Presence = p })
	ctx := context.Background()
	const optedOut, fresh = "+966501239001", "+966501239002"
	if err := h.mem.SetOpt(ctx, store.OptRecord{E164: optedOut, OptOut: true, Source: "test", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, number string
		wantOffer    bool
		wantReason   string
		wantLookups  int
	}{
		{"opted out", optedOut, false, ReasonOptedOut, 0},
		{"eligible", fresh, true, "", 1},
		{"cooldown after the offer", fresh, false, ReasonCooldown, 1}, // still the one lookup
	}
	for _, tc := range tests {
		d, err := h.svc.Decide(ctx, call(tc.number))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if d.Offer != tc.wantOffer || d.Reason != tc.wantReason {
			t.Errorf("%s: decision %+v, want offer %v reason %q", tc.name, d, tc.wantOffer, tc.wantReason)
		}
		p.mu.Lock()
		n := p.got[tc.number]
		p.mu.Unlock()
		if n != tc.wantLookups {
			t.Errorf("%s: %d presence lookups, want %d", tc.name, n, tc.wantLookups)
		}
	}
}
