package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// TestBounds: over a cap the oldest records of that kind go, the newest stay, and every
// eviction is reported with its kind.
func TestBounds(t *testing.T) {
	t.Parallel()
	const capN, extra = 10, 5
	ctx := context.Background()
	var mu sync.Mutex
	evicted := map[string]int{}
	m := New(Options{
		MaxSessions: capN, MaxOnceKeys: capN, MaxPresence: capN, MaxDocs: capN, MaxOfferNumbers: capN, StreamMaxLen: capN,
		OnEvict: func(kind string) { mu.Lock(); evicted[kind]++; mu.Unlock() },
	})
	defer m.Close()
	exp := time.Now().Add(time.Hour)
	tests := []struct {
		kind   string
		add    func(i int) error
		exists func(i int) bool
	}{
		{EvictSession, func(i int) error {
			return m.CreateSession(ctx, &store.Session{ID: fmt.Sprint("s", i), WAMessageID: fmt.Sprint("w", i), ExpiresAt: exp})
		}, func(i int) bool {
			_, err := m.GetSession(ctx, fmt.Sprint("s", i))
			_, berr := m.FindSessionByMessage(ctx, fmt.Sprint("w", i))
			return err == nil && berr == nil
		}},
		{EvictOnce, func(i int) error {
			_, err := m.SetOnce(ctx, fmt.Sprint("k", i), time.Hour)
			return err
		}, func(i int) bool {
			// Looked up directly: a SetOnce probe would insert (and evict) itself.
			m.mu.Lock()
			defer m.mu.Unlock()
			_, ok := m.once[fmt.Sprint("k", i)]
			return ok
		}},
		{EvictPresence, func(i int) error {
			return m.SetPresence(ctx, store.PresenceFact{E164: fmt.Sprint("+9665012300", i), Status: "yes", Expires: exp})
		}, func(i int) bool {
			_, err := m.GetPresence(ctx, fmt.Sprint("+9665012300", i))
			return err == nil
		}},
		{EvictDoc, func(i int) error {
			_, err := m.PutDoc(ctx, []string{"a", "b"}[i%2], fmt.Sprint("d", i), []byte("x"), 0, 0)
			return err
		}, func(i int) bool {
			_, err := m.GetDoc(ctx, []string{"a", "b"}[i%2], fmt.Sprint("d", i))
			return err == nil
		}},
		{EvictOffers, func(i int) error {
			return m.RecordOffer(ctx, fmt.Sprint("+9665012311", i), time.Now(), time.Hour)
		}, func(i int) bool {
			got, _ := m.OffersSince(ctx, fmt.Sprint("+9665012311", i), time.Time{})
			return len(got) == 1
		}},
		{EvictStream, func(i int) error {
			_, err := m.StreamAdd(ctx, "events", []byte(fmt.Sprint(i)))
			return err
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			for i := range capN + extra {
				if err := tc.add(i); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			n := evicted[tc.kind]
			mu.Unlock()
			if n != extra {
				t.Errorf("%d %s evictions, want %d", n, tc.kind, extra)
			}
			if tc.exists == nil {
				return
			}
			for i := range capN + extra {
				if got, want := tc.exists(i), i >= extra; got != want {
					t.Errorf("%s %d present %v, want %v (the %d oldest go)", tc.kind, i, got, want, extra)
				}
			}
		})
	}
	// Deleting frees room: no eviction for a record that replaces a deleted one.
	if err := m.DeleteDoc(ctx, "a", "d10"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutDoc(ctx, "a", "fresh", []byte("x"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetDoc(ctx, "b", "d11"); errors.Is(err, store.ErrNotFound) {
		t.Errorf("a document was evicted though a delete had made room")
	}
}
