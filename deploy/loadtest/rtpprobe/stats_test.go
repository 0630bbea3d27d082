package main

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestStream(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type pkt struct {
		seq  uint16
		ts   uint32
		at   time.Duration
		mark bool
	}
	tests := []struct {
		name     string
		pkts     []pkt
		wantLost int
		wantDups int
		wantP99  float64 // ms
	}{
		{"perfect pacing", []pkt{{1, 160, 0, false}, {2, 320, 20 * time.Millisecond, false}, {3, 480, 40 * time.Millisecond, false}}, 0, 0, 0},
		{"one lost", []pkt{{1, 160, 0, false}, {3, 480, 40 * time.Millisecond, false}, {4, 640, 60 * time.Millisecond, false}}, 1, 0, 0},
		{"late packet", []pkt{{1, 160, 0, false}, {2, 320, 25 * time.Millisecond, false}, {3, 480, 40 * time.Millisecond, false}}, 0, 0, 5},
		{"duplicate", []pkt{{1, 160, 0, false}, {2, 320, 20 * time.Millisecond, false}, {2, 320, 21 * time.Millisecond, false}}, 0, 1, 0},
		{"sequence wrap", []pkt{{65535, 160, 0, false}, {0, 320, 20 * time.Millisecond, false}, {1, 480, 40 * time.Millisecond, false}}, 0, 0, 0},
		{"marker skipped", []pkt{{1, 160, 0, false}, {2, 8160, 90 * time.Millisecond, true}, {3, 8320, 110 * time.Millisecond, false}}, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStream(8000)
			for _, p := range tc.pkts {
				s.add(&rtp.Header{SequenceNumber: p.seq, Timestamp: p.ts, Marker: p.mark}, t0.Add(p.at))
			}
			sum := summarize([]*stream{s})
			if s.lost() != tc.wantLost || s.dups != tc.wantDups {
				t.Fatalf("lost=%d dups=%d, want %d %d", s.lost(), s.dups, tc.wantLost, tc.wantDups)
			}
			if math.Abs(sum.P99-tc.wantP99) > 1e-6 {
				t.Fatalf("p99=%.6f ms, want %.6f", sum.P99, tc.wantP99)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want float64
	}{{50, 5}, {99, 10}, {100, 10}, {0, 1}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("p%.0f = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("empty input must give 0")
	}
}
