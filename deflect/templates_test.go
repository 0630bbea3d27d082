package deflect

import (
	"strings"
	"testing"
)

// TestRecordTemplateStates: a sync's states are stored and reported once when they change;
// readyz names a deflection template that stops offers, and a notification template only when
// Meta would refuse its sends (not for its category alone).
func TestRecordTemplateStates(t *testing.T) {
	h := newHarness(t, nil)
	ctx := t.Context()
	states := []TemplateState{
		{Name: "call_deflection", Language: "ar", Status: "approved", Category: "utility"},
		{Name: "call_deflection", Language: "fr", Status: "MISSING", Reason: "not in Meta's template list"},
		{Name: "licence_renewal", Language: "en", Status: "APPROVED", Category: "MARKETING"},
		{Name: "licence_renewal", Language: "ar", Status: "REJECTED", Category: "UTILITY", Reason: "SCAM"},
	}
	changed, err := h.svc.RecordTemplateStates(ctx, states)
	if err != nil || len(changed) != 4 || changed[0].Status != "APPROVED" || changed[0].Category != "UTILITY" {
		t.Fatalf("first sync changed %+v, %v; want all four, upper-cased", changed, err)
	}
	if changed, err := h.svc.RecordTemplateStates(ctx, states); err != nil || len(changed) != 0 {
		t.Errorf("same sync again changed %+v, %v; want nothing", changed, err)
	}
	if !h.svc.templateUsable(ctx, "call_deflection", "ar") || h.svc.templateUsable(ctx, "call_deflection", "fr") {
		t.Error("want Arabic usable and French (missing at Meta) not")
	}
	got := strings.Join(h.svc.Degraded(ctx), "\n")
	for _, want := range []string{"call_deflection/fr: MISSING", "callers of this language are not offered", "licence_renewal/ar: REJECTED UTILITY SCAM: Meta refuses sends of it"} {
		if !strings.Contains(got, want) {
			t.Errorf("degraded lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "licence_renewal/en") {
		t.Errorf("a notification template's category alone is not degraded:\n%s", got)
	}
}
