package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
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
	"github.com/deflectd/deflectd/ivr"
)

const adminToken = "e2e-admin-token-0123"

// build is the deflectd binary under test, built once per test binary (without -race: it is
// the product, not the test, that runs under load here).
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := redistest.Main(m)
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary returns the path of the deflectd binary (DEFLECTD_E2E_BIN, else built from the module).
func binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv("DEFLECTD_E2E_BIN"); p != "" {
			build.path = p
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			build.err = fmt.Errorf("find go: %w", err)
			return
		}
		root, err := filepath.Abs("../..")
		if err != nil {
			build.err = err
			return
		}
		if build.dir, err = os.MkdirTemp("", "deflectd-e2e-"); err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(build.dir, "deflectd")
		cmd := exec.Command(goBin, "build", "-o", build.path, "./cmd/deflectd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/deflectd: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// gateway is one running deflectd process.
type gateway struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	HTTP, UDP, TCP string // bound addresses, from its "deflectd serving" log line
	Instance       string

	mu     sync.Mutex
	lines  []string
	exited chan struct{}
	state  *os.ProcessState
}

// baseEnv is the embedded default on loopback port 0, with short prompts and timers; the
// caller's env entries (KEY=value) override it.
func baseEnv(t testing.TB) []string {
	prompts, err := filepath.Abs("testdata/prompts")
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"DEFLECTD_SIP_LISTEN=udp://127.0.0.1:0,tcp://127.0.0.1:0",
		"DEFLECTD_HTTP_LISTEN=127.0.0.1:0",
		"DEFLECTD_API_ADMIN_TOKEN=" + adminToken,
		"DEFLECTD_LOG_FORMAT=json",
		"DEFLECTD_LOG_LEVEL=info",
		"DEFLECTD_IVR_PROMPTS_DIR=" + prompts,
		"DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=1500ms",
		"DEFLECTD_IVR_OFFER_REPEATS=1",
		"DEFLECTD_DEFLECT_CONFIRM_TIMEOUT=3s",
		"DEFLECTD_DEFLECT_COOLDOWN=1s", // the same caller may call again within a test
		"DEFLECTD_DEFLECT_MAX_OFFERS_PER_DAY=1000",
		"DEFLECTD_WHATSAPP_SANDBOX_STATUS_DELAY=50ms",
		"DEFLECTD_SIP_DRAIN_TIMEOUT=20s",
	}
}

// startGateway runs deflectd serve with env on top of baseEnv and waits until /readyz is 200.
func startGateway(t testing.TB, name string, env ...string) *gateway {
	t.Helper()
	bin := binary(t)
	g := &gateway{t: t, name: name, exited: make(chan struct{})}
	g.cmd = exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DEFLECTD_") {
			g.cmd.Env = append(g.cmd.Env, kv)
		}
	}
	g.cmd.Env = append(g.cmd.Env, baseEnv(t)...)
	g.cmd.Env = append(g.cmd.Env, env...)
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	stderr, err := g.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	g.cmd.Stdout = io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.lines = append(g.lines, line)
			g.mu.Unlock()
			if os.Getenv("E2E_LOG") != "" {
				fmt.Fprintf(os.Stderr, "[%s] %s\n", name, line)
			}
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "deflectd serving" {
				select {
				case serving <- rec:
				default:
				}
			}
		}
		g.state, _ = g.cmd.Process.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-g.exited:
		default:
			_ = g.cmd.Process.Kill()
			<-g.exited
		}
		if t.Failed() {
			t.Logf("last log lines of %s:\n%s", name, g.tail(40))
		}
	})
	select {
	case rec := <-serving:
		g.HTTP, _ = rec["http"].(string)
		g.UDP, _ = rec["sip_udp"].(string)
		g.TCP, _ = rec["sip_tcp"].(string)
		g.Instance, _ = rec["instance"].(string)
	case <-g.exited:
		t.Fatalf("%s exited at start:\n%s", name, g.tail(20))
	case <-time.After(15 * time.Second):
		t.Fatalf("%s did not start within 15 s:\n%s", name, g.tail(20))
	}
	g.waitReadyz(200, 10*time.Second)
	return g
}

func (g *gateway) tail(n int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	from := max(0, len(g.lines)-n)
	return strings.Join(g.lines[from:], "\n")
}

// logged counts log lines containing every one of parts.
func (g *gateway) logged(parts ...string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
next:
	for _, l := range g.lines {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		n++
	}
	return n
}

func (g *gateway) signal(s os.Signal) {
	g.t.Helper()
	if err := g.cmd.Process.Signal(s); err != nil {
		g.t.Fatalf("signal %s: %v", g.name, err)
	}
}

// wait waits for the process to exit and returns its exit code (-1: killed by a signal).
func (g *gateway) wait(within time.Duration) int {
	g.t.Helper()
	select {
	case <-g.exited:
		return g.state.ExitCode()
	case <-time.After(within):
		g.t.Fatalf("%s still running after %s", g.name, within)
		return 0
	}
}

func (g *gateway) running() bool {
	select {
	case <-g.exited:
		return false
	default:
		return true
	}
}

// get fetches an HTTP path with the admin token; code 0 when the request failed.
func (g *gateway) get(path string) (int, string) {
	req, _ := http.NewRequest("GET", "http://"+g.HTTP+path, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits until GET /readyz answers code.
func (g *gateway) waitReadyz(code int, within time.Duration) {
	g.t.Helper()
	deadline := time.Now().Add(within)
	last := 0
	for {
		if last, _ = g.get("/readyz"); last == code {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("%s /readyz = %d after %s, want %d", g.name, last, within, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metrics scrapes /metrics: series "name{labels}" → value (labels as exposed, sorted by name).
func (g *gateway) metrics() map[string]float64 {
	g.t.Helper()
	code, body := g.get("/metrics")
	if code != 200 {
		g.t.Fatalf("%s /metrics = %d", g.name, code)
	}
	return parseMetrics(body)
}

// metric sums the series of name whose labels contain every one of labels ("k=\"v\"").
func (g *gateway) metric(name string, labels ...string) float64 {
	g.t.Helper()
	return sumMetric(g.metrics(), name, labels...)
}

func parseMetrics(body string) map[string]float64 {
	out := make(map[string]float64)
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

func sumMetric(ms map[string]float64, name string, labels ...string) float64 {
	var sum float64
next:
	for series, v := range ms {
		n, lbl, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(lbl, l) {
				continue next
			}
		}
		sum += v
	}
	return sum
}

// callOpts are a deflection call: context headers that make the caller eligible, press 1.
func callOpts(target, from string) ivr.CallOptions {
	return ivr.CallOptions{
		Target:     target,
		From:       from,
		Press:      "1",
		PressAfter: 300 * time.Millisecond,
		Timeout:    25 * time.Second,
		Headers:    []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Customer-Id: e2e"},
	}
}

// call places one real call (SIP + RTP + RFC 4733) and returns its report.
func call(t testing.TB, o ivr.CallOptions) ivr.CallReport {
	t.Helper()
	rep, err := ivr.Dial(context.Background(), o)
	if err != nil {
		t.Logf("call %s → %s: %v (final %d, result %q)", o.From, o.Target, err, rep.FinalStatus, rep.Result)
	}
	return rep
}

// caller returns a distinct Saudi mobile number for index i (eligible by default policy).
func caller(i int) string { return fmt.Sprintf("+9665%08d", 10000000+i) }

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func itoa(n int) string { return strconv.Itoa(n) }
