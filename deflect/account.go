package deflect

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// The business number's standing with Meta: its quality (FLAGGED when customers block or report
// it) and its messaging limit (how many customers it may start conversations with in 24 hours,
// phone_number_quality_update's current_limit). Kept in the store, shared by instances. Offers
// stop before the limit: a deflection is a business-initiated conversation, and one that Meta
// refuses for the limit is a caller offered what cannot be sent.

// AccountStateCollection holds the number's state (one document).
const AccountStateCollection = "account-state"

const accountStateID = "number"

// limitMargin: offers stop this share before the limit (other senders use it too).
const limitMargin = 0.05

// AccountState is what Meta last said about the number.
type AccountState struct {
	Flagged bool      `json:"flagged"`
	Tier    string    `json:"tier,omitempty"`  // TIER_1K ...
	Limit   int       `json:"limit,omitempty"` // conversations per 24 h; 0 = unlimited or unknown
	Event   string    `json:"event,omitempty"`
	At      time.Time `json:"at"`
}

// tierLimit reads Meta's tier names (TIER_50, TIER_250, TIER_1K, TIER_2K, TIER_10K, TIER_100K,
// TIER_UNLIMITED); 0 for unlimited or a name it does not know.
func tierLimit(tier string) int {
	n := strings.TrimPrefix(strings.ToUpper(tier), "TIER_")
	mult := 1
	if strings.HasSuffix(n, "K") {
		n, mult = strings.TrimSuffix(n, "K"), 1000
	}
	v := 0
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + int(c-'0')
	}
	return v * mult
}

// OnAccount records a phone_number_quality_update or account_update webhook.
func (s *Service) OnAccount(ctx context.Context, u *whatsapp.AccountUpdate) error {
	if u == nil || u.Field != "phone_number_quality_update" {
		if u != nil {
			s.log.Warn("account update from Meta", "event", u.Event)
		}
		return nil
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := store.UpdateJSON(sctx, s.st, AccountStateCollection, accountStateID, 0, 8,
		func() AccountState { return AccountState{} },
		func(a *AccountState, _ bool) error {
			a.Event, a.At = strings.ToUpper(u.Event), s.now()
			switch a.Event {
			case "FLAGGED":
				a.Flagged = true
			case "UNFLAGGED", "UPGRADE":
				a.Flagged = false
			}
			if u.CurrentLimit != "" {
				a.Tier, a.Limit = strings.ToUpper(u.CurrentLimit), tierLimit(u.CurrentLimit)
			}
			return nil
		})
	if err != nil {
		return err
	}
	s.m.setAccount(st.Flagged, st.Limit)
	level := slog.LevelInfo
	if st.Flagged {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "business number's standing changed", "event", st.Event, "flagged", st.Flagged, "tier", st.Tier, "limit", st.Limit)
	return nil
}

// underLimit reports whether one more business-initiated conversation fits today's messaging
// limit (with limitMargin). Unknown state or an unreadable store: yes (the send would tell).
func (s *Service) underLimit(ctx context.Context) bool {
	if s.stats == nil {
		return true
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	doc, err := s.st.GetDoc(sctx, AccountStateCollection, accountStateID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("account state unreadable", "err", err)
		}
		return true
	}
	var st AccountState
	if json.Unmarshal(doc.Data, &st) != nil || st.Limit <= 0 {
		return true
	}
	return float64(s.stats.SentToday(sctx)) < float64(st.Limit)*(1-limitMargin)
}
