// Package testkit holds the small helpers several packages' tests share: finding an external
// tool the way CI expects (missing on CI fails, elsewhere skips) and picking free loopback ports.
// Like net/http/httptest it imports "testing" and is meant for _test.go files only.
package testkit

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// OnCI reports whether the tests run on CI (env CI set), where every tool is installed and a
// missing one is a failure rather than a reason to skip.
func OnCI() bool { return os.Getenv("CI") != "" }

// Missing ends the test because something it needs is absent: t.Fatal on CI, t.Skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if OnCI() {
		t.Fatalf(format+" (CI must have it)", args...)
	}
	t.Skipf(format, args...)
}

// RequireTool returns the path of the first of name and alternatives found on PATH (or given
// as a path); with none found it fails on CI and skips elsewhere.
func RequireTool(t testing.TB, name string, alternatives ...string) string {
	t.Helper()
	var firstErr error
	for _, n := range append([]string{name}, alternatives...) {
		p, err := exec.LookPath(n)
		if err == nil {
			return p
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	Missing(t, "%s not installed: %v", name, firstErr)
	return ""
}

// RequireFile checks that a file a test needs (a tool's data, such as sip-tester's pcaps) exists;
// missing, it fails on CI and skips elsewhere.
func RequireFile(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, "%s missing: %v", path, err)
	}
}

var loopback = net.IPv4(127, 0, 0, 1)

// FreeUDPPort returns a loopback UDP port free right now. With pair it is an even port p
// (below 65000) with p+2 free too: sipp and RTP peers use the port and its neighbours.
// Another process may take it before the caller binds it; callers that can, retry.
func FreeUDPPort(t testing.TB, pair bool) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback})
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
		c2, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback, Port: p + 2})
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

// FreeUDPTCPPort returns a loopback port free for both UDP and TCP (Kamailio and baresip bind both).
func FreeUDPTCPPort(t testing.TB) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback})
		if err != nil {
			t.Fatal(err)
		}
		p := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback, Port: p})
		u.Close()
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no loopback port free for udp and tcp")
	return 0
}

// FreeTCPPort returns a loopback TCP port free right now.
func FreeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Buffer is a bytes.Buffer safe for one writer goroutine (a logger, a child process's output)
// and a reading test at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Eventually polls cond until it holds, failing the test when within is over; what names the
// awaited condition in the failure.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
