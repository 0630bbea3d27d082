package ivr

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func parseRequest(t *testing.T, headers string) *sip.Request {
	t.Helper()
	raw := "INVITE sip:ivr@127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n" +
		"Call-ID: ctx@test\r\nCSeq: 1 INVITE\r\nTo: <sip:ivr@127.0.0.1>\r\n" +
		"Contact: <sip:pbx@127.0.0.1:5070>\r\n" +
		strings.ReplaceAll(headers, "\n", "\r\n") + "Content-Length: 0\r\n\r\n"
	m, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req := m.(*sip.Request)
	req.SetSource("127.0.0.1:5070")
	req.SetTransport("UDP")
	return req
}

func TestParseCallInfo(t *testing.T) {
	rules := contextRules{
		normalize:       LookupNormalizer("SA"),
		defaultLanguage: "en",
		regionLanguages: map[string]string{"SA": "ar", "AE": "ar"},
		hasLanguage:     func(l string) bool { return l == "en" || l == "ar" },
	}
	long := strings.Repeat("x", 300)
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, "X-Context-K%d: v%d\n", i, i)
	}
	tests := []struct {
		name    string
		headers string
		check   func(t *testing.T, ci CallInfo)
	}{
		{"PAI tel wins over From", "From: <sip:0500000000@pbx>;tag=1\nP-Asserted-Identity: \"Ann\" <sip:+966501234567@pbx;user=phone>, <tel:+966551112222>\n",
			func(t *testing.T, ci CallInfo) {
				if ci.CallerRaw != "+966551112222" || ci.Caller.E164 != "+966551112222" || !ci.Caller.Valid {
					t.Errorf("caller %q %+v", ci.CallerRaw, ci.Caller)
				}
			}},
		{"sip user=phone in From", "From: <sip:+971501234567@pbx;user=phone>;tag=1\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Caller.E164 != "+971501234567" || ci.Caller.Region != "AE" || ci.Language != "ar" {
					t.Errorf("caller %+v language %q", ci.Caller, ci.Language)
				}
			}},
		{"national form uses the default region", "From: \"Caller\" <sip:0501234567@pbx>;tag=1\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Caller.E164 != "+966501234567" || ci.Language != "ar" {
					t.Errorf("caller %+v language %q", ci.Caller, ci.Language)
				}
			}},
		{"tel From", "From: <tel:+44-7700-900123>;tag=1\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Caller.E164 != "+447700900123" || ci.Language != "en" {
					t.Errorf("caller %+v language %q", ci.Caller, ci.Language)
				}
			}},
		{"anonymous caller", "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Caller.Valid || ci.CallerRaw != "" || ci.Language != "en" {
					t.Errorf("caller %q %+v language %q", ci.CallerRaw, ci.Caller, ci.Language)
				}
			}},
		{"queue context", "From: <sip:+966501234567@pbx>;tag=1\nX-Queue: billing\nX-Wait-Estimate: 300\nX-Customer-Id: C-1\nX-Context-Order: 42\nx-context-plan: gold\nX-Return-To: <sip:q@pbx>\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Queue != "billing" || ci.WaitEstimate != 300 || ci.CustomerID != "C-1" || ci.ReturnTo != "<sip:q@pbx>" {
					t.Errorf("%+v", ci)
				}
				if ci.Context["Order"] != "42" || ci.Context["plan"] != "gold" || len(ci.Context) != 2 {
					t.Errorf("context %v", ci.Context)
				}
			}},
		{"bad wait estimate is -1", "From: <sip:+966501234567@pbx>;tag=1\nX-Wait-Estimate: soon\n",
			func(t *testing.T, ci CallInfo) {
				if ci.WaitEstimate != -1 {
					t.Errorf("wait %d", ci.WaitEstimate)
				}
			}},
		{"negative wait estimate is -1", "From: <sip:+966501234567@pbx>;tag=1\nX-Wait-Estimate: -5\n",
			func(t *testing.T, ci CallInfo) {
				if ci.WaitEstimate != -1 {
					t.Errorf("wait %d", ci.WaitEstimate)
				}
			}},
		{"oversized values are dropped", "From: <sip:+966501234567@pbx>;tag=1\nX-Queue: " + long + "\nX-Context-Big: " + long + "\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Queue != "" || len(ci.Context) != 0 {
					t.Errorf("queue %q context %v", ci.Queue, ci.Context)
				}
			}},
		{"context names outside the token set are dropped", "From: <sip:+966501234567@pbx>;tag=1\nX-Context-A\x01b: ctl\nX-Context-Del\x7f: del\nX-Context-Ok.1_~: fine\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Context["Ok.1_~"] != "fine" || len(ci.Context) != 1 {
					t.Errorf("context %q", ci.Context)
				}
			}},
		{"at most 32 context headers", "From: <sip:+966501234567@pbx>;tag=1\n" + many.String(),
			func(t *testing.T, ci CallInfo) {
				if len(ci.Context) != maxContextHeaders {
					t.Errorf("%d context headers kept", len(ci.Context))
				}
			}},
		{"User-to-User hex", "From: <sip:+966501234567@pbx>;tag=1\nUser-to-User: 4f726465723d3432;encoding=hex;purpose=isdn-uui\n",
			func(t *testing.T, ci CallInfo) {
				if ci.UserToUser != "Order=42" {
					t.Errorf("uui %q", ci.UserToUser)
				}
			}},
		{"User-to-User bad hex ignored", "From: <sip:+966501234567@pbx>;tag=1\nUser-to-User: zz;encoding=hex\n",
			func(t *testing.T, ci CallInfo) {
				if ci.UserToUser != "" {
					t.Errorf("uui %q", ci.UserToUser)
				}
			}},
		{"User-to-User binary kept hex-encoded", "From: <sip:+966501234567@pbx>;tag=1\nUser-to-User: 0001FF;encoding=hex\n",
			func(t *testing.T, ci CallInfo) {
				if ci.UserToUser != "0001ff;encoding=hex" {
					t.Errorf("uui %q, want 0001ff;encoding=hex", ci.UserToUser)
				}
			}},
		{"X-Language primary subtag", "From: <sip:+447700900123@pbx>;tag=1\nX-Language: ar-EG\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Language != "ar" {
					t.Errorf("language %q", ci.Language)
				}
			}},
		{"X-Language without prompts falls back to region", "From: <sip:+966501234567@pbx>;tag=1\nX-Language: fr-FR\n",
			func(t *testing.T, ci CallInfo) {
				if ci.Language != "ar" {
					t.Errorf("language %q", ci.Language)
				}
			}},
		{"region language without prompts falls back to default", "From: <sip:+966501234567@pbx>;tag=1\n",
			func(t *testing.T, ci CallInfo) {
				r := rules
				r.hasLanguage = func(l string) bool { return l == "en" }
				ci2 := parseCallInfo(parseRequest(t, "From: <sip:+966501234567@pbx>;tag=1\n"), r, slog.New(slog.DiscardHandler))
				if ci2.Language != "en" {
					t.Errorf("language %q", ci2.Language)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			ci := parseCallInfo(parseRequest(t, tc.headers), rules, log)
			tc.check(t, ci)
			if ci.CallID != "ctx@test" || ci.Source.String() != "127.0.0.1:5070" || ci.Transport != "udp" {
				t.Errorf("call id %q source %s transport %q", ci.CallID, ci.Source, ci.Transport)
			}
			// Numbers never reach the log.
			for _, n := range []string{"501234567", "551112222", "7700900123", "500000000"} {
				if strings.Contains(buf.String(), n) {
					t.Errorf("log contains a number: %s", buf.String())
				}
			}
		})
	}
}

func TestContextNameNotTokenLogged(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ci := parseCallInfo(parseRequest(t, "From: <sip:+966501234567@pbx>;tag=1\nX-Context-A\x01b: ctl\n"), contextRules{}, log)
	if len(ci.Context) != 0 {
		t.Errorf("context %q", ci.Context)
	}
	if !strings.Contains(buf.String(), "reason=\"name not a token\"") || strings.Contains(buf.String(), "\x01") {
		t.Errorf("log %q: want one line naming the reason, without the name", buf.String())
	}
}

func TestIsToken(t *testing.T) {
	for s, want := range map[string]bool{
		"Order": true, "a-b.c!d%e*f_g+h`i'j~": true, "42": true,
		"": false, "a b": false, "a\x01": false, "a\tb": false, "a:b": false, "a@b": false, "ü": false, "a\x7f": false,
	} {
		if got := isToken(s); got != want {
			t.Errorf("isToken(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseInfoDTMF(t *testing.T) {
	tests := []struct {
		name, ct, body string
		want           rune
		ok, supported  bool
	}{
		{"dtmf-relay", "application/dtmf-relay", "Signal=1\r\nDuration=160\r\n", '1', true, true},
		{"dtmf-relay spaces", "application/dtmf-relay", "Signal= #\r\nDuration= 250\r\n", '#', true, true},
		{"dtmf-relay star as 10", "application/dtmf-relay", "Signal=10\r\n", '*', true, true},
		{"dtmf", "application/dtmf", "2", '2', true, true},
		{"dtmf lower-case letter", "application/dtmf", "a", 'A', true, true},
		{"garbage signal", "application/dtmf-relay", "Signal=xyz\r\n", 0, false, true},
		{"empty keep-alive", "", "", 0, false, true},
		{"other type", "text/plain", "1", 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := sip.NewRequest(sip.INFO, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
			if tc.ct != "" {
				req.AppendHeader(sip.NewHeader("Content-Type", tc.ct))
			}
			req.SetBody([]byte(tc.body))
			d, ok, sup := parseInfoDTMF(req)
			if d != tc.want || ok != tc.ok || sup != tc.supported {
				t.Errorf("got %q %v %v, want %q %v %v", d, ok, sup, tc.want, tc.ok, tc.supported)
			}
		})
	}
}

func TestResultHeaderAndToken(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{Outcome{Result: "deflected"}, "deflected"},
		{Outcome{Result: "failed", Reason: "not-on-whatsapp"}, "failed;reason=not-on-whatsapp"},
		{Outcome{Result: "failed", Reason: "API Error: 131026"}, "failed;reason=api-error--131026"},
	}
	for _, tc := range tests {
		if got := resultHeader(tc.o).Value(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.o, got, tc.want)
		}
	}
}
