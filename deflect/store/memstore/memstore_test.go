package memstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A fast janitor so the sweep path runs during the TTL tests too.
		m := memstore.New(memstore.Options{JanitorInterval: 50 * time.Millisecond})
		t.Cleanup(func() { m.Close() })
		return m
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		m := memstore.New(memstore.Options{})
		b.Cleanup(func() { m.Close() })
		return m
	})
}

// fillStream adds n entries to stream.
func fillStream(b *testing.B, m *memstore.Mem, stream string, payload []byte, n int) {
	b.Helper()
	for range n {
		if _, err := m.StreamAdd(context.Background(), stream, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamAddAtCap adds to a stream already at its maximum length, so every add trims
// the oldest entry: the cost must not grow with the cap.
func BenchmarkStreamAddAtCap(b *testing.B) {
	ctx := context.Background()
	payload := []byte(`{"object":"whatsapp_business_account"}`)
	for _, maxLen := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("cap=%d", maxLen), func(b *testing.B) {
			m := memstore.New(memstore.Options{StreamMaxLen: maxLen})
			b.Cleanup(func() { m.Close() })
			fillStream(b, m, "bench", payload, maxLen)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.StreamAdd(ctx, "bench", payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStreamAddReadAtCap is the webhook queue's steady state on a full stream: one event
// added and read by a group that has read everything before it.
func BenchmarkStreamAddReadAtCap(b *testing.B) {
	ctx := context.Background()
	payload := []byte(`{"object":"whatsapp_business_account"}`)
	for _, maxLen := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("cap=%d", maxLen), func(b *testing.B) {
			m := memstore.New(memstore.Options{StreamMaxLen: maxLen})
			b.Cleanup(func() { m.Close() })
			fillStream(b, m, "bench", payload, maxLen)
			read, err := m.StreamRead(ctx, "bench", "g", "c", maxLen, 0)
			if err != nil || len(read) != maxLen {
				b.Fatalf("read %d, %v", len(read), err)
			}
			for _, r := range read {
				if err := m.StreamAck(ctx, "bench", "g", r.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				id, err := m.StreamAdd(ctx, "bench", payload)
				if err != nil {
					b.Fatal(err)
				}
				got, err := m.StreamRead(ctx, "bench", "g", "c", 1, 0)
				if err != nil || len(got) != 1 || got[0].ID != id {
					b.Fatalf("read %v, %v; want %s", got, err, id)
				}
				if err := m.StreamAck(ctx, "bench", "g", id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestStreamTrim: past StreamMaxLen the oldest entries go (as Redis MAXLEN does), across many
// compactions of the underlying buffer; groups behind the trim point resume at the oldest live
// entry, and pending entries trimmed away are not claimed.
func TestStreamTrim(t *testing.T) {
	ctx := context.Background()
	m := memstore.New(memstore.Options{StreamMaxLen: 5})
	t.Cleanup(func() { m.Close() })
	add := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := m.StreamAdd(ctx, "s", []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(group string, n int) []string {
		t.Helper()
		got, err := m.StreamRead(ctx, "s", group, "c", n, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range got {
			out = append(out, string(g.Payload))
		}
		return out
	}

	add(0, 3)
	if got := read("early", 2); !slices.Equal(got, []string{"0", "1"}) { // 0 and 1 stay pending
		t.Fatalf("early read = %v", got)
	}
	add(3, 23) // 0..17 trimmed
	tests := []struct {
		name, group string
		n           int
		want        []string
	}{
		{"new group sees the last five", "new", 100, []string{"18", "19", "20", "21", "22"}},
		{"group behind the trim resumes at the oldest live", "early", 2, []string{"18", "19"}},
		{"and goes on from there", "early", 100, []string{"20", "21", "22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := read(tt.group, tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("read = %v, want %v", got, tt.want)
			}
		})
	}
	claimed, err := m.StreamClaim(ctx, "s", "early", "d", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range claimed {
		ids = append(ids, string(c.Payload))
	}
	if want := []string{"18", "19", "20", "21", "22"}; !slices.Equal(ids, want) {
		t.Errorf("claimed = %v, want %v (0 and 1 were trimmed)", ids, want)
	}
}
