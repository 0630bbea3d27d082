package main

import (
	"math"
	"slices"
	"time"

	"github.com/pion/rtp"
)

// stream accumulates one call's received RTP: loss from sequence numbers, pacing deviation of each
// packet's arrival from its RTP timestamp's schedule, and RFC 3550 interarrival jitter.
type stream struct {
	clockRate float64 // Hz

	packets  int
	started  bool
	baseSeq  uint64 // extended sequence number of the first packet
	maxSeq   uint64 // highest extended sequence number seen
	cycles   uint64
	lastSeq  uint16
	dups     int
	prevTS   uint32
	prevAt   time.Time
	prevSeqX uint64
	transit  float64 // RFC 3550: last relative transit time, seconds
	jitter   float64 // RFC 3550 J, seconds
	devs     []float64
}

func newStream(clockRate float64) *stream {
	return &stream{clockRate: clockRate, devs: make([]float64, 0, 1024)}
}

// add records one packet that arrived at at.
func (s *stream) add(h *rtp.Header, at time.Time) {
	s.packets++
	if !s.started {
		s.started = true
		s.lastSeq = h.SequenceNumber
		s.baseSeq = uint64(h.SequenceNumber)
		s.maxSeq = s.baseSeq
		s.prevTS, s.prevAt, s.prevSeqX = h.Timestamp, at, s.baseSeq
		return
	}
	// Extend the 16-bit sequence number (RFC 3550 A.1, without probation).
	if h.SequenceNumber < s.lastSeq && s.lastSeq-h.SequenceNumber > 0x8000 {
		s.cycles += 1 << 16
	}
	s.lastSeq = h.SequenceNumber
	x := s.cycles + uint64(h.SequenceNumber)
	if x > s.maxSeq {
		s.maxSeq = x
	} else {
		s.dups++ // duplicate or reordered
		return
	}

	// Pacing: how far this arrival is from where the previous arrival plus the RTP-timestamp
	// advance says it should be. Only for consecutive packets outside a talkspurt start.
	tsDelta := float64(int32(h.Timestamp-s.prevTS)) / s.clockRate
	arrDelta := at.Sub(s.prevAt).Seconds()
	if x == s.prevSeqX+1 && !h.Marker {
		s.devs = append(s.devs, math.Abs(arrDelta-tsDelta))
	}
	// RFC 3550 6.4.1: J += (|D| - J) / 16.
	d := arrDelta - tsDelta
	s.jitter += (math.Abs(d) - s.jitter) / 16
	s.prevTS, s.prevAt, s.prevSeqX = h.Timestamp, at, x
}

// lost is expected minus received, from the first to the highest sequence number seen.
func (s *stream) lost() int {
	if !s.started {
		return 0
	}
	expected := int(s.maxSeq - s.baseSeq + 1)
	if l := expected - (s.packets - s.dups); l > 0 {
		return l
	}
	return 0
}

// percentile returns the p-th percentile (0..100) of sorted xs by nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// summary merges streams into the figures the harness prints.
type summary struct {
	Streams, Packets, Lost, Dups     int
	P50, P99, Max, MeanRFC3550Jitter float64 // milliseconds
}

func summarize(ss []*stream) summary {
	var all []float64
	var sum summary
	var j float64
	for _, s := range ss {
		if !s.started {
			continue
		}
		sum.Streams++
		sum.Packets += s.packets
		sum.Lost += s.lost()
		sum.Dups += s.dups
		all = append(all, s.devs...)
		j += s.jitter
	}
	slices.Sort(all)
	sum.P50 = percentile(all, 50) * 1000
	sum.P99 = percentile(all, 99) * 1000
	if len(all) > 0 {
		sum.Max = all[len(all)-1] * 1000
	}
	if sum.Streams > 0 {
		sum.MeanRFC3550Jitter = j / float64(sum.Streams) * 1000
	}
	return sum
}
