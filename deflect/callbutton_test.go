package deflect

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/ivr/voice"
)

// TestCallPayload: a payload resolves to its session's context for that customer only, and
// not once altered, re-signed with another key, or expired.
func TestCallPayload(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	h := newHarness(t, func(c *configs.Config, o *Options) {
		c.WhatsApp.AppSecret = "payload-test-app-secret"
		o.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	dec, err := h.svc.Decide(ctx, call("+966501234567"))
	if err != nil || !dec.Offer {
		t.Fatalf("decide: %+v %v", dec, err)
	}
	p := h.svc.CallPayload(dec.SessionID)
	if len(p) > 512 || !strings.HasPrefix(p, "d1."+dec.SessionID+".") {
		t.Fatalf("payload %q", p)
	}
	other, err := New(Options{Config: func() configs.Config {
		c := configs.Default()
		c.WhatsApp.AppSecret = "another-app-secret-value"
		return c
	}(), Store: h.mem, Sender: h.sender, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(p, dec.SessionID, NewSessionID(), 1)
	if _, err := h.mem.UpdateSession(ctx, dec.SessionID, func(s *store.Session) error { s.Outcome = OutcomeDeflected; return nil }); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		payload string
		waID    string
		after   time.Duration
		want    error
	}{
		{name: "good", payload: p, waID: "966501234567"},
		{name: "good, customer unknown", payload: p},
		{name: "another customer", payload: p, waID: "966509999999", want: ErrPayloadInvalid},
		{name: "session swapped", payload: tampered, waID: "966501234567", want: ErrPayloadInvalid},
		{name: "signed with another key", payload: other.CallPayload(dec.SessionID), waID: "966501234567", want: ErrPayloadInvalid},
		{name: "expired", payload: p, waID: "966501234567", after: 25 * time.Hour, want: ErrPayloadExpired},
		{name: "not ours", payload: "order-4471", want: ErrPayloadInvalid},
		{name: "no payload: the caller's latest deflection", waID: "966501234567"},
		{name: "no payload, deflected too long ago", waID: "966501234567", after: 25 * time.Hour, want: ErrNoDeflection},
		{name: "no payload, never deflected", waID: "966509999999", want: ErrNoDeflection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.svc.now = func() time.Time { return now.Add(tc.after) }
			cc, err := h.svc.ResolveCall(ctx, tc.payload, tc.waID)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := voice.CallContext{SessionID: dec.SessionID, WAID: "966501234567", Queue: "billing", CustomerID: "C-42", Language: "ar"}
			if cc.SessionID != want.SessionID || cc.WAID != want.WAID || cc.Queue != want.Queue || cc.CustomerID != want.CustomerID ||
				cc.Language != want.Language || cc.Context["Account"] != "ACC-7" {
				t.Errorf("context %+v, want %+v with Account ACC-7", cc, want)
			}
		})
	}
}

func TestCallSummary(t *testing.T) {
	tests := []struct {
		rec  voice.CallRecord
		want string
	}{
		{voice.CallRecord{Result: voice.ResultAnswered, Talk: 192 * time.Second, Queue: "billing"}, "Called on WhatsApp, 3 min 12 s, answered by queue billing"},
		{voice.CallRecord{Result: voice.ResultAnswered, Talk: 5 * time.Second}, "Called on WhatsApp, 0 min 5 s, answered by the contact centre"},
		{voice.CallRecord{Result: voice.ResultBusy, Queue: "billing"}, "Called on WhatsApp, not answered (busy)"},
		{voice.CallRecord{Result: voice.ResultCancelled}, "Called on WhatsApp, hung up before an answer"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := callSummary(tc.rec); got != tc.want {
				t.Errorf("got %q", got)
			}
		})
	}
}
