package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary builds deflectd once per test binary: the process tests exercise the real executable.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deflectd-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "deflectd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("build deflectd: %v\n%s", binErr, binPath)
	}
	return binPath
}

// testEnv keeps process tests on loopback port 0 so they never collide with a running gateway.
func testEnv(extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"DEFLECTD_SIP_LISTEN=udp://127.0.0.1:0,tcp://127.0.0.1:0",
		"DEFLECTD_HTTP_LISTEN=127.0.0.1:0",
	}
	return append(env, extra...)
}

func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e, env)
	return o.String(), e.String(), code
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, testEnv(), "version")
	if code != 0 || !strings.HasPrefix(out, "deflectd ") {
		t.Fatalf("version: code %d out %q", code, out)
	}
}

func TestConfigPrintRedactsSecrets(t *testing.T) {
	const tok = "very-secret-token-42"
	out, errOut, code := runCLI(t, testEnv("DEFLECTD_WHATSAPP_ACCESS_TOKEN="+tok, "DEFLECTD_API_ADMIN_TOKEN="+tok), "config", "print")
	if code != 0 {
		t.Fatalf("config print: code %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, tok) {
		t.Fatal("secret printed by config print")
	}
	if !strings.Contains(out, "access_token: '[redacted]'") || !strings.Contains(out, "listen: 127.0.0.1:0") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

func TestBadConfigExits2NamingTheKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(p, []byte("deflect:\n  cooldwn: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, testEnv(), "--config", p, "serve")
	if code != 2 || !strings.Contains(errOut, "deflect.cooldwn: unknown key") {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, testEnv(), "--no-such-flag")
	if code != 2 || !strings.Contains(errOut, "no-such-flag") {
		t.Fatalf("bad flag: code %d, stderr %q", code, errOut)
	}
}

var httpAddrRe = regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)

// TestServeHealthAndSignal runs the real binary with no config: /healthz answers, and SIGINT
// exits 0 within 2 s.
func TestServeHealthAndSignal(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = testEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := httpAddrRe.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-time.After(20 * time.Second):
		t.Fatal("deflectd did not log its HTTP address")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/metrics" && !bytes.Contains(body, []byte("go_goroutines")) {
			t.Fatalf("/metrics does not look like Prometheus output")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("deflectd did not exit within 2 s of SIGINT")
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && binErr == nil {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func TestUnknownCommandAndBadArgumentsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown command", []string{"bogus"}},
		{"missing argument", []string{"check-number"}},
		{"unknown flag", []string{"version", "--nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, errOut, code := runCLI(t, testEnv(), tt.args...); code != 2 {
				t.Errorf("deflectd %v: exit %d (%s), want 2", tt.args, code, errOut)
			}
		})
	}
}

func TestVersionOfBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"vcs revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "8b691f8d11475f7855091914eccd63968fe21051"}, {Key: "vcs.modified", Value: "false"}}}, "8b691f8d1147"},
		{"dirty tree", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "8b691f8d1147"}, {Key: "vcs.modified", Value: "true"}}}, "8b691f8d1147+dirty"},
		{"nothing recorded", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(&tt.bi); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
		})
	}
}
