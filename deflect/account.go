package deflect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// AccountState is what Meta last said about the number and its business account.
type AccountState struct {
	Flagged bool      `json:"flagged"`
	Tier    string    `json:"tier,omitempty"`  // TIER_1K ...
	Limit   int       `json:"limit,omitempty"` // conversations per 24 h; 0 = unlimited or unknown
	Event   string    `json:"event,omitempty"`
	At      time.Time `json:"at"`

	// From account_update: the account's ban (DISABLE, SCHEDULE_FOR_DISABLE, REINSTATE) and its
	// date as Meta wrote it, whether Meta deleted the account, its current restrictions and the
	// last policy violation Meta named.
	BanState     string                 `json:"ban_state,omitempty"`
	BanDate      string                 `json:"ban_date,omitempty"`
	Deleted      bool                   `json:"deleted,omitempty"`
	Restrictions []whatsapp.Restriction `json:"restrictions,omitempty"`
	Violation    string                 `json:"violation,omitempty"`

	// Quality is the number's quality_rating as GET /{phone-number-id} last gave it (GREEN,
	// YELLOW, RED, UNKNOWN), read every whatsapp.template_sync_interval.
	Quality string `json:"quality,omitempty"`
}

// restrictionBizInitiated is the restriction_type that stops template sends to customers who
// have not written: every deflection is such a send.
const restrictionBizInitiated = "RESTRICTED_BIZ_INITIATED_MESSAGING"

// Restricted says why the account cannot start conversations at now ("" when it can): Meta
// disabled or deleted it, or restricted business-initiated messaging (until the restriction's
// expiration; one without an expiration lasts until Meta says otherwise). A ban scheduled
// (SCHEDULE_FOR_DISABLE) does not stop offers yet: it shows on readyz.
func (a AccountState) Restricted(now time.Time) string {
	switch {
	case a.Deleted:
		return "the WhatsApp Business Account was deleted"
	case a.BanState == "DISABLE":
		return strings.TrimSpace("the WhatsApp Business Account is disabled " + a.BanDate)
	}
	for _, r := range a.Restrictions {
		if r.Type != restrictionBizInitiated || (!r.Expiration.IsZero() && !now.Before(r.Expiration)) {
			continue
		}
		if r.Expiration.IsZero() {
			return "business-initiated messaging is restricted"
		}
		return "business-initiated messaging is restricted until " + r.Expiration.UTC().Format(time.RFC3339)
	}
	return ""
}

// applyAccountUpdate folds one account_update into the state. A restriction_info replaces the
// restrictions known (Meta lists those in force); REINSTATE lifts the ban and the restrictions
// (the account is back in good standing: a choice, Meta's reference does not say more).
func applyAccountUpdate(a *AccountState, u *whatsapp.AccountUpdate, now time.Time) {
	a.Event, a.At = strings.ToUpper(u.Event), now
	if a.Event == "ACCOUNT_DELETED" {
		a.Deleted = true
	}
	if u.Violation != "" {
		a.Violation = u.Violation
	}
	if len(u.Restrictions) > 0 || a.Event == "ACCOUNT_RESTRICTION" {
		a.Restrictions = slices.Clone(u.Restrictions)
	}
	if u.BanState != "" {
		a.BanState, a.BanDate = u.BanState, u.BanDate
		if u.BanState == "REINSTATE" {
			a.Restrictions, a.Deleted = nil, false
		}
	}
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
	if u == nil {
		return nil
	}
	if u.Field == "account_update" {
		return s.onAccountUpdate(ctx, u)
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

// onAccountUpdate records an account_update: a ban, a deletion or a restriction of
// business-initiated messaging stops offers (reason account-restricted) until REINSTATE or the
// restriction's expiration.
func (s *Service) onAccountUpdate(ctx context.Context, u *whatsapp.AccountUpdate) error {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := store.UpdateJSON(sctx, s.st, AccountStateCollection, accountStateID, 0, 8,
		func() AccountState { return AccountState{} },
		func(a *AccountState, _ bool) error {
			applyAccountUpdate(a, u, s.now())
			return nil
		})
	if err != nil {
		return fmt.Errorf("record account update: %w", err)
	}
	why := st.Restricted(s.now())
	s.m.setRestricted(why != "")
	level := slog.LevelInfo
	if why != "" || st.BanState == "SCHEDULE_FOR_DISABLE" || u.Violation != "" {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "business account's standing changed", "event", st.Event, "ban_state", st.BanState,
		"ban_date", st.BanDate, "restrictions", restrictionNames(st.Restrictions), "violation", u.Violation,
		"offers_stopped", why != "", "why", why)
	return nil
}

func restrictionNames(rs []whatsapp.Restriction) string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		n := r.Type
		if !r.Expiration.IsZero() {
			n += " until " + r.Expiration.UTC().Format(time.RFC3339)
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// accountState reads the stored state; nil when there is none or the store cannot say (a
// store error is not a refusal: the send would tell).
func (s *Service) accountState(ctx context.Context) *AccountState {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	doc, err := s.st.GetDoc(sctx, AccountStateCollection, accountStateID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("account state unreadable", "err", err)
		}
		return nil
	}
	var st AccountState
	if json.Unmarshal(doc.Data, &st) != nil {
		return nil
	}
	return &st
}

// accountReason is the reason the account's standing gives to refuse an offer now: a ban or a
// restriction (account-restricted), or today's sends close to the messaging limit
// (messaging-limit, with limitMargin); "" otherwise. It also brings the restriction gauge up to
// date, so an expired restriction shows as lifted at the next call.
func (s *Service) accountReason(ctx context.Context) string {
	st := s.accountState(ctx)
	if st == nil {
		return ""
	}
	restricted := st.Restricted(s.now()) != ""
	s.m.setRestricted(restricted)
	if restricted {
		return ReasonAccountRestricted
	}
	if s.stats == nil || st.Limit <= 0 {
		return ""
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	if float64(s.stats.SentToday(sctx)) >= float64(st.Limit)*(1-limitMargin) {
		return ReasonMessagingLimit
	}
	return ""
}

// accountDegraded is the readyz line of an account whose standing stops or threatens offers.
func (s *Service) accountDegraded(ctx context.Context) []string {
	st := s.accountState(ctx)
	if st == nil {
		return nil
	}
	why := st.Restricted(s.now())
	s.m.setRestricted(why != "")
	switch {
	case why != "":
		return []string{"account: " + why + ": callers are not offered (account-restricted)"}
	case st.BanState == "SCHEDULE_FOR_DISABLE":
		return []string{strings.TrimSpace("account: Meta scheduled the WhatsApp Business Account to be disabled " + st.BanDate + ": offers go on until then")}
	}
	return nil
}

// RecordNumberHealth stores the number's quality rating and messaging limit tier as Meta's
// GET /{phone-number-id} gave them (the periodic sync: a phone_number_quality_update missed while
// no instance ran is caught up, and the rating, which no webhook carries, is known at all).
//
// asOf is when the read was started: a phone_number_quality_update recorded after it is newer
// than what the read saw, and its tier is kept (the webhook and a read can cross).
func (s *Service) RecordNumberHealth(ctx context.Context, rating, tier string, asOf time.Time) error {
	rating, tier = QualityRating(rating), strings.ToUpper(tier)
	var was AccountState
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := store.UpdateJSON(sctx, s.st, AccountStateCollection, accountStateID, 0, 8,
		func() AccountState { return AccountState{} },
		func(a *AccountState, _ bool) error {
			was = *a
			a.Quality = rating
			if tier != "" && !a.At.After(asOf) {
				a.Tier, a.Limit = tier, tierLimit(tier)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("record number health: %w", err)
	}
	s.m.setQuality(st.Quality)
	s.m.setAccount(st.Flagged, st.Limit)
	// Also at start and after a restriction expired with no caller to notice.
	s.m.setRestricted(st.Restricted(s.now()) != "")
	if was.Quality != st.Quality || was.Tier != st.Tier {
		level := slog.LevelInfo
		if st.Quality == "RED" || st.Quality == "YELLOW" {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "business number's quality or limit changed", "quality", st.Quality,
			"was", was.Quality, "tier", st.Tier, "limit", st.Limit)
	}
	return nil
}
