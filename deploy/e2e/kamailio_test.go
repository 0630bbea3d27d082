package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/deploy"
	"github.com/deflectd/deflectd/deploy/testkit"
)

// startKamailio runs the shipped deploy/kamailio/kamailio.cfg in the foreground on a free
// loopback port with a dispatcher list naming targets, and waits until it answers OPTIONS. A
// port taken between our check and Kamailio's bind (other tests run alongside) is retried.
func startKamailio(t *testing.T, targets ...string) string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		addr, err := tryKamailio(t, targets...)
		if err == nil {
			return addr
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatal(err)
		}
		t.Logf("kamailio attempt %d: port taken, retrying", attempt)
	}
}

func tryKamailio(t *testing.T, targets ...string) (string, error) {
	t.Helper()
	bin := testkit.RequireTool(t, "kamailio")
	dir := t.TempDir()
	var list strings.Builder
	list.WriteString("# setid destination flags priority attributes\n")
	for i, tg := range targets {
		fmt.Fprintf(&list, "1 sip:%s 0 0 duid=deflectd-%c\n", tg, 'a'+i)
	}
	dsList := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(dsList, []byte(list.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreeUDPTCPPort(t)
	cfg := deploy.KamailioConfig(t, "../kamailio/kamailio.cfg", "127.0.0.1", port, dsList)
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-DD", "-E", "-Y", run, "-f", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	var mu sync.Mutex
	var lines []string
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if os.Getenv("E2E_LOG") != "" {
				fmt.Fprintf(os.Stderr, "[kamailio] %s\n", sc.Text())
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its children too
		<-exited
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			mu.Lock()
			t.Logf("kamailio log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			mu.Unlock()
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if newProbe(t, "127.0.0.1", addr).ask("OPTIONS", "e2e", 300*time.Millisecond) {
			return addr, nil
		}
		select {
		case <-exited:
			mu.Lock()
			defer mu.Unlock()
			return "", fmt.Errorf("kamailio exited:\n%s", strings.Join(lines, "\n"))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return "", errors.New("kamailio not answering OPTIONS after 10 s")
		}
	}
}

// sippCalls runs n deflection calls (deploy/loadtest/sipp/load-deflect.xml: press 1, BYE with
// X-Deflect-Result: deflected required) at rate per second through target; distinct callers.
// It returns sipp's exit error (nil = every call succeeded) and its output.
func sippCalls(t *testing.T, target string, n, first int, rate float64) (error, string) {
	t.Helper()
	bin := testkit.RequireTool(t, "sipp")
	testkit.RequireFile(t, "/usr/share/sip-tester/dtmf_2833_1.pcap")
	dir := t.TempDir()
	var csv strings.Builder
	csv.WriteString("SEQUENTIAL\n")
	for i := range n {
		csv.WriteString(caller(first+i) + "\n")
	}
	callers := filepath.Join(dir, "callers.csv")
	if err := os.WriteFile(callers, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	scen, err := filepath.Abs("../loadtest/sipp/load-deflect.xml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, target, "-sf", scen, "-inf", callers,
		"-m", strconv.Itoa(n), "-r", strconv.FormatFloat(rate, 'f', -1, 64), "-l", strconv.Itoa(n), "-d", "600",
		"-nostdin", "-i", "127.0.0.1", "-p", strconv.Itoa(testkit.FreeUDPPort(t, false)),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(testkit.FreeUDPPort(t, true)),
		"-timeout", "80s", "-timeout_error", "-max_recv_loops", "1000")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return err, string(out)
}

// served is how many calls an instance answered (200 to INVITE).
func served(g *gateway) float64 {
	return g.metric("deflectd_ivr_invite_responses_total", `code="200"`)
}

// TestKamailioDispatcher: Kamailio's dispatcher (the shipped config) in front of two deflectd
// instances sharing one Redis. sipp calls through it reach both; then one instance is drained
// (SIGTERM) in the middle of a second batch, and every call still succeeds, the new ones on the
// other instance.
func TestKamailioDispatcher(t *testing.T) {
	testkit.RequireTool(t, "sipp")
	url := redistest.Start(t)
	shared := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url,
		"DEFLECTD_STORE_REDIS_KEY_PREFIX=" + redistest.Prefix(t), "DEFLECTD_SIP_DRAIN_TIMEOUT=30s",
		"DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=5s"}
	a := startGateway(t, "deflectd-a", shared...)
	b := startGateway(t, "deflectd-b", shared...)
	edge := startKamailio(t, a.UDP, b.UDP)

	// Batch 1: 10 calls, round robin.
	if err, out := sippCalls(t, edge, 10, 500, 5); err != nil {
		t.Fatalf("sipp through kamailio: %v\n%s", err, tail(out, 2500))
	}
	sa, sb := served(a), served(b)
	t.Logf("batch 1: instance a served %v, b served %v", sa, sb)
	if sa < 1 || sb < 1 || sa+sb != 10 {
		t.Fatalf("calls not spread over both instances: a %v, b %v (want both > 0, sum 10)", sa, sb)
	}

	// Batch 2: 20 calls at 4/s; a is drained 1.5 s in, with calls up on it.
	done := make(chan struct{})
	var sippErr error
	var sippOut string
	go func() { defer close(done); sippErr, sippOut = sippCalls(t, edge, 20, 600, 4) }()
	time.Sleep(1500 * time.Millisecond)
	aAtTerm := served(a)
	a.signal(syscall.SIGTERM)
	<-done
	if sippErr != nil {
		t.Fatalf("sipp during the drain of a: %v\n%s", sippErr, tail(sippOut, 2500))
	}
	code := a.wait(30 * time.Second)
	sb2 := served(b)
	t.Logf("batch 2: a served %v before its SIGTERM, b served %v; a exited %d", aAtTerm-sa, sb2-sb, code)
	if code != 0 {
		t.Errorf("a exited %d after its drain", code)
	}
	// a may answer a call between our read of its counter and the signal (slack 1); every
	// other call of the batch is b's, and sipp's exit status says none failed.
	if sb2-sb < 20-(aAtTerm-sa)-1 {
		t.Errorf("after a's SIGTERM, b served only %v of the remaining calls", sb2-sb)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// TestKamailioSigkillUnderLoad: two instances on one Redis behind the shipped Kamailio config;
// one is killed with SIGKILL while calls run through it. Its calls in progress are lost with it
// (the PBX sees them end without a result: the caller's leg times out and goes back to the queue
// by the dialplan's failure branch); every later call is served by the survivor; the survivor
// ends the dead instance's sessions (reconciliation); no customer gets a template twice.
func TestKamailioSigkillUnderLoad(t *testing.T) {
	testkit.RequireTool(t, "sipp")
	url := redistest.Start(t)
	graph := newGraphRecorder(t, 20*time.Millisecond)
	shared := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url,
		"DEFLECTD_STORE_REDIS_KEY_PREFIX=" + redistest.Prefix(t), "DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=5s",
		"DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL=" + graph.srv.URL,
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=e2e-token", "DEFLECTD_WHATSAPP_APP_SECRET=" + e2eAppSecret,
		"DEFLECTD_WHATSAPP_VERIFY_TOKEN=e2e-verify", "DEFLECTD_DEFLECT_ON_NO_STATUS=sent",
		// Orphans are looked for quickly here: calls last at most 10 s, plus 1 s of grace.
		"DEFLECTD_SIP_MAX_CALL_DURATION=10s", "DEFLECTD_DEFLECT_RECONCILE_GRACE=1s", "DEFLECTD_DEFLECT_RECONCILE_INTERVAL=2s"}
	a := startGateway(t, "deflectd-a", shared...)
	b := startGateway(t, "deflectd-b", shared...)
	edge := startKamailio(t, a.UDP, b.UDP)

	// 20 calls at 4/s (deploy/loadtest/crash.sh runs more: CRASH_CALLS, CRASH_RATE); a is killed
	// 2 s in, with calls up on it.
	calls, rate := envInt("CRASH_CALLS", 20), envInt("CRASH_RATE", 4)
	done := make(chan struct{})
	var sippOut string
	go func() { defer close(done); _, sippOut = sippCalls(t, edge, calls, 700, float64(rate)) }()
	time.Sleep(2 * time.Second)
	aAtKill := served(a)
	a.signal(syscall.SIGKILL)
	killed := time.Now()
	<-done
	t.Logf("a served %v calls before SIGKILL; sipp:\n%s", aAtKill, tail(sippOut, 600))

	// After the dispatcher's probing noticed (2 s pings): every call succeeds, on b.
	time.Sleep(time.Until(killed.Add(5 * time.Second)))
	before := served(b)
	if err, out := sippCalls(t, edge, 10, 700+calls+10, 5); err != nil {
		t.Fatalf("calls after a's death: %v\n%s", err, tail(out, 2500))
	}
	if got := served(b) - before; got != 10 {
		t.Errorf("b served %v of the 10 calls after a's death", got)
	}
	// a's sessions are ended by b once a's lease expired (6 s) and the calls' 10 s + 1 s passed.
	if aAtKill > 0 {
		deadline := time.Now().Add(40 * time.Second)
		for b.metric("deflectd_deflect_reconciled_total") < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("b reconciled none of a's sessions within 40 s")
			}
			time.Sleep(500 * time.Millisecond)
		}
		// When: the first reconciliation's log line (the loop above may have started late).
		var at time.Time
		b.mu.Lock()
		for _, l := range b.lines {
			var rec struct {
				Time time.Time `json:"time"`
				Msg  string    `json:"msg"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && strings.HasPrefix(rec.Msg, "session reconciled") {
				at = rec.Time
				break
			}
		}
		b.mu.Unlock()
		t.Logf("b reconciled %v sessions of a, the first %s after the kill (lease 6 s, calls at most 10 s + 1 s)",
			b.metric("deflectd_deflect_reconciled_total"), at.Sub(killed).Round(100*time.Millisecond))
	}
	for to, n := range graph.counts() {
		if n > 1 {
			t.Errorf("%s got %d templates", to, n)
		}
	}
}

// envInt reads a positive integer from the environment (the load scripts' knobs), else def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
