package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
)

// TestE2ENeverOfferWhatCannotBeSent: sipp brings callers at twice the number's send rate for
// longer than the confirmation window, and all press 1. Every caller who is offered is deflected;
// the excess is refused before the answer with whatsapp-busy; none is told the send failed
// (admission.xml fails a call that ends any other way, so sipp's exit status checks each call).
func TestE2ENeverOfferWhatCannotBeSent(t *testing.T) {
	t.Parallel()
	sipp := testkit.RequireTool(t, "sipp")
	testkit.RequireFile(t, "/usr/share/sip-tester/dtmf_2833_1.pcap")
	const (
		throughput = 5 // messages per second
		rate       = 2 * throughput
		calls      = 60 // at 10 per second: 2x the send rate for 6 s, twice the 3 s window
	)
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.Throughput = throughput
		c.Deflect.OnNoStatus = "failed"
	})
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := range calls {
		fmt.Fprintf(&csv, "+96650400%04d\n", i)
	}
	callers := filepath.Join(dir, "callers.csv")
	if err := os.WriteFile(callers, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	scen, err := filepath.Abs(filepath.Join("..", "..", "deploy", "loadtest", "sipp", "admission.xml"))
	if err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "sipp.log")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, g.sip.Addr("udp").String(), "-sf", scen, "-inf", callers,
		"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(calls), "-nostdin",
		"-i", "127.0.0.1", "-p", strconv.Itoa(testkit.FreeUDPPort(t, false)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(testkit.FreeUDPPort(t, true)),
		"-trace_logs", "-log_file", logFile, "-timeout", "80s", "-timeout_error", "-max_recv_loops", "1000")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp: a call ended other than deflected or refused busy: %v\n%s", err, tailString(out, 4000))
	}
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// One line per call: "deflected <X-Deflect-Result of the BYE>" or "busy <of the 480>".
	var deflected, busy int
	for _, line := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		switch f := strings.Fields(line); {
		case len(f) == 2 && f[0] == "deflected" && f[1] == "deflected":
			deflected++
		case len(f) == 2 && f[0] == "busy" && f[1] == "ineligible;reason=whatsapp-busy":
			busy++
		default:
			t.Errorf("sipp logged %q", line)
		}
	}
	t.Logf("%d calls at %d/s, throughput %d/s: %d deflected, %d refused busy", calls, rate, throughput, deflected, busy)
	if deflected+busy != calls {
		t.Errorf("deflected %d + busy %d != %d calls", deflected, busy, calls)
	}
	// The bucket admits its burst (5) and 5 per second over the 6 s of arrivals: about 35.
	if deflected < 25 || busy < 10 {
		t.Errorf("deflected %d, busy %d: want most offered at the send rate and the excess refused", deflected, busy)
	}
}

func tailString(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
