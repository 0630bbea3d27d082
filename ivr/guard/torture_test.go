package guard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/configs"
)

// TestTortureSemantics runs RFC 4475 messages (testdata/README.md) through sipgo's parser and the
// guard: the ones sipgo parses but RFC 4475 says to refuse get the RFC's answer from the guard;
// the legal ones pass.
func TestTortureSemantics(t *testing.T) {
	tests := []struct {
		file string
		rfc  string
		code int // 0 = allowed
	}{
		{"badvers.dat", "RFC 4475: unknown protocol version → 505", 505},
		{"mcl01.dat", "RFC 4475: multiple Content-Length values → 400", 400},
		{"multi01.dat", "RFC 4475: multiple values in single-value fields → 400", 400},
		{"mismatch01.dat", "RFC 4475: method mismatch in Request-Line and CSeq → 400", 400},
		{"bext01.dat", "RFC 4475: OPTIONS with unknown Require → 420", 420},
		{"zeromf.dat", "RFC 4475: Max-Forwards 0 at the endpoint: processed", 0},
		{"unkscm.dat", "RFC 4475: unknown URI scheme in a header field: processed", 0},
		{"lwsdisp.dat", "RFC 4475: display name without LWS: valid", 0},
		{"esc01.dat", "RFC 4475: escaped characters: valid", 0},
		{"transports.dat", "RFC 4475: many Via transports: valid", 0},
	}
	g, _ := mustGuard(t, configs.Default().SIP, Options{})
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sip.NewParser().ParseSIP(data)
			if err != nil {
				t.Fatalf("sipgo does not parse it (the test expects it to): %v", err)
			}
			req, ok := msg.(*sip.Request)
			if !ok {
				t.Fatalf("not a request: %T", msg)
			}
			req.SetSource("127.0.0.3:5060")
			v := g.Check(req)
			switch {
			case tc.code == 0 && v.Action != Allow:
				t.Fatalf("%s: got %v %d %q, want allowed", tc.rfc, v.Action, v.Code, v.Why)
			case tc.code != 0 && (v.Action != Respond || v.Code != tc.code):
				t.Fatalf("%s: got %v %d %q, want %d", tc.rfc, v.Action, v.Code, v.Why, tc.code)
			}
			if tc.code != 0 {
				res := g.Response(req, v)
				if res.SipVersion != "SIP/2.0" {
					t.Errorf("response version %q", res.SipVersion)
				}
				if tc.code == 420 && res.GetHeader("Unsupported") == nil {
					t.Error("420 without Unsupported")
				}
			}
		})
	}
}
