package lookup

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/memstore"
)

// BenchmarkPresenceStatus measures a whole Status call without the HTTP checker on the memory
// store (BenchmarkPresenceStatusRedis: on a real redis-server over loopback) and reports the
// p99 of single calls.
//
//	go test -run XXX -bench PresenceStatus -benchmem ./lookup
func BenchmarkPresenceStatus(b *testing.B) {
	m := memstore.New(memstore.Options{})
	defer m.Close()
	benchStatus(b, storeFacts{m})
}

func benchStatus(b *testing.B, facts Facts) {
	ctx := context.Background()
	cfg := testConfig()
	cfg.Presence.Allow = []string{numB}
	{
		c, err := NewPresence(cfg, facts, nil, WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if err := c.Learn(ctx, numA, true, ""); err != nil {
			b.Fatal(err)
		}
		for _, bc := range []struct {
			name, e164 string
			want       Status
		}{
			{"hit-learned", numA, Yes},
			{"miss-static", numB, Yes},
			{"miss-unknown", numC, Unknown},
		} {
			b.Run(bc.name, func(b *testing.B) {
				lat := make([]time.Duration, 0, 1<<16)
				for b.Loop() {
					start := time.Now()
					a, _ := c.Status(ctx, bc.e164)
					if len(lat) < cap(lat) {
						lat = append(lat, time.Since(start))
					}
					if a.Status != bc.want {
						b.Fatalf("answer %+v, want %s", a, bc.want)
					}
				}
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
				}
			})
		}
	}
}
