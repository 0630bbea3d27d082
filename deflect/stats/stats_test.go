package stats

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/memstore"
)

// TestTwoProportion: 45/100 against 56/100 gives the pooled z = 1.556 and a two-sided p of
// 0.120 (worked by hand: p = 0.505, SE = sqrt(0.505 × 0.495 × 0.02) = 0.07071; normal tables:
// Φ(1.556) = 0.9401); small samples and no variance say "not enough data".
func TestTwoProportion(t *testing.T) {
	tests := []struct {
		name           string
		x1, n1, x2, n2 int64
		wantZ, wantP   float64
		wantNote       bool
	}{
		{"textbook", 45, 100, 56, 100, 1.5556, 0.1198, false},
		{"same rate", 50, 100, 50, 100, 0, 1, false},
		{"lower", 56, 100, 45, 100, -1.5556, 0.1198, false},
		{"too few trials", 5, 10, 9, 10, 0, 0, true},
		{"no variance", 100, 100, 100, 100, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z := TwoProportion("control", tc.x1, tc.n1, tc.x2, tc.n2)
			if tc.wantNote {
				if z.Note == "" || z.PValue != nil {
					t.Errorf("want not enough data, got %+v", z)
				}
				return
			}
			if z.Z == nil || z.PValue == nil || math.Abs(*z.Z-tc.wantZ) > 1e-3 || math.Abs(*z.PValue-tc.wantP) > 1e-3 {
				t.Errorf("z-test = %+v, want z %.4f p %.4f", z, tc.wantZ, tc.wantP)
			}
		})
	}
}

// TestRecorderFunnelRepeatsAndCost counts a day of calls through the recorder into a real
// store and reads them back as the funnel and the outcomes.
func TestRecorderFunnelRepeatsAndCost(t *testing.T) {
	ctx := context.Background()
	st := memstore.New(memstore.Options{})
	defer st.Close()
	r := NewRecorder(st, 0, nil)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	billing := Dims{Day: now, Queue: "billing", Language: "ar", Variant: "control"}
	sales := Dims{Day: now, Queue: "sales", Language: "en", Variant: "short"}

	for i, d := range []Dims{billing, billing, sales} {
		id := []string{"s1", "s2", "s3"}[i]
		r.Count(ctx, d, Offered, 1)
		r.Count(ctx, d, Accepted, 1)
		r.Count(ctx, d, Sent, 1)
		for range 3 { // statuses and replies come more than once
			r.CountOnce(ctx, id, d, Delivered)
			r.CountOnce(ctx, id, d, Replied)
		}
		r.Deflect(ctx, id, []string{"+966501234567", "+966501234568", "+447400123456"}[i], d, 300)
		r.Billable(ctx, "wamid."+id, d, "utility", []string{"SA", "SA", "GB"}[i])
		r.Billable(ctx, "wamid."+id, d, "utility", "SA") // a redelivered status
	}
	r.CountOnce(ctx, "s2", billing, HandedOff)
	r.CountOnce(ctx, "s2", billing, ResolvedByAgent)
	r.Count(ctx, Dims{Day: now, Queue: "billing", Language: "ar", Variant: "control"}, Ineligible, 4)

	// The first caller calls back 30 h later: a repeat within 72 h, not within 24 h, counted
	// on the day of the deflection, once however often they call.
	now = now.Add(30 * time.Hour)
	r.Called(ctx, "+966501234567")
	r.Called(ctx, "+966501234567")
	// The third calls back 5 days later: too late to count.
	now = now.Add(4 * 24 * time.Hour)
	r.Called(ctx, "+447400123456")

	from := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	entries, err := Load(ctx, st, from, from.Add(6*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	f := BuildFunnel(entries, from, from.Add(6*24*time.Hour), ByQueue)
	want := FunnelCounts{Offered: 3, Accepted: 3, Sent: 3, Delivered: 3, Replied: 3, Resolved: 3, ResolvedByBot: 2, ResolvedByAgent: 1}
	if f.Totals != want {
		t.Errorf("funnel totals %+v, want %+v", f.Totals, want)
	}
	if len(f.Groups) != 2 || f.Groups[0].Key != "billing" || f.Groups[0].Counts.Offered != 2 || f.Groups[1].Counts.Offered != 1 {
		t.Errorf("funnel by queue %+v", f.Groups)
	}
	if len(f.Days) != 1 || f.Days[0].Date != "2026-12-01" {
		t.Errorf("funnel days %+v: the repeat counts on the deflection's day", f.Days)
	}

	prices := Prices{Currency: "USD", Table: map[string]map[string]float64{"utility": {"SA": 0.0107, "*": 0.02}}}
	o := BuildOutcomes(entries, from, from.Add(6*24*time.Hour), ByVariant, prices, []string{"control", "short"})
	if o.Totals.Deflected != 3 || o.Totals.Repeat72h != 1 || o.Totals.Repeat24h != 0 || o.Totals.Ineligible != 4 {
		t.Errorf("outcomes totals %+v", o.Totals)
	}
	if o.Totals.TimeSavedMinutes != 15 {
		t.Errorf("time saved %.1f min, want 15 (3 × 300 s)", o.Totals.TimeSavedMinutes)
	}
	if math.Abs(o.Totals.Cost-(2*0.0107+0.02)) > 1e-9 || o.Totals.Billable["utility"] != 3 {
		t.Errorf("cost %.4f of %v, want 0.0414 for 3 utility messages", o.Totals.Cost, o.Totals.Billable)
	}
	if len(o.Groups) != 2 || o.Groups[0].Key != "control" || o.Groups[1].Tests["accept_rate"].Note == "" {
		t.Errorf("variant groups %+v: want control first and 'not enough data' for 1 call", o.Groups)
	}
	if r := o.Groups[0].RepeatRate72h; r == nil || *r != 0.5 {
		t.Errorf("control's repeat rate %v, want 0.5 (1 of 2)", r)
	}
}
