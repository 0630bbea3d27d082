package e2e

import (
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/ivr"
)

// ended says whether a caller got a definite answer: a result header on the BYE (or the 480),
// or a refusal before answer (480/503) the PBX can act on.
func ended(rep ivr.CallReport) bool {
	return rep.Result != "" || (!rep.Answered && (rep.FinalStatus == 480 || rep.FinalStatus == 503))
}

// TestRedisRestartDuringCalls: redis-server is killed while calls are up and new ones arrive,
// then started again. Every caller ends with a result (or a 480/503 before answer), /readyz
// says 503 while Redis is away and 200 after, and calls deflect again once it is back.
func TestRedisRestartDuringCalls(t *testing.T) {
	redis := redistest.Server(t)
	g := startGateway(t, "redis-chaos", "DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL="+redis.URL(),
		"DEFLECTD_IVR_FIRST_DIGIT_TIMEOUT=5s")

	var mu sync.Mutex
	var reps []ivr.CallReport
	var wg sync.WaitGroup
	dial := func(i int, pressAfter time.Duration) {
		defer wg.Done()
		o := callOpts("sip:queue@"+g.UDP, caller(700+i))
		o.PressAfter = pressAfter
		rep := call(t, o)
		mu.Lock()
		reps = append(reps, rep)
		mu.Unlock()
	}
	// Six calls up, pressing 1 after Redis has gone.
	for i := range 6 {
		wg.Add(1)
		go dial(i, 1500*time.Millisecond)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.metric("deflectd_ivr_active_calls") < 6 {
		if time.Now().After(deadline) {
			t.Fatal("calls not up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	redis.Stop()
	downAt := time.Now()
	g.waitReadyz(503, 5*time.Second)
	t.Logf("/readyz 503 %s after Redis stopped", time.Since(downAt).Round(time.Millisecond))
	// Four new calls while Redis is down.
	for i := range 4 {
		wg.Add(1)
		go dial(10+i, 300*time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if err := redis.Restart(); err != nil {
		t.Fatalf("restart redis: %v", err)
	}
	upAt := time.Now()
	g.waitReadyz(200, 10*time.Second)
	t.Logf("/readyz 200 %s after Redis restarted", time.Since(upAt).Round(time.Millisecond))
	wg.Wait()

	results := map[string]int{}
	for _, r := range reps {
		key := r.Result
		if key == "" {
			key = "status " + itoa(r.FinalStatus)
		}
		results[key]++
		if !ended(r) {
			t.Errorf("call %s ended without a result: answered %v, final %d, ended by %q", r.CallID, r.Answered, r.FinalStatus, r.EndedBy)
		}
	}
	t.Logf("calls across the outage: %v", results)
	if len(reps) != 10 {
		t.Fatalf("%d calls reported, want 10", len(reps))
	}

	// Recovered: new calls deflect.
	for i := range 2 {
		if rep := call(t, callOpts("sip:queue@"+g.UDP, caller(720+i))); rep.Result != "deflected" {
			t.Errorf("call after recovery: result %q, final %d", rep.Result, rep.FinalStatus)
		}
	}
	if !g.running() {
		t.Fatal("gateway died")
	}
}
