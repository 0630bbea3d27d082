package deflect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup"
)

// TestPresenceOfferOutcomes: deflectd_presence_offer_outcomes_total scores presence's answer at
// Decide time against the message's delivery outcome, once per session however many statuses
// (and instances) report it.
func TestPresenceOfferOutcomes(t *testing.T) {
	const number = "+966501234567"
	type counts map[[2]string]float64 // {prior, result} → value; absent pairs must stay 0
	tests := []struct {
		name    string
		prior   lookup.Status
		arrange func(*harness)
		after   []StatusUpdate // webhooks after the call (MessageID filled in)
		want    counts
		prior2  string // the session's PresencePrior
	}{
		{
			name: "known yes, delivered then read and a retried webhook", prior: lookup.Yes,
			after:  []StatusUpdate{{Status: StatusSent}, {Status: StatusDelivered}, {Status: StatusRead}, {Status: StatusDelivered}},
			want:   counts{{"yes", "delivered"}: 1},
			prior2: "yes",
		},
		{
			name: "unknown, read without delivered", prior: lookup.Unknown,
			after:  []StatusUpdate{{Status: StatusRead}},
			want:   counts{{"unknown", "delivered"}: 1},
			prior2: "unknown",
		},
		{
			name: "unknown, failed 131026 after the call", prior: lookup.Unknown,
			after:  []StatusUpdate{{Status: StatusFailed, ErrorCode: 131026}, {Status: StatusFailed, ErrorCode: 131026}},
			want:   counts{{"unknown", "failed"}: 1},
			prior2: "unknown",
		},
		{
			name: "known yes, delivered and later failed: the first outcome stands", prior: lookup.Yes,
			after:  []StatusUpdate{{Status: StatusDelivered}, {Status: StatusFailed, ErrorCode: 131026}},
			want:   counts{{"yes", "delivered"}: 1},
			prior2: "yes",
		},
		{
			name: "failed for another reason says nothing about presence", prior: lookup.Unknown,
			after:  []StatusUpdate{{Status: StatusFailed, ErrorCode: 131047}, {Status: StatusDelivered}},
			want:   counts{},
			prior2: "unknown",
		},
		{
			name: "only sent: outcome not known", prior: lookup.Yes,
			after:  []StatusUpdate{{Status: StatusSent}},
			want:   counts{},
			prior2: "yes",
		},
		{
			name: "send rejected as not on WhatsApp", prior: lookup.Unknown,
			arrange: func(h *harness) {
				h.sender.send = func(context.Context, Template, string) (Sent, error) {
					return Sent{}, &SendError{Reason: ReasonNotOnWhatsApp, Recipient: true, Err: errors.New("131026")}
				}
			},
			want:   counts{{"unknown", "failed"}: 1},
			prior2: "unknown",
		},
		{
			name: "send failed with the API down: no outcome", prior: lookup.Yes,
			arrange: func(h *harness) {
				h.sender.send = func(context.Context, Template, string) (Sent, error) {
					return Sent{}, &SendError{Reason: "api-error", Err: errors.New("500")}
				}
			},
			want:   counts{},
			prior2: "yes",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(c *configs.Config, o *Options) {
				c.Deflect.ConfirmTimeout = 100 * time.Millisecond // no status in time: treated as sent
				o.Presence = staticPresence{number: tt.prior}
			})
			if tt.arrange != nil {
				tt.arrange(h)
			}
			ctx := context.Background()
			d, err := h.svc.Decide(ctx, call(number))
			if err != nil || !d.Offer {
				t.Fatalf("Decide = %+v, %v", d, err)
			}
			h.svc.Accept(ctx, d.SessionID)
			id := h.session(t, d.SessionID).WAMessageID
			for _, u := range tt.after {
				u.MessageID, u.RecipientID = id, strings.TrimPrefix(number, "+")
				if err := h.svc.OnStatus(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if p := h.session(t, d.SessionID).PresencePrior; p != tt.prior2 {
				t.Errorf("session presence_prior = %q, want %q", p, tt.prior2)
			}
			for _, prior := range []string{"yes", "unknown"} {
				for _, result := range []string{"delivered", "failed"} {
					got := testutil.ToFloat64(h.svc.m.offerOutcomes.WithLabelValues(prior, result))
					if want := tt.want[[2]string{prior, result}]; got != want {
						t.Errorf("offer_outcomes{prior=%s,result=%s} = %v, want %v", prior, result, got, want)
					}
				}
			}
		})
	}
}

// The status reaches both the waiting call (Accept records it) and the webhook handler (OnStatus
// records it), in either order: the outcome is counted once.
func TestPresenceOfferOutcomeCountedOnceWhileWaiting(t *testing.T) {
	for _, status := range []string{StatusDelivered, StatusFailed} {
		t.Run(status, func(t *testing.T) {
			h := newHarness(t, nil)
			h.deliverAfter(20*time.Millisecond, status, 131026)
			ctx := context.Background()
			d, _ := h.svc.Decide(ctx, call("+966501234567"))
			h.svc.Accept(ctx, d.SessionID)
			result := map[string]string{StatusDelivered: "delivered", StatusFailed: "failed"}[status]
			c := h.svc.m.offerOutcomes.WithLabelValues("unknown", result)
			deadline := time.Now().Add(2 * time.Second)
			for testutil.ToFloat64(c) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond) // room for a second, wrong, count
			if n := testutil.ToFloat64(c); n != 1 {
				t.Errorf("offer_outcomes{unknown,%s} = %v, want 1", result, n)
			}
			if n, err := testutil.GatherAndCount(h.reg, "deflectd_presence_offer_outcomes_total"); err != nil || n != 4 {
				t.Errorf("registered series = %d, %v; want 4 (yes|unknown × delivered|failed)", n, err)
			}
		})
	}
}
