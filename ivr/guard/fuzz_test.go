package guard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/configs"
)

// FuzzCheck: whatever sipgo parses, the guard decides without panicking, never answers an ACK,
// and answers only with the codes it documents. Seeds: the RFC 4475 messages in testdata.
func FuzzCheck(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.dat")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	cfg := configs.Default().SIP
	g, err := New(cfg, nil, Options{})
	if err != nil {
		f.Fatal(err)
	}
	codes := map[int]bool{400: true, 420: true, 505: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		req, ok := m.(*sip.Request)
		if !ok {
			return
		}
		req.SetSource("127.0.0.3:5060")
		v := g.Check(req)
		switch v.Action {
		case Allow, Drop:
		case Respond:
			if req.IsAck() {
				t.Fatal("answered an ACK")
			}
			if !codes[v.Code] {
				t.Fatalf("undocumented code %d", v.Code)
			}
			if res := g.Response(req, v); res.StatusCode != v.Code {
				t.Fatalf("response %d for verdict %d", res.StatusCode, v.Code)
			}
		default:
			t.Fatalf("unknown action %v", v.Action)
		}
	})
}
