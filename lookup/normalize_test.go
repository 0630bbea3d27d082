package lookup

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		e164   string
		nreg   string
		typ    NumberType
	}{
		{"international with spaces", "+966 50 123 4567", "", "+966501234567", "SA", TypeMobile},
		{"international compact", "+966501234567", "SA", "+966501234567", "SA", TypeMobile},
		{"00 prefix without region", "00966501234567", "", "+966501234567", "SA", TypeMobile},
		{"00 prefix with region", "00966501234567", "SA", "+966501234567", "SA", TypeMobile},
		{"00 prefix foreign region", "00447400123456", "SA", "+447400123456", "GB", TypeMobile},
		{"national mobile", "050 123 4567", "SA", "+966501234567", "SA", TypeMobile},
		{"national mobile lower-case region", "0501234567", "sa", "+966501234567", "SA", TypeMobile},
		{"national fixed line", "011 234 5678", "SA", "+966112345678", "SA", TypeFixedLine},
		{"parentheses and dashes", "(050) 123-4567", "SA", "+966501234567", "SA", TypeMobile},
		{"dots", "050.123.4567", "SA", "+966501234567", "SA", TypeMobile},
		{"surrounding space", "  +966501234567\t", "", "+966501234567", "SA", TypeMobile},
		{"NANP", "+1 (202) 555-0123", "", "+12025550123", "US", TypeFixedLineOrMobile},
		{"toll free", "+1 800 555 0123", "", "+18005550123", "US", TypeTollFree},
		{"UK mobile", "+44 7400 123456", "", "+447400123456", "GB", TypeMobile},
		{"sip URI user=phone", "sip:+447400123456@pbx;user=phone", "", "+447400123456", "GB", TypeMobile},
		{"sips URI", "sips:+447400123456@pbx.example:5061;transport=tls", "", "+447400123456", "GB", TypeMobile},
		{"SIP scheme upper case", "SIP:+447400123456@pbx", "", "+447400123456", "GB", TypeMobile},
		{"sip URI national user with port", "sip:0501234567@10.0.0.1:5060", "SA", "+966501234567", "SA", TypeMobile},
		{"sip URI user params", "sip:+966501234567;npdi;rn=+966500000000@pbx", "", "+966501234567", "SA", TypeMobile},
		{"sip URI percent-encoded plus", "sip:%2B966501234567@pbx", "", "+966501234567", "SA", TypeMobile},
		{"sip URI without host", "sip:+966501234567", "", "+966501234567", "SA", TypeMobile},
		{"name-addr quoted display name", `"Alice" <sip:+447400123456@pbx>;tag=1928301774`, "", "+447400123456", "GB", TypeMobile},
		{"name-addr bare display name", `Alice Smith <sip:0501234567@pbx>`, "SA", "+966501234567", "SA", TypeMobile},
		{"name-addr display name with digits", `"Desk 12" <sip:+966501234567@pbx>`, "", "+966501234567", "SA", TypeMobile},
		{"angle brackets only", "<sip:+966501234567@pbx>", "", "+966501234567", "SA", TypeMobile},
		{"tel global", "tel:+44-7400-123456", "", "+447400123456", "GB", TypeMobile},
		{"tel global with stray phone-context", "tel:+44-7400-123456;phone-context=+44", "", "+447400123456", "GB", TypeMobile},
		{"tel local with global phone-context", "tel:7400123456;phone-context=+44", "", "+447400123456", "GB", TypeMobile},
		{"tel local with domain phone-context", "tel:0501234567;phone-context=pbx.example.com", "SA", "+966501234567", "SA", TypeMobile},
		{"tel in name-addr", `<tel:+966501234567>`, "", "+966501234567", "SA", TypeMobile},
		{"arabic-indic digits", "+٩٦٦٥٠١٢٣٤٥٦٧", "", "+966501234567", "SA", TypeMobile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Normalize(tc.raw, tc.region)
			if err != nil {
				t.Fatalf("Normalize(%q, %q): %v", tc.raw, tc.region, err)
			}
			if n.E164 != tc.e164 || n.Region != tc.nreg || n.Type != tc.typ || !n.Valid || n.Raw != tc.raw {
				t.Errorf("Normalize(%q, %q) = %+v, want e164 %s region %s type %s valid", tc.raw, tc.region, n, tc.e164, tc.nreg, tc.typ)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		kind   error
		detail string // substring of the message
	}{
		{"empty", "", "SA", ErrEmpty, "nothing"},
		{"blank", "   ", "SA", ErrEmpty, "nothing"},
		{"word", "banana", "SA", ErrJunk, "no digits"},
		{"anonymous sip", "sip:anonymous@anonymous.invalid", "SA", ErrJunk, "no digits"},
		{"letters among digits", "+44 7400 123456 ext 12", "", ErrJunk, "letters"},
		{"vanity number", "1-800-FLOWERS", "US", ErrJunk, "letters"},
		{"sip without user", "sip:@pbx", "", ErrJunk, "user"},
		{"unknown scheme", "mailto:+966501234567", "", ErrJunk, "scheme"},
		{"unterminated name-addr", `"Bob" <sip:+966501234567@pbx`, "", ErrJunk, "<"},
		{"too short", "123", "SA", ErrTooShort, ""},
		{"one digit", "+9", "", ErrTooShort, ""},
		{"too short for country", "+966 50 123 456", "", ErrTooShort, "+966"},
		{"too long for country", "+96650123456789", "", ErrTooLong, "+966"},
		{"far too long", "+96650123456789012345678", "", ErrTooLong, ""},
		{"huge input", "+" + strings.Repeat("1", 600), "", ErrTooLong, "characters"},
		{"invalid for region", "050 123 456 7", "GB", ErrInvalid, "region GB"},
		{"invalid prefix", "+966 90 123 4567", "", ErrInvalid, "region SA"},
		{"unknown country code", "+999 123456789", "", ErrInvalid, "country code"},
		{"national without region", "0501234567", "", ErrInvalid, "no default region"},
		{"unknown region", "0501234567", "XX", ErrInvalid, "region XX"},
		{"drama range is not assigned", "+447700900123", "", ErrInvalid, "region GB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Normalize(tc.raw, tc.region)
			if err == nil {
				t.Fatalf("Normalize(%q, %q) = %+v, want error %v", tc.raw, tc.region, n, tc.kind)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Normalize(%q, %q) error %q, want kind %q", tc.raw, tc.region, err, tc.kind)
			}
			var ne *NumberError
			if !errors.As(err, &ne) {
				t.Fatalf("error %T is not a *NumberError", err)
			}
			if !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q does not mention %q", err, tc.detail)
			}
			if n.Valid {
				t.Errorf("Valid is true on error")
			}
			if d := strings.Trim(tc.raw, " +"); len(d) > 6 && strings.Contains(err.Error(), d) {
				t.Errorf("error %q repeats the raw input (it may be logged)", err)
			}
		})
	}
}

func TestNormalizeInvalidKeepsE164(t *testing.T) {
	n, err := Normalize("+447700900123", "")
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	if n.E164 != "+447700900123" || n.Region != "GB" {
		t.Errorf("invalid number not filled in: %+v", n)
	}
}

func TestIsE164(t *testing.T) {
	for s, want := range map[string]bool{
		"+966501234567": true, "+12025550123": true, "966501234567": false, "+0501234567": false,
		"+96650123456a": false, "+1234567": true, "+123456": false, "+1234567890123456": false, "": false, "+-12345678": false,
	} {
		if got := IsE164(s); got != want {
			t.Errorf("IsE164(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzNormalize checks invariants on arbitrary input; testdata/fuzz/FuzzNormalize holds the
// seed corpus, run by plain `go test`.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+966501234567", "0501234567", "sip:+447400123456@pbx;user=phone", `"A" <tel:+1-202-555-0123>`, "banana", ""} {
		f.Add(s, "SA")
	}
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := Normalize(raw, region)
		if err != nil {
			var ne *NumberError
			if !errors.As(err, &ne) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			if n.Valid {
				t.Fatalf("Valid with error %v", err)
			}
			return
		}
		if !n.Valid || !IsE164(n.E164) || n.Region == "" || !utf8.ValidString(n.E164) {
			t.Fatalf("Normalize(%q, %q) = %+v: not a valid E.164 result", raw, region, n)
		}
		// The canonical form is a fixed point.
		again, err := Normalize(n.E164, "")
		if err != nil || again.E164 != n.E164 || again.Type != n.Type {
			t.Fatalf("Normalize(%q) = %+v, %v; want the same number back", n.E164, again, err)
		}
	})
}
