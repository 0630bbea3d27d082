package inbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

// TestAssignmentUnderConcurrency runs two inbox instances on one store (Redis: two clients, as
// two processes would have) that dispatch and claim the same waiting conversations at once.
func TestAssignmentUnderConcurrency(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) (store.Store, store.Store)
	}{
		{"memstore", func(t *testing.T) (store.Store, store.Store) {
			m := memstore.New(memstore.Options{})
			t.Cleanup(func() { _ = m.Close() })
			return m, m
		}},
		{"redis two instances", func(t *testing.T) (store.Store, store.Store) {
			prefix := redistest.Prefix(t)
			return redisStoreWithPrefix(t, prefix), redisStoreWithPrefix(t, prefix)
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			const conversations, max = 24, 3
			st1, st2 := b.open(t)
			limit := func(c *configs.Config, _ *Options) { c.Inbox.MaxChatsPerAgent = max }
			a := newHarness(t, st1, limit).in
			bi := newHarness(t, st2, limit).in
			ctx := t.Context()

			var ids []string
			for i := range conversations {
				id := fmt.Sprintf("4477009%05d", i)
				ids = append(ids, id)
				if err := a.handoff(ctx, id, "test"); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := bi.OpenAgentChats(ctx); err != nil || n != conversations {
				t.Fatalf("OpenAgentChats = %d, %v; want %d", n, err, conversations)
			}
			if err := a.SetPresence(ctx, "alice", PresenceOnline); err != nil {
				t.Fatal(err)
			}
			if err := bi.SetPresence(ctx, "bob", PresenceOnline); err != nil {
				t.Fatal(err)
			}

			// Both instances dispatch while both agents grab conversations by hand.
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for i, s := range []*Service{a, bi, a, bi} {
				wg.Add(2)
				go func() {
					defer wg.Done()
					for range 5 {
						if err := s.Dispatch(ctx); err != nil {
							errs <- err
						}
					}
				}()
				go func() {
					defer wg.Done()
					agent := []string{"alice", "bob"}[i%2]
					for range 10 {
						err := s.Claim(ctx, agent, ids[rand.IntN(len(ids))])
						if err != nil && !errors.Is(err, ErrFull) && !errors.Is(err, ErrTaken) && !errors.Is(err, ErrBadState) {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			assigned := checkInvariants(t, a, ids, max)
			if len(assigned) != 2*max {
				t.Fatalf("%d conversations assigned, want %d (both agents full)", len(assigned), 2*max)
			}

			// Closing frees capacity: the oldest waiting conversations are assigned next (FIFO).
			q, err := a.Queue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var next []string
			for _, e := range q[:2*max] {
				next = append(next, e.WAID)
			}
			for i, id := range assigned {
				s := []*Service{a, bi}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.Close(ctx, "admin", id, "resolved"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			again := checkInvariants(t, bi, ids, max)
			slices.Sort(next)
			slices.Sort(again)
			if !slices.Equal(again, next) {
				t.Fatalf("after closing, assigned %v; want the %d oldest waiting %v", again, len(next), next)
			}
		})
	}
}

// checkInvariants verifies that every assigned conversation holds exactly one slot of its agent,
// no agent exceeds max, and nothing is both waiting and assigned. It returns the assigned ids.
func checkInvariants(t *testing.T, s *Service, ids []string, max int) []string {
	t.Helper()
	ctx := context.Background()
	docs, err := s.agentDocs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[string]string{}
	for id, d := range docs {
		if len(d.doc.Chats) > max {
			t.Fatalf("agent %s holds %d chats, max %d", id, len(d.doc.Chats), max)
		}
		for waID := range d.doc.Chats {
			if other, dup := slots[waID]; dup {
				t.Fatalf("conversation %s holds slots of %s and %s", waID, other, id)
			}
			slots[waID] = id
		}
	}
	q, err := s.Queue(ctx)
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]bool{}
	for _, e := range q {
		queued[e.WAID] = true
	}
	var assigned []string
	for _, id := range ids {
		r, _, err := s.getRecord(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		switch r.Status {
		case StatusAssigned:
			assigned = append(assigned, id)
			if slots[id] != r.Agent {
				t.Fatalf("conversation %s assigned to %s but its slot is %q's", id, r.Agent, slots[id])
			}
			if queued[id] {
				t.Fatalf("conversation %s is assigned and still queued", id)
			}
		case StatusWaiting:
			if !queued[id] {
				t.Fatalf("conversation %s waits but is not queued", id)
			}
			if slots[id] != "" {
				t.Fatalf("waiting conversation %s holds a slot of %s", id, slots[id])
			}
		}
	}
	if len(slots) != len(assigned) {
		t.Fatalf("%d slots held for %d assigned conversations", len(slots), len(assigned))
	}
	return assigned
}

func TestPresenceExpiresWithoutHeartbeat(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h := newHarness(t, nil, func(_ *configs.Config, o *Options) { o.PresenceTTL, o.Now = time.Minute, clock })
	ctx := t.Context()
	if err := h.in.SetPresence(ctx, "alice", PresenceOnline); err != nil {
		t.Fatal(err)
	}
	advance(2 * time.Minute) // alice's console went away without signing out
	views, _ := h.in.Agents(ctx)
	for _, v := range views {
		if v.ID == "alice" && v.Presence != PresenceOffline {
			t.Fatalf("alice is %s after two minutes without a heartbeat, want offline", v.Presence)
		}
	}
	if err := h.in.handoff(ctx, "447700900800", "test"); err != nil {
		t.Fatal(err)
	}
	if err := h.in.Dispatch(ctx); err != nil {
		t.Fatal(err)
	}
	if r := h.record("447700900800"); r.Status != StatusWaiting {
		t.Fatalf("assigned to a stale agent: %+v", r)
	}
	if err := h.in.Touch(ctx, "alice"); err != nil { // the console reconnects
		t.Fatal(err)
	}
	if r := h.record("447700900800"); r.Status != StatusAssigned || r.Agent != "alice" {
		t.Fatalf("after the heartbeat: %+v, want assigned to alice", r)
	}
}
