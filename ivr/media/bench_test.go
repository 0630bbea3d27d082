package media

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/ipv4"
)

// sink is a UDP socket nobody reads: sends to it cost what a real send costs on loopback (the
// kernel drops what overflows its buffer), without a receiver competing for the CPU.
func sink(b *testing.B) (*net.UDPConn, netip.AddrPort) {
	b.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c, c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// BenchmarkPacketPath is one stream's 20 ms tick: pick the frame, marshal the header into the
// stream's buffer, sendto. Must report 0 allocs/op.
func BenchmarkPacketPath(b *testing.B) {
	e, err := NewEngine(EngineConfig{BindIP: loopback}, testPrompts(b), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	_, to := sink(b)
	s, err := e.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Not Start: the scheduler must not tick this stream concurrently with the benchmark.
	s.mu.Lock()
	s.params, s.sends, s.remote, s.hdr.PayloadType = Params{Codec: PCMU}, true, to, 0
	s.mu.Unlock()
	b.Run("prompt+send", func(b *testing.B) {
		s.PlayTone(0)
		b.ReportAllocs()
		for b.Loop() {
			if s.tick() != tickSent {
				b.Fatal("not sent")
			}
		}
	})
	b.Run("silence+send", func(b *testing.B) {
		s.StopPlayback()
		b.ReportAllocs()
		for b.Loop() {
			s.tick()
		}
	})
	b.Run("marshal-only", func(b *testing.B) {
		// The same work without the syscall: what our code costs per packet.
		s.mu.Lock()
		s.sends = false
		s.mu.Unlock()
		s.PlayTone(0)
		b.ReportAllocs()
		for b.Loop() {
			s.tick()
			s.mu.Lock()
			_, _ = s.hdr.MarshalTo(s.buf[:])
			s.mu.Unlock()
		}
	})
}

// BenchmarkDTMFDecode: one RFC 4733 packet through the decoder (receive path), 0 allocs.
func BenchmarkDTMFDecode(b *testing.B) {
	var d DTMFDecoder
	p := ev(1, false, 320)
	now := time.Now()
	b.ReportAllocs()
	ts := uint32(0)
	for b.Loop() {
		ts += 1600
		d.Decode(1, ts, p, now)
	}
}

// BenchmarkScheduler runs the real engine with N playing streams sending to a sink. One op is
// one 20 ms period of wall time; it reports the process CPU per period and per packet, and the
// share of one core the media path needs for N calls (sending side only: the caller's RTP
// arriving costs about as much again, see FIELD-NOTES).
func BenchmarkScheduler(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			reg := prometheus.NewRegistry()
			e, err := NewEngine(EngineConfig{BindIP: loopback}, testPrompts(b), nil, reg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			_, to := sink(b)
			streams := make([]*Stream, 0, n)
			mem0 := memInUse()
			for range n {
				s, err := e.Open()
				if err != nil {
					b.Skipf("open stream %d: %v (raise ulimit -n)", len(streams), err)
				}
				s.Start(Params{Codec: PCMU, Remote: to, Direction: "sendrecv"})
				s.PlayTone(0)
				streams = append(streams, s)
			}
			defer func() {
				for _, s := range streams {
					s.Close()
				}
			}()
			time.Sleep(3 * Ptime) // every stream has joined its slot
			perStream := float64(memInUse()-mem0) / float64(n)
			sent := func() (t uint64) {
				for _, s := range streams {
					t += s.Stats().PacketsSent
				}
				return t
			}
			cpu0, sent0, t0 := cpuTime(), sent(), time.Now()
			b.ResetTimer()
			for range b.N {
				time.Sleep(Ptime)
			}
			b.StopTimer()
			cpu, pkts, wall := cpuTime()-cpu0, sent()-sent0, time.Since(t0)
			periods := float64(wall) / float64(Ptime)
			b.ReportMetric(float64(cpu.Microseconds())/periods, "cpu-µs/period")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(pkts, 1)), "cpu-ns/pkt")
			b.ReportMetric(float64(pkts)/wall.Seconds()/float64(n), "pkts/s/stream")
			b.ReportMetric(100*float64(cpu)/float64(wall), "%core")
			b.ReportMetric(perStream, "heap+stack-B/stream")
			lag99, skipped := schedulerHealth(b, reg)
			b.ReportMetric(float64(lag99.Microseconds()), "tick-lag-p99-µs")
			b.ReportMetric(skipped, "skipped-periods")
		})
	}
}

// schedulerHealth reads the engine's own metrics: the tick lag's p99 (bucket upper bound) and
// how many periods were skipped.
func schedulerHealth(b *testing.B, reg *prometheus.Registry) (time.Duration, float64) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var lag99 time.Duration
	var skipped float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "deflectd_rtp_scheduler_lag_seconds":
			h := mf.GetMetric()[0].GetHistogram()
			total := h.GetSampleCount()
			lag99 = time.Duration(1<<63 - 1)
			for _, bk := range h.GetBucket() {
				if float64(bk.GetCumulativeCount()) >= 0.99*float64(total) {
					lag99 = time.Duration(bk.GetUpperBound() * float64(time.Second))
					break
				}
			}
		case "deflectd_rtp_scheduler_skipped_periods_total":
			skipped = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return lag99, skipped
}

// memInUse is the Go heap and goroutine stacks in use after a GC (kernel socket buffers are
// not counted: they are not the process's RSS).
func memInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendBatch measures what sendmmsg (x/net/ipv4 WriteBatch) would gain over one
// sendto per packet. The engine cannot use it as is: every call has its own socket (its own
// SDP port, so symmetric RTP works at the peer), and a batch goes out of ONE socket; each
// stream has exactly one packet per 20 ms. Kept to document the figure.
func BenchmarkSendBatch(b *testing.B) {
	const batch = 64
	_, to := sink(b)
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pkt := make([]byte, 172)
	b.Run("sendto", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for range batch {
				_, _ = c.WriteToUDPAddrPort(pkt, to)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/pkt")
	})
	b.Run("sendmmsg", func(b *testing.B) {
		pc := ipv4.NewPacketConn(c)
		dst := net.UDPAddrFromAddrPort(to)
		msgs := make([]ipv4.Message, batch)
		for i := range msgs {
			msgs[i] = ipv4.Message{Buffers: [][]byte{pkt}, Addr: dst}
		}
		b.ReportAllocs()
		for b.Loop() {
			for sent := 0; sent < batch; {
				n, err := pc.WriteBatch(msgs[sent:], 0)
				if err != nil {
					b.Fatal(err)
				}
				sent += n
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/pkt")
	})
}

// BenchmarkReceiveParse is the receive path's own work per packet (header parse into a reused
// rtp.Header, RFC 4733 decode), without the syscall. 0 allocs.
func BenchmarkReceiveParse(b *testing.B) {
	pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 9, Timestamp: 1}, Payload: ev(1, false, 0)}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	var h rtp.Header
	var d DTMFDecoder
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		n, err := h.Unmarshal(pkt)
		if err != nil {
			b.Fatal(err)
		}
		d.Decode(h.SSRC, h.Timestamp, pkt[n:], now)
	}
}
