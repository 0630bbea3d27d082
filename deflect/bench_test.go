package deflect

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/lookup"
)

// BenchmarkDecide measures the engine's work per INVITE (policy facts with the presence chain,
// session create, offer record) on each store, with distinct callers so every call is offered.
func BenchmarkDecide(b *testing.B) {
	stores := map[string]func(b *testing.B) Store{
		"memory": func(b *testing.B) Store {
			m := memstore.New(memstore.Options{})
			b.Cleanup(func() { m.Close() })
			return m
		},
		"redis": func(b *testing.B) Store {
			r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(b), KeyPrefix: redistest.Prefix(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.Close() })
			return r
		},
	}
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			st := stores[name](b)
			cfg := configs.Default()
			chain, err := lookup.NewPresence(cfg.Lookup, PresenceFacts(st.(store.PresenceFacts)), nil)
			if err != nil {
				b.Fatal(err)
			}
			svc, err := New(Options{Config: cfg, Store: st, Sender: &fakeSender{}, Presence: chain, Learner: chain})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				e164 := fmt.Sprintf("+96650%07d", i%10_000_000)
				c := &ivr.CallInfo{CallID: e164, Caller: lookup.Number{E164: e164, Region: "SA", Type: lookup.TypeMobile, Valid: true},
					Queue: "billing", WaitEstimate: 300, Language: "ar", Context: map[string]string{"Account": "A"}}
				if _, err := svc.Decide(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStatusToWaiter measures a status webhook's way to the call waiting for it: OnStatus
// (publish, session lookup and update) → the store's pub/sub → the hub → the waiter, on each
// store. With Redis this is the cross-instance path.
func BenchmarkStatusToWaiter(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			var st Store
			if name == "memory" {
				m := memstore.New(memstore.Options{})
				b.Cleanup(func() { m.Close() })
				st = m
			} else {
				r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(b), KeyPrefix: redistest.Prefix(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { r.Close() })
				st = r
			}
			svc, err := New(Options{Config: configs.Default(), Store: st, Sender: &fakeSender{}})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			b.Cleanup(cancel)
			go svc.Run(ctx)
			for !svc.Listening() {
				time.Sleep(time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("wamid.B%d", i)
				got := make(chan bool, 1)
				go func() {
					wctx, c := context.WithTimeout(ctx, 5*time.Second)
					defer c()
					_, ok := svc.hub.wait(wctx, id)
					got <- ok
				}()
				if err := svc.OnStatus(ctx, StatusUpdate{MessageID: id, Status: StatusDelivered}); err != nil {
					b.Fatal(err)
				}
				if !<-got {
					b.Fatal("status never reached the waiter")
				}
			}
		})
	}
}
