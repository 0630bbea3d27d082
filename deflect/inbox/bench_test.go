package inbox

import (
	"fmt"
	"testing"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
)

// BenchmarkAgentLifecycle measures one conversation's way through the agent side: handed off
// (queued), dispatched to the least-loaded online agent (reserve + CAS claim), closed (release).
// Store round trips dominate; on Redis they show what one assignment costs.
func BenchmarkAgentLifecycle(b *testing.B) {
	backends := []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"memstore", func(tb testing.TB) store.Store {
			m := memstore.New(memstore.Options{})
			tb.Cleanup(func() { _ = m.Close() })
			return m
		}},
		{"redis", redisStore},
	}
	for _, bk := range backends {
		b.Run(bk.name, func(b *testing.B) {
			h := newHarness(b, bk.open(b), func(c *configs.Config, _ *Options) { c.Inbox.MaxChatsPerAgent = 1000 })
			ctx := b.Context()
			for _, a := range []string{"alice", "bob"} {
				if err := h.in.SetPresence(ctx, a, PresenceOnline); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("4479%08d", i)
				if err := h.in.handoff(ctx, id, "bench"); err != nil {
					b.Fatal(err)
				}
				if err := h.in.Dispatch(ctx); err != nil {
					b.Fatal(err)
				}
				if err := h.in.Close(ctx, "admin", id, "resolved"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
