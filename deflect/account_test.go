package deflect

import "testing"

func TestTierLimit(t *testing.T) {
	for tier, want := range map[string]int{"TIER_50": 50, "TIER_250": 250, "TIER_1K": 1000, "TIER_2K": 2000,
		"TIER_10K": 10000, "TIER_100K": 100000, "TIER_UNLIMITED": 0, "tier_1k": 1000, "": 0, "TIER_?": 0} {
		if got := tierLimit(tier); got != want {
			t.Errorf("tierLimit(%q) = %d, want %d", tier, got, want)
		}
	}
}
