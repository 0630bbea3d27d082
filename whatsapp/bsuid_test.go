package whatsapp_test

import (
	"strings"
	"testing"

	"github.com/deflectd/deflectd/whatsapp"
)

func TestIsBSUID(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"business-scoped user id", "US.13491208655302741918", true},
		{"parent id", "US.ENT.11815799212886844830", true},
		{"letters and digits", "BR.a1B2c3", true},
		{"wa_id", "16505551234", false},
		{"E.164", "+16505551234", false},
		{"lower-case country", "us.13491208655302741918", false},
		{"no country", ".13491208655302741918", false},
		{"empty id", "US.", false},
		{"space", "US.1349 1208", false},
		{"128 characters", "US." + strings.Repeat("1", 128), true},
		{"too long", "US." + strings.Repeat("1", 129), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := whatsapp.IsBSUID(tt.in); got != tt.want {
				t.Errorf("IsBSUID(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
