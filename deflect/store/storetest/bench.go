package storetest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// Bench runs the hot-path benchmarks: what every call and every webhook does.
// newStore must return an empty store closed at b.Cleanup.
func Bench(b *testing.B, newStore func(b *testing.B) store.Store) {
	ctx := context.Background()
	b.Run("GetSession", func(b *testing.B) {
		s := newStore(b)
		if err := s.CreateSession(ctx, sampleSession("bench")); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetSession(ctx, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateSession", func(b *testing.B) {
		s := newStore(b)
		if err := s.CreateSession(ctx, sampleSession("bench")); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.UpdateSession(ctx, "bench", func(x *store.Session) error {
				x.State = "offered"
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SetOnce", func(b *testing.B) {
		s := newStore(b)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.SetOnce(ctx, "wamid."+strconv.Itoa(i), time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetPresence", func(b *testing.B) {
		s := newStore(b)
		f := store.PresenceFact{E164: "+447700900123", Status: "yes", Source: "learned", Since: time.Now(), Expires: time.Now().Add(time.Hour)}
		if err := s.SetPresence(ctx, f); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetPresence(ctx, f.E164); err != nil {
				b.Fatal(err)
			}
		}
	})
}
