package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// graphFault is a stand-in for graph.facebook.com whose behaviour the test switches: accept
// the message, answer 500 with Meta's error 131000, or hang past the client's timeout.
type graphFault struct {
	mode     atomic.Value // "ok", "500", "hang"
	requests atomic.Int64
	ok, fail []byte
	srv      *httptest.Server
}

func newGraphFault(t *testing.T) *graphFault {
	t.Helper()
	f := &graphFault{}
	var err error
	if f.ok, err = os.ReadFile("testdata/graph/success.json"); err != nil {
		t.Fatal(err)
	}
	if f.fail, err = os.ReadFile("testdata/graph/error_131000.json"); err != nil {
		t.Fatal(err)
	}
	f.mode.Store("ok")
	hang := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch f.mode.Load().(string) {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write(f.fail)
		case "hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			_, _ = w.Write(f.ok)
		}
	}))
	t.Cleanup(func() { close(hang); f.srv.Close() })
	return f
}

// TestGraphAPIFaultsOpenAndCloseTheBreaker: the Graph API answers 500 and then times out. The
// callers caught by it go back to the queue with "failed"; after five failures in a row the
// engine's breaker opens and new callers are refused before answer (480, whatsapp-unavailable)
// without a request to Meta; when Meta is back, the breaker's probe (after its cool-down,
// whatsapp.breaker_cooldown: 30 s by default, 3 s here) closes it and callers deflect again.
func TestGraphAPIFaultsOpenAndCloseTheBreaker(t *testing.T) {
	t.Parallel() // mostly waiting for the breaker's cool-down
	graph := newGraphFault(t)
	g := startGateway(t, "graph-fault",
		"DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL="+graph.srv.URL,
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=e2e-token", "DEFLECTD_WHATSAPP_APP_SECRET=e2e-secret",
		"DEFLECTD_WHATSAPP_VERIFY_TOKEN=e2e-verify", "DEFLECTD_WHATSAPP_REQUEST_TIMEOUT=400ms",
		"DEFLECTD_WHATSAPP_MAX_RETRIES=0", "DEFLECTD_DEFLECT_CONFIRM_TIMEOUT=300ms",
		"DEFLECTD_WHATSAPP_BREAKER_COOLDOWN=3s")
	target := "sip:queue@" + g.UDP
	n := 800
	next := func() string { n++; return caller(n) }

	if rep := call(t, callOpts(target, next())); rep.Result != "deflected" {
		t.Fatalf("with Meta up: result %q, final %d", rep.Result, rep.FinalStatus)
	}
	// Five failures in a row: 500, 500, 500, timeout, timeout.
	for i, mode := range []string{"500", "500", "500", "hang", "hang"} {
		graph.mode.Store(mode)
		rep := call(t, callOpts(target, next()))
		if !strings.HasPrefix(rep.Result, "failed") {
			t.Fatalf("failure %d (%s): result %q, want failed (back to the queue)", i+1, mode, rep.Result)
		}
	}
	// Open: refused before answer, and Meta is not asked.
	before := graph.requests.Load()
	openAt := time.Now()
	rep := call(t, callOpts(target, next()))
	if rep.Answered || rep.FinalStatus != 480 || !strings.Contains(rep.Result, "whatsapp-unavailable") {
		t.Fatalf("breaker open: answered %v, final %d, result %q; want 480 ineligible;reason=whatsapp-unavailable", rep.Answered, rep.FinalStatus, rep.Result)
	}
	if got := graph.requests.Load() - before; got != 0 {
		t.Errorf("%d Graph API requests while the breaker is open", got)
	}
	// Meta recovers; the breaker lets a probe through after its cool-down and closes.
	graph.mode.Store("ok")
	deadline := time.Now().Add(20 * time.Second)
	for {
		rep := call(t, callOpts(target, next()))
		if rep.Result == "deflected" {
			t.Logf("breaker closed %.1f s after it opened", time.Since(openAt).Seconds())
			break
		}
		if !strings.Contains(rep.Result, "whatsapp-unavailable") {
			t.Fatalf("while waiting for the breaker: result %q, final %d", rep.Result, rep.FinalStatus)
		}
		if time.Now().After(deadline) {
			t.Fatal("breaker still open 20 s after Meta recovered (cool-down 3 s)")
		}
		time.Sleep(time.Second)
	}
	if rep := call(t, callOpts(target, next())); rep.Result != "deflected" {
		t.Fatalf("after the breaker closed: result %q", rep.Result)
	}
	if g.logged("circuit breaker changed state", `"to":"open"`) == 0 || g.logged("circuit breaker changed state", `"to":"closed"`) == 0 {
		t.Error("breaker state changes not logged")
	}
}
