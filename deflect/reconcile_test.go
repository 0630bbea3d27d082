package deflect

import (
	"context"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

// TestReconcileOrphanedSessions: two instances on one Redis. Instance a takes two calls and
// dies (no lease); b, alive, ends them after max_call_duration + grace: abandoned, or deflected
// when the message was delivered; its own session and a live instance's are left alone; once.
func TestReconcileOrphanedSessions(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	cfg := configs.Default()
	cfg.SIP.MaxCallDuration, cfg.Deflect.ReconcileGrace = time.Minute, time.Minute
	now := time.Now()
	newSvc := func(instance string, clock func() time.Time) (*Service, store.Store) {
		st, err := redisstore.New(configs.RedisConfig{URL: url, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc, err := New(Options{Config: cfg, Store: st, Sender: &fakeSender{}, Instance: instance, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return svc, st
	}
	a, st := newSvc("a", func() time.Time { return now })
	later := now
	b, _ := newSvc("b", func() time.Time { return later })
	ctx := context.Background()

	decide := func(svc *Service, number string) string {
		d, err := svc.Decide(ctx, call(number))
		if err != nil || !d.Offer {
			t.Fatalf("decide %s: %+v, %v", number, d, err)
		}
		return d.SessionID
	}
	plain, delivered, own := decide(a, "+966501238001"), decide(a, "+966501238002"), decide(b, "+966501238003")
	if _, err := st.UpdateSession(ctx, delivered, func(x *store.Session) error { x.WAStatus = StatusDelivered; return nil }); err != nil {
		t.Fatal(err)
	}
	later = now.Add(3 * time.Minute) // past max_call_duration + grace

	// While a holds its lease, nothing of it is touched.
	hbCtx, stopA := context.WithCancel(ctx)
	go a.Heartbeat(hbCtx)
	waitLease(t, st, "a")
	if n, err := b.Reconcile(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("with a alive: reconciled %d (%v), want 0", n, err)
	}
	// a dies: its lease goes (here at once; in life leaseTTL after its last refresh).
	stopA()
	time.Sleep(50 * time.Millisecond)
	if err := st.DeleteDoc(ctx, LeaseCollection, "a"); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Reconcile(ctx, time.Hour); err != nil || n != 2 {
		t.Fatalf("after a died: reconciled %d (%v), want 2", n, err)
	}
	for id, want := range map[string]string{plain: OutcomeAbandoned, delivered: OutcomeDeflected} {
		x, err := st.GetSession(ctx, id)
		if err != nil || x.State != StateEnded || x.Outcome != want || x.Reason != "reconciled" {
			t.Errorf("session %s: %+v, %v; want ended %s", id, x, err, want)
		}
	}
	if x, _ := st.GetSession(ctx, own); x.State == StateEnded {
		t.Errorf("b's own session was ended: %+v", x)
	}
	if n, _ := b.Reconcile(ctx, time.Hour); n != 0 {
		t.Errorf("second pass reconciled %d, want 0 (once)", n)
	}
}

func waitLease(t *testing.T, st store.Store, instance string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := st.GetDoc(context.Background(), LeaseCollection, instance); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease for %s", instance)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
