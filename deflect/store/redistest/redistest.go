// Package redistest runs a real redis-server for tests.
//
// One shared server per test binary: call Main from TestMain so it is stopped when the tests
// end, or just call Start, which starts it lazily (it is then killed when the test process dies,
// via Pdeathsig). Give each test its own key space with Prefix. For fault tests (Redis going
// away mid-call) Server starts a private server that can be stopped and restarted on the same
// port.
//
// When redis-server is not on PATH, tests are skipped, or fail when the CI environment variable
// is set (CI must never silently skip the Redis suite).
package redistest

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

// shared is the one server per test binary. It is the only package-level state: a test binary
// is one process and the whole point is to share one server across its tests.
var shared struct {
	once sync.Once
	proc *Proc
	err  error
}

// Main starts the shared server, runs the tests and stops the server. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }
//
// A missing redis-server is not an error here: Start reports it per test (skip or fail).
func Main(m *testing.M) int {
	p := sharedProc()
	code := m.Run()
	if p != nil {
		p.Stop()
	}
	return code
}

// Start returns the redis:// URL of the shared server, starting it if needed.
func Start(t testing.TB) string {
	t.Helper()
	requireBinary(t)
	p := sharedProc()
	if shared.err != nil {
		t.Fatalf("redistest: start redis-server: %v", shared.err)
	}
	return p.URL()
}

func sharedProc() *Proc {
	shared.once.Do(func() {
		if _, err := exec.LookPath("redis-server"); err != nil {
			shared.err = err
			return
		}
		// The server writes no files, so it can run in the temp dir itself: nothing is left
		// behind even when a lazily started server dies with its test process.
		shared.proc, shared.err = start(os.TempDir(), "")
	})
	return shared.proc
}

// Prefix returns a key prefix unique to this test (and this run), ending in ":".
func Prefix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("redistest: random prefix: %v", err)
	}
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, t.Name())
	return "t:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Server starts a private redis-server for this test, stopped at cleanup. Use it for fault
// tests: Stop and Restart keep the same port, so clients reconnect to the same URL.
func Server(t testing.TB) *Proc {
	t.Helper()
	requireBinary(t)
	p, err := start(t.TempDir(), "")
	if err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Cluster starts a private one-node Redis Cluster (all 16384 slots on one master) for this
// test, stopped at cleanup. Connect with a cluster client to p.Addr(). Even with one node,
// Redis refuses multi-key commands and scripts whose keys hash to different slots (CROSSSLOT),
// so this checks a store's hash tags for real.
func Cluster(t testing.TB) *Proc {
	t.Helper()
	requireBinary(t)
	// nodes.conf is resolved relative to --dir, this test's own temp dir.
	p, err := start(t.TempDir(), "", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	if err != nil {
		t.Fatalf("redistest: start redis-server in cluster mode: %v", err)
	}
	t.Cleanup(p.Stop)
	if _, err := command(p.Addr(), "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("redistest: assign cluster slots: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := command(p.Addr(), "CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: cluster not ok within 10s: %q, %v", info, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinel starts a private Sentinel watching master under name, stopped at cleanup. Connect
// with a failover client (addresses []string{s.Addr()}, MasterName name).
func Sentinel(t testing.TB, master *Proc, name string) *Proc {
	t.Helper()
	requireBinary(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", name, master.Port)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatalf("redistest: write sentinel config: %v", err)
	}
	p, err := start(dir, conf, "--sentinel")
	if err != nil {
		t.Fatalf("redistest: start sentinel: %v", err)
	}
	t.Cleanup(p.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := command(p.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && addr != "" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not know master %q within 10s: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Replica starts a private redis-server replicating master, stopped at cleanup; it returns
// once the replica has synced.
func Replica(t testing.TB, master *Proc) *Proc {
	t.Helper()
	requireBinary(t)
	p, err := start(t.TempDir(), "", "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	if err != nil {
		t.Fatalf("redistest: start replica: %v", err)
	}
	t.Cleanup(p.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := command(p.Addr(), "INFO", "replication")
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: replica not in sync within 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Sentinels starts n Sentinels watching master under name with a quorum of n/2+1, quick to
// act (master down after downAfter, failover timeout 5 s), stopped at cleanup.
func Sentinels(t testing.TB, master *Proc, name string, n int, downAfter time.Duration) []*Proc {
	t.Helper()
	requireBinary(t)
	var out []*Proc
	for range n {
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		text := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n"+
			"sentinel down-after-milliseconds %s %d\n"+
			"sentinel failover-timeout %s 5000\n"+
			"sentinel parallel-syncs %s 1\n",
			name, master.Port, n/2+1, name, downAfter.Milliseconds(), name, name)
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatalf("redistest: write sentinel config: %v", err)
		}
		p, err := start(dir, conf, "--sentinel")
		if err != nil {
			t.Fatalf("redistest: start sentinel: %v", err)
		}
		t.Cleanup(p.Stop)
		out = append(out, p)
	}
	// Each must know the master and see the others before a failover can reach a quorum.
	deadline := time.Now().Add(15 * time.Second)
	for _, p := range out {
		for {
			info, err := command(p.Addr(), "SENTINEL", "MASTER", name)
			if err == nil && strings.Contains(info, "num-other-sentinels "+strconv.Itoa(n-1)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: sentinel %s does not see master %q and %d others within 15s: %q %v", p.Addr(), name, n-1, info, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return out
}

// MasterAddr asks a Sentinel which address it holds for master name.
func MasterAddr(sentinel *Proc, name string) (string, error) {
	return command(sentinel.Addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
}

// command sends one command and returns a simple or bulk string reply, or an array of bulk
// strings joined by spaces.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(req.String())); err != nil {
		return "", err
	}
	return readReply(bufio.NewReader(c))
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("bad array reply %q", line)
		}
		if n < 0 {
			return "", nil // nil array: no such thing
		}
		parts := make([]string, n)
		for i := range parts {
			if parts[i], err = readReply(r); err != nil {
				return "", err
			}
		}
		return strings.Join(parts, " "), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

func requireBinary(t testing.TB) {
	t.Helper()
	testkit.RequireTool(t, "redis-server")
}

// Proc is one redis-server process on a fixed loopback port.
type Proc struct {
	Port int
	dir  string
	args []string // extra redis-server arguments
	conf string   // config file, for Sentinel (which rewrites it)

	mu     sync.Mutex
	proc   *os.Process // nil when stopped
	exited chan error  // receives cmd.Wait's result once
}

// Addr is host:port.
func (p *Proc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// URL is the redis:// URL of the server (database 0).
func (p *Proc) URL() string { return "redis://" + p.Addr() + "/0" }

// Stop kills the server and waits for it to exit. Stopping twice is fine.
func (p *Proc) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	_ = p.proc.Kill()
	<-p.exited
	p.proc = nil
}

// Restart starts the server again on the same port (after Stop; it stops it first otherwise).
// The data is gone: the server keeps nothing on disk.
func (p *Proc) Restart() error {
	p.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	// The port was just released by our own process; retry briefly in case the kernel is slow.
	var err error
	for range 20 {
		if err = p.launch(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

func start(dir, conf string, extra ...string) (*Proc, error) {
	// Free port, then start: another process may grab the port in between, so retry a few times.
	var err error
	for range 5 {
		port, perr := freePort()
		if perr != nil {
			err = perr
			continue
		}
		p := &Proc{Port: port, dir: dir, conf: conf, args: extra}
		p.mu.Lock()
		err = p.launch()
		p.mu.Unlock()
		if err == nil {
			return p, nil
		}
	}
	return nil, err
}

// launch starts redis-server and waits until it answers PING. Caller holds p.mu.
func (p *Proc) launch() error {
	var args []string
	if p.conf != "" {
		args = append(args, p.conf) // a config file must come first
	}
	args = append(args,
		"--port", strconv.Itoa(p.Port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", p.dir,
		"--protected-mode", "no",
		"--loglevel", "warning",
	)
	cmd := exec.Command("redis-server", append(args, p.args...)...)
	// Die with the test process even when nobody calls Stop (lazy Start without Main).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("redis-server exited: %v: %s", err, strings.TrimSpace(out.String()))
		default:
		}
		if ping(p.Addr()) == nil {
			p.proc, p.exited = cmd.Process, exited
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return errors.New("redis-server did not answer PING within 10s")
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
