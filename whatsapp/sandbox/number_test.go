package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/whatsapp"
)

// TestNumberHealth: the real client reads the sandbox number's quality rating and tier, which
// the number/quality control changes; Meta's refusals of a bad field, token or value hold.
func TestNumberHealth(t *testing.T) {
	e := newEnv(t, nil)
	c := newClient(t, e, nil)
	read := func() whatsapp.NumberHealth {
		t.Helper()
		h, err := c.NumberHealth(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := read(); h.ID != phoneID || h.QualityRating != "GREEN" || h.MessagingLimitTier != "TIER_UNLIMITED" {
		t.Errorf("at start %+v, want GREEN TIER_UNLIMITED", h)
	}
	if r := e.do(t, http.MethodPost, "/_sandbox/number/quality", "", `{"quality_rating":"red","current_limit":"TIER_250"}`); r.Status != http.StatusNoContent {
		t.Fatalf("set rating: %d %s", r.Status, r.Raw)
	}
	if h := read(); h.QualityRating != "RED" || h.MessagingLimitTier != "TIER_250" {
		t.Errorf("after the control %+v, want RED TIER_250", h)
	}
	for _, tt := range []struct {
		name, method, path, tok, body string
		status, code                  int
	}{
		{"unknown field", http.MethodGet, "/v23.0/" + phoneID + "?fields=quality_rating,nonsense", token, "", http.StatusBadRequest, 100},
		{"no token", http.MethodGet, "/v23.0/" + phoneID, "", "", http.StatusUnauthorized, 190},
		{"bad rating", http.MethodPost, "/_sandbox/number/quality", "", `{"quality_rating":"PURPLE"}`, http.StatusBadRequest, 0},
		{"bad tier", http.MethodPost, "/_sandbox/number/quality", "", `{"event":"UPGRADE","current_limit":"LOTS"}`, http.StatusBadRequest, 0},
		{"no event nor rating", http.MethodPost, "/_sandbox/number/quality", "", `{}`, http.StatusBadRequest, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.tok, tt.body)
			if r.Status != tt.status || r.errorCode() != tt.code {
				t.Errorf("%d code %d (%s), want %d code %d", r.Status, r.errorCode(), r.Raw, tt.status, tt.code)
			}
		})
	}
}

// TestAccountUpdateControl: the account control sends a signed account_update webhook that the
// receiver's parser reads as a restriction.
func TestAccountUpdateControl(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"event":"ACCOUNT_RESTRICTION","restriction_type":"RESTRICTED_BIZ_INITIATED_MESSAGING","expiration":"2026-12-05T13:59:20+0000"}`
	if r := e.do(t, http.MethodPost, "/_sandbox/account", "", body); r.Status != http.StatusNoContent {
		t.Fatalf("account control: %d %s", r.Status, r.Raw)
	}
	h := e.recv.next(t)
	evs, err := whatsapp.ParseWebhook(h.Raw)
	if err != nil || len(evs) != 1 || evs[0].Account == nil {
		t.Fatalf("parsed %+v, %v from %s", evs, err, h.Raw)
	}
	a := evs[0].Account
	if a.Field != "account_update" || a.Event != "ACCOUNT_RESTRICTION" || len(a.Restrictions) != 1 ||
		a.Restrictions[0].Type != "RESTRICTED_BIZ_INITIATED_MESSAGING" || a.Restrictions[0].Expiration.Format("2006-01-02T15:04") != "2026-12-05T13:59" {
		t.Errorf("account update %+v", a)
	}
	if r := e.do(t, http.MethodPost, "/_sandbox/account", "", `{}`); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "event") {
		t.Errorf("no event: %d %s", r.Status, r.Raw)
	}
}
