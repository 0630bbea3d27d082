package deflect

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup"
)

// Reason codes of the eligibility policy. They label metrics and end up in
// "ineligible:<reason>" outcomes and X-Deflect-Result headers, so they are part of the contract.
const (
	ReasonInvalidNumber       = "invalid-number"
	ReasonNotMobile           = "not-mobile"
	ReasonRegion              = "region"
	ReasonQueue               = "queue"
	ReasonWaitTooShort        = "wait-too-short"
	ReasonWaitUnknown         = "wait-unknown"
	ReasonClosed              = "closed"
	ReasonOptedOut            = "opted-out"
	ReasonChatCapacity        = "chat-capacity"
	ReasonCooldown            = "cooldown"
	ReasonDailyLimit          = "daily-limit"
	ReasonNotOnWhatsApp       = "not-on-whatsapp"
	ReasonPresenceUnknown     = "presence-unknown"
	ReasonWhatsAppUnavailable = "whatsapp-unavailable"
	// ReasonWhatsAppBusy: the Graph API send budget (messages per second of the phone number) is
	// taken by the callers already offered; offering more would promise what cannot be sent.
	ReasonWhatsAppBusy = "whatsapp-busy"
	// ReasonTemplateUnavailable: Meta paused, disabled or rejected the deflection template in
	// the caller's language, or moved it out of UTILITY (template webhooks).
	ReasonTemplateUnavailable = "template-unavailable"
	// ReasonMessagingLimit: today's business-initiated conversations are close to the number's
	// messaging limit (Meta's phone_number_quality_update current_limit).
	ReasonMessagingLimit = "messaging-limit"
	// ReasonAccountRestricted: Meta disabled or deleted the WhatsApp Business Account, or
	// restricted its business-initiated messaging (account_update webhooks).
	ReasonAccountRestricted = "account-restricted"
)

// Facts is everything the policy looks at for one call. The Service gathers them; Policy is pure.
type Facts struct {
	Number       lookup.Number
	Queue        string
	WaitEstimate int           // seconds; -1 = unknown
	MinWait      time.Duration // an experiment variant's minimum wait; 0 = the policy's
	Now          time.Time

	// Offers are earlier offers to this number within the last max(cooldown, 24h).
	Offers         []time.Time
	OptedOut       bool
	OpenAgentChats int // only looked at when chat_capacity > 0
	Presence       lookup.Status
	WhatsAppDown   bool // circuit breaker around the Graph API is open
}

// Policy is the eligibility rules of deflect.* config, compiled once.
type Policy struct {
	allowed     []string
	regions     []string
	minWait     int
	missingWait string
	loc         *time.Location
	days        map[time.Weekday]bool // nil = every day
	open, close int                   // minutes after midnight; open == close == -1: always
	holidays    map[string]bool       // YYYY-MM-DD in loc
	cooldown    time.Duration
	maxPerDay   int
	capacity    int
	unknownSkip bool
	queues      map[string]configs.QueueConfig // lower-case name
	otherSkip   bool
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// NewPolicy compiles the policy from config (already validated; errors here are belt and braces).
func NewPolicy(c configs.DeflectConfig) (*Policy, error) {
	p := &Policy{
		allowed:     c.AllowedTypes,
		regions:     c.Regions,
		minWait:     int(c.MinWait / time.Second),
		missingWait: c.MissingWait,
		loc:         time.UTC,
		open:        -1,
		close:       -1,
		cooldown:    c.Cooldown,
		maxPerDay:   c.MaxOffersPerDay,
		capacity:    c.ChatCapacity,
		unknownSkip: c.UnknownPresence == "skip",
		otherSkip:   c.OtherQueues == "skip",
	}
	if len(c.Queues) > 0 {
		p.queues = make(map[string]configs.QueueConfig, len(c.Queues))
		for name, q := range c.Queues {
			p.queues[strings.ToLower(strings.TrimSpace(name))] = q
		}
	}
	bh := c.BusinessHours
	if bh.TimeZone != "" {
		loc, err := time.LoadLocation(bh.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("load business hours time zone: %w", err)
		}
		p.loc = loc
	}
	if len(bh.Days) > 0 {
		p.days = map[time.Weekday]bool{}
		for _, d := range bh.Days {
			wd, ok := weekdays[strings.ToLower(d)]
			if !ok {
				return nil, fmt.Errorf("parse business day %q: not mon..sun", d)
			}
			p.days[wd] = true
		}
	}
	if bh.Open != "" {
		var err error
		if p.open, err = minutesOf(bh.Open); err != nil {
			return nil, err
		}
		if p.close, err = minutesOf(bh.Close); err != nil {
			return nil, err
		}
	}
	if len(bh.Holidays) > 0 {
		p.holidays = map[string]bool{}
		for _, h := range bh.Holidays {
			p.holidays[h] = true
		}
	}
	return p, nil
}

func minutesOf(hhmm string) (int, error) {
	t, err := time.Parse("15:04", hhmm)
	if err != nil {
		return 0, fmt.Errorf("parse business hours %q: %w", hhmm, err)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// Static applies the rules that need no stored facts: number, type, region, queue, business
// hours and wait estimate (the queue's minimum wait when it has one; minWait, an experiment
// variant's, instead of both when positive). "" means they all pass. The Service runs it first
// so that clearly ineligible calls cost no store round trip.
func (p *Policy) Static(n lookup.Number, queue string, wait int, minWaitOverride time.Duration, now time.Time) string {
	if !n.Valid || n.E164 == "" {
		return ReasonInvalidNumber
	}
	if len(p.allowed) > 0 && !slices.Contains(p.allowed, string(n.Type)) {
		if slices.Contains(p.allowed, string(lookup.TypeMobile)) {
			return ReasonNotMobile
		}
		return string(n.Type) + "-not-allowed"
	}
	if len(p.regions) > 0 && !slices.Contains(p.regions, n.Region) {
		return ReasonRegion
	}
	minWait := p.minWait
	if q, ok := p.queues[strings.ToLower(strings.TrimSpace(queue))]; ok {
		if q.Skip {
			return ReasonQueue
		}
		if q.MinWait > 0 {
			minWait = int(q.MinWait / time.Second)
		}
	} else if p.otherSkip {
		return ReasonQueue
	}
	if minWaitOverride > 0 {
		minWait = int(minWaitOverride / time.Second)
	}
	if !p.isOpen(now) {
		return ReasonClosed
	}
	if wait < 0 {
		if p.missingWait == "skip" {
			return ReasonWaitUnknown
		}
	} else if wait < minWait {
		return ReasonWaitTooShort
	}
	return ""
}

// Check applies every rule in order; "" means eligible.
func (p *Policy) Check(f Facts) string {
	if r := p.Static(f.Number, f.Queue, f.WaitEstimate, f.MinWait, f.Now); r != "" {
		return r
	}
	if f.OptedOut {
		return ReasonOptedOut
	}
	if p.capacity > 0 && f.OpenAgentChats >= p.capacity {
		return ReasonChatCapacity
	}
	if p.cooldown > 0 {
		for _, at := range f.Offers {
			if f.Now.Sub(at) < p.cooldown {
				return ReasonCooldown
			}
		}
	}
	if p.maxPerDay > 0 {
		n := 0
		for _, at := range f.Offers {
			if f.Now.Sub(at) < 24*time.Hour {
				n++
			}
		}
		if n >= p.maxPerDay {
			return ReasonDailyLimit
		}
	}
	switch f.Presence {
	case lookup.No:
		return ReasonNotOnWhatsApp
	case lookup.Unknown:
		if p.unknownSkip {
			return ReasonPresenceUnknown
		}
	}
	if f.WhatsAppDown {
		return ReasonWhatsAppUnavailable
	}
	return ""
}

// OfferWindow is how far back Facts.Offers must reach.
func (p *Policy) OfferWindow() time.Duration {
	return max(p.cooldown, 24*time.Hour)
}

// NeedsChatCount reports whether Facts.OpenAgentChats is looked at.
func (p *Policy) NeedsChatCount() bool { return p.capacity > 0 }

func (p *Policy) isOpen(now time.Time) bool {
	t := now.In(p.loc)
	if p.holidays[t.Format(time.DateOnly)] {
		return false
	}
	if p.days != nil && !p.days[t.Weekday()] {
		return false
	}
	if p.open < 0 {
		return true
	}
	m := t.Hour()*60 + t.Minute()
	if p.open <= p.close {
		return m >= p.open && m < p.close
	}
	return m >= p.open || m < p.close // overnight, e.g. 20:00–06:00
}
