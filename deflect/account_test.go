package deflect

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/whatsapp"
)

func TestTierLimit(t *testing.T) {
	for tier, want := range map[string]int{"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000,
		"TIER_10K": 10000, "TIER_100K": 100000, "TIER_UNLIMITED": 0, "tier_1k": 1000, "": 0, "TIER_?": 0} {
		if got := tierLimit(tier); got != want {
			t.Errorf("tierLimit(%q) = %d, want %d", tier, got, want)
		}
	}
}

// TestAccountRestricted: each account_update in turn, and whether the next caller is offered.
// A restriction of business-initiated messaging lasts until its expiration; a ban until
// REINSTATE; a scheduled ban only shows on readyz; another restriction type changes nothing.
func TestAccountRestricted(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, func(_ *configs.Config, o *Options) { o.Now = clock })
	ctx := t.Context()
	in := func(d time.Duration) time.Time { return clock().Add(d) }
	steps := []struct {
		name     string
		update   whatsapp.AccountUpdate
		advance  time.Duration // the clock moves this much after the update
		reason   string        // the next caller's; "" = offered
		degraded string        // in readyz's lines; "" = none
	}{
		{"biz-initiated restricted", whatsapp.AccountUpdate{Event: "ACCOUNT_RESTRICTION",
			Restrictions: []whatsapp.Restriction{{Type: "RESTRICTED_BIZ_INITIATED_MESSAGING", Expiration: in(time.Hour)}}},
			0, ReasonAccountRestricted, "business-initiated messaging is restricted until 2026-12-04T11:00:00Z"},
		{"restriction expired", whatsapp.AccountUpdate{Event: "ACCOUNT_VIOLATION", Violation: "SCAM"},
			time.Hour, "", ""},
		{"other restriction only", whatsapp.AccountUpdate{Event: "ACCOUNT_RESTRICTION",
			Restrictions: []whatsapp.Restriction{{Type: "RESTRICTED_ADD_PHONE_NUMBER_ACTION"}}}, 0, "", ""},
		{"ban scheduled", whatsapp.AccountUpdate{Event: "DISABLED_UPDATE", BanState: "SCHEDULE_FOR_DISABLE", BanDate: "December 9, 2026"},
			0, "", "scheduled the WhatsApp Business Account to be disabled December 9, 2026"},
		{"disabled", whatsapp.AccountUpdate{Event: "DISABLED_UPDATE", BanState: "DISABLE", BanDate: "December 9, 2026"},
			0, ReasonAccountRestricted, "disabled December 9, 2026: callers are not offered (account-restricted)"},
		{"reinstated", whatsapp.AccountUpdate{Event: "DISABLED_UPDATE", BanState: "REINSTATE"}, 0, "", ""},
		{"deleted", whatsapp.AccountUpdate{Event: "ACCOUNT_DELETED"}, 0, ReasonAccountRestricted, "was deleted"},
	}
	for i, st := range steps {
		u := st.update
		u.Field = "account_update"
		if err := h.svc.OnAccount(ctx, &u); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		mu.Lock()
		now = now.Add(st.advance)
		mu.Unlock()
		d, err := h.svc.Decide(context.Background(), call("+96650123450"+string(rune('0'+i))))
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if d.Offer != (st.reason == "") || d.Reason != st.reason {
			t.Errorf("%s: offer %v reason %q, want reason %q", st.name, d.Offer, d.Reason, st.reason)
		}
		// The eligibility API answers the same (another number: the call above was offered).
		n, err := lookup.Normalize("+96650123460"+string(rune('0'+i)), "SA")
		if err != nil {
			t.Fatal(err)
		}
		if e, err := h.svc.Check(ctx, n, "billing", 300); err != nil || e.Reason != st.reason {
			t.Errorf("%s: eligibility %+v (%v), want reason %q", st.name, e, err, st.reason)
		}
		gauge := testutil.ToFloat64(h.svc.m.accountRestricted)
		if want := map[bool]float64{true: 1}[st.reason != ""]; gauge != want {
			t.Errorf("%s: deflectd_whatsapp_account_restricted %v, want %v", st.name, gauge, want)
		}
		lines := strings.Join(h.svc.Degraded(ctx), "\n")
		if (st.degraded == "") != (lines == "") || !strings.Contains(lines, st.degraded) {
			t.Errorf("%s: readyz details %q, want %q", st.name, lines, st.degraded)
		}
	}
}

// TestNumberHealth: the quality rating read from Meta is 1 on its series and 0 on the others
// (UNKNOWN before any is read, and for Meta's NA), and its tier sets the messaging limit.
func TestNumberHealth(t *testing.T) {
	h := newHarness(t, nil)
	quality := func() map[string]float64 {
		out := map[string]float64{}
		for _, r := range QualityRatings {
			out[r] = testutil.ToFloat64(h.svc.m.quality.WithLabelValues(r))
		}
		return out
	}
	if q := quality(); q["UNKNOWN"] != 1 || q["GREEN"]+q["YELLOW"]+q["RED"] != 0 {
		t.Errorf("at start %v, want only UNKNOWN", q)
	}
	for _, tt := range []struct{ rating, tier, want string }{{"GREEN", "TIER_1K", "GREEN"}, {"red", "", "RED"}, {"NA", "TIER_250", "UNKNOWN"}} {
		if err := h.svc.RecordNumberHealth(t.Context(), tt.rating, tt.tier, time.Now()); err != nil {
			t.Fatal(err)
		}
		if q := quality(); q[tt.want] != 1 || q["GREEN"]+q["YELLOW"]+q["RED"]+q["UNKNOWN"] != 1 {
			t.Errorf("after %s: %v, want only %s", tt.rating, q, tt.want)
		}
	}
	st := h.svc.accountState(t.Context())
	if st == nil || st.Tier != "TIER_250" || st.Limit != 250 || st.Quality != "UNKNOWN" {
		t.Errorf("stored %+v, want TIER_250, limit 250, UNKNOWN", st)
	}
	if got := testutil.ToFloat64(h.svc.m.messagingLimit); got != 250 {
		t.Errorf("deflectd_whatsapp_messaging_limit %v, want 250", got)
	}

	// A read started before a quality webhook but recorded after it keeps the webhook's tier;
	// a read started after it wins.
	readStarted := time.Now()
	time.Sleep(2 * time.Millisecond)
	if err := h.svc.OnAccount(t.Context(), &whatsapp.AccountUpdate{Field: "phone_number_quality_update", Event: "DOWNGRADE", CurrentLimit: "TIER_50"}); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.RecordNumberHealth(t.Context(), "GREEN", "TIER_UNLIMITED", readStarted); err != nil {
		t.Fatal(err)
	}
	if st := h.svc.accountState(t.Context()); st.Tier != "TIER_50" || st.Quality != "GREEN" {
		t.Errorf("a read older than the webhook: %+v, want the webhook's TIER_50 kept (and the read's rating)", st)
	}
	if err := h.svc.RecordNumberHealth(t.Context(), "GREEN", "TIER_UNLIMITED", time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := h.svc.accountState(t.Context()); st.Tier != "TIER_UNLIMITED" {
		t.Errorf("a newer read: %+v, want TIER_UNLIMITED", st)
	}
}
