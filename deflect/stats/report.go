package stats

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Group-by dimensions of a report.
const (
	ByDay      = "day"
	ByQueue    = "queue"
	ByLanguage = "language"
	ByVariant  = "variant"
)

// ValidGroupBy reports whether by is a dimension reports can group by ("" = totals only).
func ValidGroupBy(by string) bool {
	return by == "" || by == ByDay || by == ByQueue || by == ByLanguage || by == ByVariant
}

// Counts are metric totals.
type Counts map[string]int64

func keyOf(e Entry, by string) string {
	switch by {
	case ByDay:
		return e.Day.Format(time.DateOnly)
	case ByQueue:
		return e.Dims.Queue
	case ByLanguage:
		return e.Dims.Language
	case ByVariant:
		return e.Dims.Variant
	}
	return ""
}

// group sums entries by the dimension; keys in order (days ascending, others by name).
func group(entries []Entry, by string) (totals Counts, keys []string, groups map[string]Counts) {
	totals, groups = Counts{}, map[string]Counts{}
	for _, e := range entries {
		totals[e.Metric] += e.N
		if by == "" {
			continue
		}
		k := keyOf(e, by)
		if groups[k] == nil {
			groups[k] = Counts{}
			keys = append(keys, k)
		}
		groups[k][e.Metric] += e.N
	}
	slices.Sort(keys)
	return totals, keys, groups
}

// FunnelCounts is one row of the funnel. Resolved by the bot is a conversation the customer
// replied to that the bot never handed to an agent; resolved by an agent is one an agent closed.
type FunnelCounts struct {
	Offered         int64 `json:"offered"`
	Accepted        int64 `json:"accepted"`
	Sent            int64 `json:"sent"`
	Delivered       int64 `json:"delivered"`
	Read            int64 `json:"read"`
	Replied         int64 `json:"replied"`
	Resolved        int64 `json:"resolved"`
	ResolvedByBot   int64 `json:"resolved_by_bot"`
	ResolvedByAgent int64 `json:"resolved_by_agent"`
	Returned        int64 `json:"returned"`
}

func funnelOf(c Counts) FunnelCounts {
	f := FunnelCounts{
		Offered: c[Offered], Accepted: c[Accepted], Sent: c[Sent], Delivered: c[Delivered], Read: c[Read],
		Replied: c[Replied], ResolvedByAgent: c[ResolvedByAgent], Returned: c[Returned],
	}
	f.ResolvedByBot = max(0, c[Replied]-c[HandedOff])
	f.Resolved = f.ResolvedByBot + f.ResolvedByAgent
	return f
}

// Funnel is GET /api/v1/stats/funnel.
type Funnel struct {
	From    string        `json:"from"`
	To      string        `json:"to"`
	GroupBy string        `json:"group_by"`
	Totals  FunnelCounts  `json:"totals"`
	Groups  []FunnelGroup `json:"groups"`
	Days    []FunnelDay   `json:"days"`
}

// FunnelGroup is the funnel of one queue or language.
type FunnelGroup struct {
	Key    string       `json:"key"`
	Counts FunnelCounts `json:"counts"`
}

// FunnelDay is the funnel of one day.
type FunnelDay struct {
	Date   string       `json:"date"`
	Counts FunnelCounts `json:"counts"`
}

// BuildFunnel sums entries into the funnel, by groupBy (queue or language; "" = none) and by day.
func BuildFunnel(entries []Entry, from, to time.Time, groupBy string) Funnel {
	totals, keys, groups := group(entries, groupBy)
	f := Funnel{From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339), GroupBy: groupBy,
		Totals: funnelOf(totals), Groups: []FunnelGroup{}, Days: []FunnelDay{}}
	for _, k := range keys {
		f.Groups = append(f.Groups, FunnelGroup{Key: k, Counts: funnelOf(groups[k])})
	}
	_, days, byDay := group(entries, ByDay)
	for _, d := range days {
		f.Days = append(f.Days, FunnelDay{Date: d, Counts: funnelOf(byDay[d])})
	}
	return f
}

// Prices price the messages Meta bills: category (utility, marketing, authentication, service)
// → destination country (ISO 3166, "*" for any other) → price per message in Currency.
type Prices struct {
	Currency string
	Table    map[string]map[string]float64
}

func (p Prices) price(category, country string) (float64, bool) {
	byCountry, ok := p.Table[category]
	if !ok {
		return 0, false
	}
	if v, ok := byCountry[country]; ok {
		return v, true
	}
	v, ok := byCountry["*"]
	return v, ok
}

// Outcome is one row of GET /api/v1/stats/outcomes.
type Outcome struct {
	Key        string       `json:"key"`
	Funnel     FunnelCounts `json:"funnel"`
	Ineligible int64        `json:"ineligible"`
	Deflected  int64        `json:"deflected"`
	Declined   int64        `json:"declined"`
	// ReturnedByReason splits funnel.returned: declined, timeout, failed.
	ReturnedByReason map[string]int64 `json:"returned_by_reason"`
	Repeat24h        int64            `json:"repeat_24h"`
	Repeat72h        int64            `json:"repeat_72h"`
	WaitSavedSeconds int64            `json:"wait_saved_seconds"` // sum of X-Wait-Estimate of deflected callers
	TimeSavedMinutes float64          `json:"time_saved_minutes"`
	AcceptRate       *float64         `json:"accept_rate"`    // accepted / offered
	DeliveredRate    *float64         `json:"delivered_rate"` // delivered / sent
	RepeatRate72h    *float64         `json:"repeat_rate_72h"`
	Billable         map[string]int64 `json:"billable"` // messages by pricing category
	Cost             float64          `json:"cost"`
	Unpriced         int64            `json:"unpriced"` // billable messages stats.prices has no price for
	CostPerDeflected *float64         `json:"cost_per_deflection"`
	CostPerResolved  *float64         `json:"cost_per_resolved"`
	// Tests compare this variant with the first one (group_by variant only), by rate name.
	Tests map[string]ZTest `json:"tests,omitempty"`
}

// Outcomes is GET /api/v1/stats/outcomes and `deflectd stats`.
type Outcomes struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	GroupBy  string    `json:"group_by"`
	Currency string    `json:"currency"`
	Totals   Outcome   `json:"totals"`
	Groups   []Outcome `json:"groups"`
}

func ratio(num, den int64) *float64 {
	if den <= 0 {
		return nil
	}
	r := float64(num) / float64(den)
	return &r
}

func outcomeOf(key string, c Counts, prices Prices) Outcome {
	o := Outcome{Key: key, Funnel: funnelOf(c), Ineligible: c[Ineligible], Deflected: c[Deflected],
		Repeat24h: c[Repeat24], Repeat72h: c[Repeat72], WaitSavedSeconds: c[WaitSaved],
		TimeSavedMinutes: float64(c[WaitSaved]) / 60, Billable: map[string]int64{}, ReturnedByReason: map[string]int64{}}
	o.AcceptRate = ratio(c[Accepted], c[Offered])
	o.DeliveredRate = ratio(c[Delivered], c[Sent])
	o.RepeatRate72h = ratio(c[Repeat72], c[Deflected])
	for metric, n := range c {
		if reason, ok := strings.CutPrefix(metric, Returned+":"); ok {
			o.ReturnedByReason[reason] += n
		}
		rest, ok := strings.CutPrefix(metric, billablePrefix)
		if !ok {
			continue
		}
		category, country, _ := strings.Cut(rest, ":")
		o.Billable[category] += n
		if p, ok := prices.price(category, country); ok {
			o.Cost += p * float64(n)
		} else {
			o.Unpriced += n
		}
	}
	o.Declined = o.ReturnedByReason["declined"]
	o.Cost = math.Round(o.Cost*1e6) / 1e6
	if o.Deflected > 0 {
		v := o.Cost / float64(o.Deflected)
		o.CostPerDeflected = &v
	}
	if o.Funnel.Resolved > 0 {
		v := o.Cost / float64(o.Funnel.Resolved)
		o.CostPerResolved = &v
	}
	return o
}

// BuildOutcomes sums entries by groupBy. With ByVariant, each variant after the first of
// variants (the configured order) is tested against the first.
func BuildOutcomes(entries []Entry, from, to time.Time, groupBy string, prices Prices, variants []string) Outcomes {
	totals, keys, groups := group(entries, groupBy)
	out := Outcomes{From: from.UTC().Format(time.RFC3339), To: to.UTC().Format(time.RFC3339), GroupBy: groupBy,
		Currency: prices.Currency, Totals: outcomeOf("", totals, prices), Groups: []Outcome{}}
	if groupBy == ByVariant {
		keys = variantOrder(keys, variants)
	}
	for _, k := range keys {
		out.Groups = append(out.Groups, outcomeOf(k, groups[k], prices))
	}
	if groupBy == ByVariant && len(keys) > 1 {
		base := groups[keys[0]]
		for i := 1; i < len(out.Groups); i++ {
			c := groups[keys[i]]
			out.Groups[i].Tests = map[string]ZTest{
				"accept_rate":     TwoProportion(keys[0], base[Accepted], base[Offered], c[Accepted], c[Offered]),
				"delivered_rate":  TwoProportion(keys[0], base[Delivered], base[Sent], c[Delivered], c[Sent]),
				"repeat_rate_72h": TwoProportion(keys[0], base[Repeat72], base[Deflected], c[Repeat72], c[Deflected]),
			}
		}
	}
	return out
}

// variantOrder puts the configured variants first, in their order, then any others seen.
func variantOrder(seen, configured []string) []string {
	var out []string
	for _, v := range configured {
		if slices.Contains(seen, v) {
			out = append(out, v)
		}
	}
	for _, v := range seen {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// MinSample is the fewest trials on each side for a test to be reported.
const MinSample = 30

// ZTest is a two-proportion z-test of a variant's rate against the first variant's.
type ZTest struct {
	Against string   `json:"against"`
	Z       *float64 `json:"z"`
	PValue  *float64 `json:"p_value"` // two-sided
	Note    string   `json:"note,omitempty"`
}

// TwoProportion tests x1/n1 against x2/n2 with the pooled two-proportion z-test; under
// MinSample trials on either side (or no variance at all) it says "not enough data".
func TwoProportion(against string, x1, n1, x2, n2 int64) ZTest {
	t := ZTest{Against: against}
	if n1 < MinSample || n2 < MinSample {
		t.Note = fmt.Sprintf("not enough data (%d and %d trials; at least %d each)", n1, n2, MinSample)
		return t
	}
	p1, p2 := float64(x1)/float64(n1), float64(x2)/float64(n2)
	p := float64(x1+x2) / float64(n1+n2)
	se := math.Sqrt(p * (1 - p) * (1/float64(n1) + 1/float64(n2)))
	if se == 0 {
		t.Note = "not enough data (no variance: every trial had the same result)"
		return t
	}
	z := (p2 - p1) / se
	pv := math.Erfc(math.Abs(z) / math.Sqrt2)
	t.Z, t.PValue = &z, &pv
	return t
}
