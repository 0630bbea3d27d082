package e2e

import (
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var retryAfter = regexp.MustCompile(`(?im)^Retry-After:[ \t]*(\d+)`)

// TestDrainUnderLoad: SIGTERM while 20 calls are up. OPTIONS and new INVITEs get 503 (INVITE
// with Retry-After) at once, so a dispatcher moves traffic elsewhere; every call in progress
// still ends the way the caller chose; then the process exits 0. Zero calls lost.
func TestDrainUnderLoad(t *testing.T) {
	const calls = 20
	g := startGateway(t, "drain", "DEFLECTD_SIP_RETRY_AFTER=7s", "DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=6s")
	var wg sync.WaitGroup
	results := make([]string, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := callOpts("sip:queue@"+g.UDP, caller(200+i))
			o.PressAfter = 2500 * time.Millisecond // calls stay up well past the SIGTERM
			rep := call(t, o)
			results[i] = rep.Result
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for g.metric("deflectd_ivr_active_calls") < calls {
		if time.Now().After(deadline) {
			t.Fatalf("only %v calls up after 10 s", g.metric("deflectd_ivr_active_calls"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.signal(syscall.SIGTERM)
	termAt := time.Now()
	g.waitReadyz(503, 2*time.Second) // the signal is handled asynchronously
	t.Logf("/readyz 503 %s after SIGTERM", time.Since(termAt).Round(time.Millisecond))

	probe := newProbe(t, "127.0.0.1", g.UDP)
	opt := probe.response("OPTIONS", "kamailio", 2*time.Second)
	if !strings.HasPrefix(opt, "SIP/2.0 503") {
		t.Errorf("OPTIONS while draining: %.40q, want 503", opt)
	}
	inv := probe.response("INVITE", "pbx", 2*time.Second)
	if !strings.HasPrefix(inv, "SIP/2.0 503") {
		t.Errorf("INVITE while draining: %.40q, want 503", inv)
	} else if m := retryAfter.FindStringSubmatch(inv); m == nil || m[1] != "7" {
		t.Errorf("503 to INVITE without Retry-After: 7:\n%s", inv)
	}

	wg.Wait()
	lost := 0
	for i, r := range results {
		if r != "deflected" {
			lost++
			t.Errorf("call %d ended %q during the drain, want deflected", i, r)
		}
	}
	if code := g.wait(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after drain, want 0", code)
	}
	t.Logf("drain: %d calls up at SIGTERM, %d lost, process exited %.1f s after SIGTERM", calls, lost, time.Since(termAt).Seconds())
}

// TestSecondSignalExitsAtOnce: an operator's second Ctrl-C does not wait for the drain.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	g := startGateway(t, "second-signal", "DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=20s")
	done := make(chan struct{})
	go func() {
		defer close(done)
		o := callOpts("sip:queue@"+g.UDP, caller(300))
		o.Press, o.Timeout = "", 3*time.Second // stays up, waiting for a digit
		call(t, o)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for g.metric("deflectd_ivr_active_calls") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("call not up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.signal(syscall.SIGTERM)
	g.waitReadyz(503, 2*time.Second)
	if !g.running() {
		t.Fatal("exited on the first signal with a call up")
	}
	at := time.Now()
	g.signal(syscall.SIGTERM)
	if code := g.wait(3 * time.Second); code == 0 {
		t.Errorf("exit code 0 after a second signal; want non-zero")
	}
	t.Logf("second signal: exited %s after it", time.Since(at).Round(time.Millisecond))
	<-done
}
