package ivr

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// needTool returns the path of an external tool; missing, it fails on CI (which installs it)
// and skips elsewhere.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required on CI: %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// freeUDPPorts returns a port p where p and p+2 are free on loopback (RTP media: sipp may use
// both), or a single free port when pair is false.
func freeUDPPort(t *testing.T, pair bool) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		if !pair {
			c.Close()
			return p
		}
		if p%2 != 0 || p > 65000 {
			c.Close()
			continue
		}
		c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p + 2})
		c.Close()
		if err != nil {
			continue
		}
		c2.Close()
		return p
	}
	t.Fatal("no free udp ports")
	return 0
}

// TestSippScenarios runs the functional scenarios of deploy/loadtest/sipp against an
// in-process gateway, one call each; sipp's exit status says whether the call went as the
// scenario describes (each checks X-Deflect-Result with check_it).
func TestSippScenarios(t *testing.T) {
	sipp := needTool(t, "sipp")
	if _, err := os.Stat("/usr/share/sip-tester/dtmf_2833_1.pcap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sip-tester DTMF pcaps missing")
		}
		t.Skip("sip-tester DTMF pcaps missing")
	}
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
				"-i", "127.0.0.1", "-p", itoa(freeUDPPort(t, false)),
				"-mi", "127.0.0.1", "-mp", itoa(freeUDPPort(t, true)),
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
