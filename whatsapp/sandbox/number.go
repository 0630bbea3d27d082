package sandbox

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
)

// The business number's standing as GET /{Phone-Number-ID} shows it (Meta's OpenAPI document,
// business-messaging-api_v23.0.yaml, /{Version}/{Phone-Number-ID}): the sandbox's number starts
// GREEN with TIER_UNLIMITED (so that no test meets a messaging limit it did not ask for); the
// number/quality control changes both.
type numberState struct {
	quality, tier string
}

// Meta's quality ratings (schema WhatsAppBusinessPhoneNumber; its tiers are TIER_50, TIER_250,
// TIER_1K, TIER_10K, TIER_100K, TIER_UNLIMITED).
var qualityRatings = []string{"GREEN", "YELLOW", "RED", "NA"}

func (s *Sandbox) number() numberState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return numberState{quality: cmp.Or(s.num.quality, "GREEN"), tier: cmp.Or(s.num.tier, "TIER_UNLIMITED")}
}

// serveNumber is GET /{version?}/{phone_number_id}?fields=...: the requested fields of the
// number (Meta's default fields without ?fields=: id, display_phone_number, verified_name,
// quality_rating). An unknown field is refused with error 100, as Meta does.
func (s *Sandbox) serveNumber(w http.ResponseWriter, r *http.Request) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if r.Method != http.MethodGet {
		writeGraphError(w, errf(100, "Unsupported %s request.", strings.ToLower(r.Method)))
		return
	}
	n := s.number()
	all := map[string]any{"id": s.cfg.PhoneNumberID, "display_phone_number": s.cfg.DisplayPhoneNumber,
		"verified_name": "deflectd sandbox", "quality_rating": n.quality, "messaging_limit_tier": n.tier,
		"status": "CONNECTED", "code_verification_status": "VERIFIED", "account_mode": "SANDBOX"}
	fields := []string{"id", "display_phone_number", "verified_name", "quality_rating"}
	if f := r.URL.Query().Get("fields"); f != "" {
		fields = strings.Split(f, ",")
	}
	out := map[string]any{"id": s.cfg.PhoneNumberID}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		v, ok := all[f]
		if !ok {
			writeGraphError(w, errf(100, "(#100) Tried accessing nonexisting field (%s) on node type (WhatsAppBusinessPhoneNumber)", f))
			return
		}
		out[f] = v
	}
	writeJSON(w, http.StatusOK, out)
}

// setNumber changes the number's quality rating and tier ("" keeps one); false when the rating
// is not Meta's or the tier not TIER_<n>. Tiers Meta does not have (TIER_2) are taken, so that a
// test reaches a limit in a few calls.
func (s *Sandbox) setNumber(quality, tier string) bool {
	quality, tier = strings.ToUpper(quality), strings.ToUpper(tier)
	if (quality != "" && !slices.Contains(qualityRatings, quality)) || (tier != "" && !strings.HasPrefix(tier, "TIER_")) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.num.quality = cmp.Or(quality, s.num.quality)
	s.num.tier = cmp.Or(tier, s.num.tier)
	return true
}

// serveAccountUpdate plays Meta changing the business account's standing: an account_update
// webhook with ban_info, restriction_info (one restriction) and violation_info as given. The
// shape is that of Meta's account_update webhook reference, as providers relaying it document
// it (Meta's OpenAPI document has no schema for it).
func (s *Sandbox) serveAccountUpdate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Event           string `json:"event"`
		BanState        string `json:"ban_state"`
		BanDate         string `json:"ban_date"`
		RestrictionType string `json:"restriction_type"`
		Expiration      string `json:"expiration"`
		ViolationType   string `json:"violation_type"`
	}
	if err := decodeControl(r, &req); err != nil || req.Event == "" {
		controlError(w, http.StatusBadRequest, "an event (ACCOUNT_RESTRICTION, DISABLED_UPDATE, ACCOUNT_VIOLATION, ACCOUNT_DELETED...) is required")
		return
	}
	value := map[string]any{"event": strings.ToUpper(req.Event)}
	if req.BanState != "" {
		value["ban_info"] = map[string]string{"waba_ban_state": strings.ToUpper(req.BanState), "waba_ban_date": req.BanDate}
	}
	if req.RestrictionType != "" {
		value["restriction_info"] = []map[string]string{{"restriction_type": strings.ToUpper(req.RestrictionType), "expiration": req.Expiration}}
	}
	if req.ViolationType != "" {
		value["violation_info"] = map[string]string{"violation_type": req.ViolationType}
	}
	s.deliverWABAChange(w, r, "account_update", value)
}
