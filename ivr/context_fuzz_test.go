package ivr

// Fuzz target for the SIP context headers (added with the hardening tests;
// the seeds run as part of `go test`). Properties: parseCallInfo never panics on anything
// sipgo parses, every context name it keeps is an RFC 3261 token, every context value is
// bounded and printable, and a valid caller is in E.164.

import (
	"log/slog"
	"strings"
	"testing"
	"unicode"

	"github.com/emiago/sipgo/sip"
)

func FuzzParseCallInfo(f *testing.F) {
	seeds := []string{
		"From: <sip:+966501234567@pbx>;tag=1\nX-Queue: billing\nX-Wait-Estimate: 300\nX-Language: ar-SA\n",
		"From: <sip:0501234567@pbx>;tag=1\nP-Asserted-Identity: \"A\" <tel:+966501234567>, <sip:+966501234567@pbx>\n",
		"From: <sip:anonymous@anonymous.invalid>;tag=1\nX-Context-Account: ACC-7\nX-Context-Order: 42\nX-Customer-Id: C-42\n",
		"From: <sip:+44770090012@pbx>;tag=1\nUser-to-User: 56697020636f6e74657874;encoding=hex;purpose=call\n",
		"From: <sip:+1 (650) 555-1234@pbx>;tag=1\nX-Wait-Estimate: -5\nX-Wait-Estimate: 99999999999999999999\n",
		"From: <tel:+966501234567;phone-context=+966>;tag=1\nX-Language: zz-Qaaa-x-private\nX-Return-To: sip:queue@pbx\n",
		"From: <sip:%2B966501234567@pbx>;tag=1\nUser-to-User: zz;encoding=hex\nX-Context-: empty\n",
		"From: <sip:+966501234567@pbx>;tag=1\nX-Context-A\x01b: ctl\nX-Context-Tab\there: tab\nX-Context-Ok: yes\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	rules := contextRules{
		normalize:       LookupNormalizer("SA"),
		defaultLanguage: "en",
		regionLanguages: map[string]string{"SA": "ar"},
		hasLanguage:     func(l string) bool { return l == "en" || l == "ar" },
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, headers string) {
		raw := "INVITE sip:ivr@127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n" +
			"Call-ID: fuzz@test\r\nCSeq: 1 INVITE\r\nTo: <sip:ivr@127.0.0.1>\r\n" +
			strings.ReplaceAll(headers, "\n", "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
		m, err := sip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.1:5070")
		req.SetTransport("UDP")
		ci := parseCallInfo(req, rules, log)
		if ci.Caller.Valid && !strings.HasPrefix(ci.Caller.E164, "+") {
			t.Fatalf("valid caller not in E.164: %q", ci.Caller.E164)
		}
		check := func(what, v string) {
			if len(v) > 1024 {
				t.Fatalf("%s kept %d bytes", what, len(v))
			}
			for _, r := range v {
				if !unicode.IsPrint(r) && r != ' ' {
					t.Fatalf("%s kept a non-printable %q", what, r)
				}
			}
		}
		check("queue", ci.Queue)
		check("customer id", ci.CustomerID)
		check("language", ci.Language)
		for k, v := range ci.Context {
			// Names are RFC 3261 tokens (control characters in names were found by this target).
			if !isToken(k) || len(k) > 64 {
				t.Fatalf("context name %q", k)
			}
			for i := 0; i < len(k); i++ {
				if c := k[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
					t.Fatalf("context name %q holds %q, not a token character", k, c)
				}
			}
			check("context "+k, v)
		}
	})
}
