package redact

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"E.164 UK", "+447700900123", "+44770****123"},
		{"business-scoped user id", "user_id=SA.13491208655302741918", "user_id=SA.13491************918"},
		{"short business-scoped user id", "BR.1502576394655843 wrote", "BR.15025********843 wrote"},
		{"parent business-scoped user id", "US.ENT.11815799212886844830", "US.ENT.11815************830"},
		{"business-scoped user id with letters", "IN.ab12cd34ef56gh78", "IN.ab12c********h78"},
		{"a number behind two capitals", "NO.966501234567", "NO.96650****567"},
		{"short dotted code stays", "status OK.200 took 12ms", "status OK.200 took 12ms"},
		{"E.164 SA", "+966501234567", "+96650****567"},
		{"in a sentence", "caller +966501234567 waited", "caller +96650****567 waited"},
		{"two numbers", "+447700900123 then 0501234567", "+44770****123 then 050****567"},
		{"sip URI", "INVITE from sip:+447700900123@pbx;user=phone", "INVITE from sip:+44770****123@pbx;user=phone"},
		{"name-addr", `"Alice" <sip:0501234567@10.0.0.1:5060>`, `"Alice" <sip:050****567@10.0.0.1:5060>`},
		{"tel URI", "tel:+44-7700-900123;phone-context=+44", "tel:+44-770*-***123;phone-context=+44"},
		{"NANP with separators", "+1 (202) 555-0123", "+1 (202) ***-*123"},
		{"spaced", "+44 7700 900123", "+44 770* ***123"},
		{"00 prefix", "00966501234567", "00966******567"},
		{"seven digits", "5551234", "****234"},
		{"wa_id JSON", `{"wa_id":"966501234567"}`, `{"wa_id":"96650****567"}`},
		{"query string encoded plus", "GET /check?number=%2B966501234567", "GET /check?number=%2B96650****567"},
		{"key=value", "caller=966501234567", "caller=96650****567"},
		{"after non-ASCII letter", "رقم966501234567", "رقم96650****567"},
		{"in curly quotes", "“+966501234567”", "“+96650****567”"},
		{"end of sentence", "call +966501234567.", "call +96650****567."},
		{"short numbers stay", "port 5060 took 1234 ms, 3 tries", "port 5060 took 1234 ms, 3 tries"},
		{"uuid stays", "session 550e8400-e29b-41d4-a716-446655440000", "session 550e8400-e29b-41d4-a716-446655440000"},
		{"numeric-leading uuid stays", "12345678-1234-1234-abcd-123456789012", "12345678-1234-1234-abcd-123456789012"},
		{"hex id stays", "call-id a84b4c76e66710123456", "call-id a84b4c76e66710123456"},
		{"ipv4 stays", "from 192.168.100.200:5060", "from 192.168.100.200:5060"},
		{"decimal stays", "took 1.2345678s and 0.12345678", "took 1.2345678s and 0.12345678"},
		{"date stays", "on 2026-11-27 at 03:51:56", "on 2026-11-27 at 03:51:56"},
		{"rfc3339 stays", "at 2026-11-27T03:51:56.123456789Z", "at 2026-11-27T03:51:56.123456789Z"},
		{"nanosecond timestamp stays", "ts 1795743116123456789", "ts 1795743116123456789"},
		{"word suffix stays", "id x_9665012345678 and 9665012345678abc", "id x_9665012345678 and 9665012345678abc"},
		{"empty", "", ""},
		{"no digits", "hello world", "hello world"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Mask(tc.in); got != tc.want {
				t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMaskHidesAtLeastFourDigits(t *testing.T) {
	for n := minDigits; n <= maxDigits; n++ {
		in := "+" + strings.Repeat("9", n)
		got := Mask(in)
		if c := strings.Count(got, "*"); c < minMasked {
			t.Errorf("Mask(%q) = %q hides %d digits, want at least %d", in, got, c, minMasked)
		}
		if !strings.HasSuffix(got, "999") || len(got) != len(in) {
			t.Errorf("Mask(%q) = %q: tail or length changed", in, got)
		}
	}
}

func TestMaskNoAllocWhenClean(t *testing.T) {
	s := "component=ivr call_id=a84b4c76e66710 state=offered took=12ms"
	if n := testing.AllocsPerRun(100, func() { _ = Mask(s) }); n != 0 {
		t.Errorf("Mask allocates %v times on a clean string", n)
	}
}

func FuzzMask(f *testing.F) {
	for _, s := range []string{"+447700900123", "sip:+447700900123@pbx", "%2B966501234567", "1 2 3 4 5 6 7", "((((1234567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Mask(s)
		if len(got) != len(s) {
			t.Fatalf("Mask(%q) = %q: length changed", s, got)
		}
		if again := Mask(got); again != got {
			t.Fatalf("Mask not idempotent: %q → %q → %q", s, got, again)
		}
	})
}

func BenchmarkMask(b *testing.B) {
	b.Run("clean", func(b *testing.B) {
		s := "component=deflect session_id=550e8400-e29b-41d4-a716-446655440000 state=offered"
		for b.Loop() {
			_ = Mask(s)
		}
	})
	b.Run("number", func(b *testing.B) {
		s := "INVITE from sip:+447700900123@pbx;user=phone queue=sales"
		for b.Loop() {
			_ = Mask(s)
		}
	})
}

func TestMaskWAMID(t *testing.T) {
	const id = "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgSNjI1REQ0MDAwMDAwMDFDOTJFAA=="
	a, b := Mask("sent "+id+" ok"), Mask("status for "+id)
	if strings.Contains(a, "HBgMOTY2") || strings.Contains(b, "OTY2NTAx") {
		t.Fatalf("wamid (base64 of the number) not masked: %q / %q", a, b)
	}
	if !strings.HasPrefix(a, "sent wamid#") || !strings.HasSuffix(a, " ok") || a[len("sent "):len(a)-3] != b[len("status for "):] {
		t.Fatalf("masked ids must correlate: %q / %q", a, b)
	}
	if Mask("wamid.AAA") == Mask("wamid.AAB") {
		t.Fatal("different ids must mask differently")
	}
}
