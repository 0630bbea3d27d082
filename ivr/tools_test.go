package ivr

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// TestSippPBXStandIn has sipp play both sides of the contact centre for the SIP pattern with
// on_decline: refer: a PBX dials deflectd with the caller's context, the caller presses 2,
// deflectd REFERs the call to X-Return-To, the PBX transfers the caller to the queue (a second
// sipp) with the headers the Refer-To URI carries, and the queue checks it got the context back.
func TestSippPBXStandIn(t *testing.T) {
	sipp := testkit.RequireTool(t, "sipp")
	testkit.RequireFile(t, "/usr/share/sip-tester/dtmf_2833_2.pcap")
	g := startGateway(t, func(c *Config) { c.OnDecline = "refer" })
	g.dec.setDecide(func(context.Context, *CallInfo) (Decision, error) {
		return Decision{Offer: true, SessionID: "S-pbx-1"}, nil
	})
	dir := t.TempDir()
	scen := func(name string) string {
		p, err := filepath.Abs(filepath.Join("..", "deploy", "loadtest", "sipp", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	queuePort := testkit.FreeUDPPort(t, false)
	queueLog := filepath.Join(dir, "queue-messages.log")
	queue := exec.CommandContext(ctx, sipp, "-sf", scen("queue-uas.xml"), "-m", "1", "-nostdin",
		"-i", "127.0.0.1", "-p", itoa(queuePort), "-mi", "127.0.0.1",
		"-mp", itoa(testkit.FreeUDPPort(t, true)), "-trace_msg", "-message_file", queueLog,
		"-timeout", "45s", "-timeout_error")
	queue.Dir = dir
	var queueOut strings.Builder
	queue.Stdout, queue.Stderr = &queueOut, &queueOut
	if err := queue.Start(); err != nil {
		t.Fatal(err)
	}

	gw := g.Addr("udp")
	pbx := exec.CommandContext(ctx, sipp, gw.String(), "-sf", scen("pbx-refer.xml"), "-s", "ivr",
		"-m", "1", "-l", "1", "-nostdin", "-i", "127.0.0.1", "-p", itoa(testkit.FreeUDPPort(t, false)),
		"-mi", "127.0.0.1", "-mp", itoa(testkit.FreeUDPPort(t, true)),
		"-key", "queue_port", itoa(queuePort), "-key", "gw_host", gw.Addr().String(),
		"-key", "gw_port", itoa(int(gw.Port())),
		"-timeout", "45s", "-timeout_error", "-max_recv_loops", "1000")
	pbx.Dir = dir
	if out, err := pbx.CombinedOutput(); err != nil {
		t.Fatalf("sipp as the PBX: %v\n%s", err, tail(out, 4000))
	}
	if err := queue.Wait(); err != nil {
		t.Fatalf("sipp as the queue: %v\n%s", err, tail([]byte(queueOut.String()), 4000))
	}

	o := g.dec.waitFinish(t)
	if o.Result != ResultDeclined {
		t.Errorf("outcome %+v, want declined", o)
	}
	if got := strings.Join(o.Path, ","); !strings.Contains(got, "refer,refer-ok") {
		t.Errorf("path %s: the transfer was not confirmed", got)
	}
	msgs, err := os.ReadFile(queueLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"X-Deflect-Session: S-pbx-1", "X-Queue: billing", "X-Customer-Id: C-1001"} {
		if !strings.Contains(string(msgs), want) {
			t.Errorf("the queue's INVITE lacks %q", want)
		}
	}
}
