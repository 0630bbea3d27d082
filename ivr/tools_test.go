package ivr

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

// TestSippScenarios runs the functional scenarios of deploy/loadtest/sipp against an
// in-process gateway, one call each; sipp's exit status says whether the call went as the
// scenario describes (each checks X-Deflect-Result with check_it).
func TestSippScenarios(t *testing.T) {
	sipp := testkit.RequireTool(t, "sipp")
	testkit.RequireFile(t, "/usr/share/sip-tester/dtmf_2833_1.pcap")
	tests := []struct {
		scenario string
		want     Outcome
	}{
		{"press-1.xml", Outcome{Result: ResultDeflected}},
		{"press-2.xml", Outcome{Result: ResultDeclined}},
		{"no-digit.xml", Outcome{Result: ResultTimeout}},
		{"hangup-during-offer.xml", Outcome{Result: ResultAbandoned}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			g := startGateway(t)
			scen, err := filepath.Abs(filepath.Join("..", "deploy", "loadtest", "sipp", tc.scenario))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, sipp, g.Addr("udp").String(),
				"-sf", scen, "-s", "ivr", "-m", "1", "-l", "1", "-nostdin",
				"-i", "127.0.0.1", "-p", itoa(testkit.FreeUDPPort(t, false)),
				"-mi", "127.0.0.1", "-mp", itoa(testkit.FreeUDPPort(t, true)),
				"-timeout", "45s", "-timeout_error", "-max_recv_loops", "1000")
			cmd.Dir = t.TempDir()
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("sipp %s: %v\n%s", tc.scenario, err, tail(out, 3000))
			}
			o := g.dec.waitFinish(t)
			if o.Result != tc.want.Result {
				t.Errorf("outcome %+v, want %s", o, tc.want.Result)
			}
			ci := g.dec.calls()[0]
			if ci.Queue != "billing" || ci.Caller.E164 != "+966501234567" {
				t.Errorf("context from sipp: %+v", ci)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
