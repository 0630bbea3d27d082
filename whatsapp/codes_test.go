package whatsapp

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCodeTable: the codes the product decides on are classed as Meta documents them, and the
// README's table lists every code of the table.
func TestCodeTable(t *testing.T) {
	tests := []struct {
		code int
		want Class
	}{
		{130429, Retryable}, {131056, Retryable}, {4, Retryable}, {80007, Retryable},
		{131026, RecipientPermanent}, {131047, RecipientPermanent}, {131049, RecipientPermanent}, {131048, RecipientPermanent},
		{131051, Other}, {132000, Config}, {132001, Config}, {190, Config},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			c, ok := CodeClass(tc.code)
			if !ok || c != tc.want {
				t.Errorf("class %v (known %v), want %v", c, ok, tc.want)
			}
			if got := (&APIError{Code: tc.code, HTTPStatus: 400}).Class(); got != tc.want {
				t.Errorf("APIError.Class() = %v, want %v", got, tc.want)
			}
			if r, a := Explain(tc.code); r == "" || a == "" || strings.Contains(r, "error "+strconv.Itoa(tc.code)) {
				t.Errorf("no plain explanation: %q / %q", r, a)
			}
		})
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for code := range codes {
		if !strings.Contains(string(readme), "| "+strconv.Itoa(code)+" |") {
			t.Errorf("README's error table lacks %d", code)
		}
	}
}

func TestErrorLabelBounded(t *testing.T) {
	tests := []struct {
		name string
		code int
		want string
	}{
		{"rate limit", 130429, "130429"},
		{"pair limit", 131056, "131056"},
		{"re-engagement", 131047, "131047"},
		{"token expired", 190, "190"},
		{"unknown code", 987654, "other"},
		{"no code", 0, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorLabel(tt.code); got != tt.want {
				t.Errorf("errorLabel(%d) = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}
