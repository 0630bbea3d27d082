package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkReceivePath is the receiver's work per datagram: raw recvfrom into its buffer (the
// source address decoded without allocating), RTP header parse, RFC 4733 decode. The peer's
// sendto is inside the loop too (on loopback it delivers synchronously). Must report 0 allocs/op.
func BenchmarkReceivePath(b *testing.B) {
	e, err := NewEngine(EngineConfig{BindIP: loopback}, testPrompts(b), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	s, err := e.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Not Start: the engine's own receiver must not race the benchmark for the datagrams.
	s.mu.Lock()
	s.params = Params{Codec: PCMU, DTMFPT: 101}
	s.mu.Unlock()
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	pkt, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 9, Timestamp: 1}, Payload: ev(1, false, 0)}).Marshal()
	if err != nil {
		b.Fatal(err)
	}
	to := streamAddr(s)
	r := &receiver{}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := peer.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
		n, from, err := r.recvfrom(s.sock.fd)
		if err != nil {
			b.Fatal(err)
		}
		s.receive(&r.h, r.buf[:n], from, now)
	}
}
