package redistest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/deflect/store/redistest"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

func TestStartShared(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a != b || !strings.HasPrefix(a, "redis://127.0.0.1:") {
		t.Fatalf("Start = %q then %q, want one shared redis:// URL", a, b)
	}
}

func TestPrefixUnique(t *testing.T) {
	a, b := redistest.Prefix(t), redistest.Prefix(t)
	if a == b || !strings.HasSuffix(a, ":") {
		t.Fatalf("Prefix = %q, %q: want distinct, ending in ':'", a, b)
	}
}

func TestServerStopRestart(t *testing.T) {
	p := redistest.Server(t)
	if err := redistest.Ping(p.Addr()); err != nil {
		t.Fatalf("ping fresh server: %v", err)
	}
	p.Stop()
	if err := redistest.Ping(p.Addr()); err == nil {
		t.Fatal("ping after Stop succeeded")
	}
	if err := p.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if err := redistest.Ping(p.Addr()); err != nil {
		t.Fatalf("ping after Restart: %v", err)
	}
}

func TestCluster(t *testing.T) {
	p := redistest.Cluster(t)
	if err := redistest.Ping(p.Addr()); err != nil {
		t.Fatalf("ping cluster node: %v", err)
	}
}

func TestSentinel(t *testing.T) {
	master := redistest.Server(t)
	s := redistest.Sentinel(t, master, "mymaster")
	if err := redistest.Ping(s.Addr()); err != nil {
		t.Fatalf("ping sentinel: %v", err)
	}
}
