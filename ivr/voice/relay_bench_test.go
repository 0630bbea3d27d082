package voice

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/rtp"
)

// The relay's cost per bridged packet, on loopback with real sockets: a "Meta" socket sends an
// SRTP packet, the relay decrypts it and forwards RTP to a "PBX" socket that echoes it, the
// relay encrypts the echo back to Meta, which decrypts it. One op = one round trip = two
// relayed packets (a bridged G.711 call relays 100 packets/s: 50 each way).
//
// Peer, same run: the same round trip through a plain UDP forwarder (no SRTP, no RTP parsing),
// the floor any relay pays for the kernel's loopback.

func benchSockets(b *testing.B) (meta, pbx *net.UDPConn) {
	b.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	var err error
	if meta, err = listenUDP(lo, 0, 0); err != nil {
		b.Fatal(err)
	}
	if pbx, err = listenUDP(lo, 0, 0); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { meta.Close(); pbx.Close() })
	return meta, pbx
}

// echo answers every packet on c to its sender.
func echo(c *net.UDPConn) {
	buf := make([]byte, 1500)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = c.WriteToUDPAddrPort(buf[:n], src)
	}
}

func BenchmarkRelayRoundTripSRTP(b *testing.B) {
	meta, pbx := benchSockets(b)
	go echo(pbx)
	r, err := newRelay(netip.MustParseAddr("127.0.0.1"), 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	metaKey, _ := NewCrypto(1, "AES_CM_128_HMAC_SHA1_80")
	ourKey, _ := NewCrypto(1, "AES_CM_128_HMAC_SHA1_80")
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); r.close() }()
	if err := r.start(ctx, meta.LocalAddr().(*net.UDPAddr).AddrPort(), pbx.LocalAddr().(*net.UDPAddr).AddrPort(),
		metaKey, ourKey, nil, nil); err != nil {
		b.Fatal(err)
	}
	enc, _ := metaKey.Context()
	dec, _ := ourKey.Context()
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port(r.meta)))
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)}
	buf := make([]byte, 1500)
	var wire, plain []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		raw, _ := pkt.Marshal()
		wire, _ = enc.EncryptRTP(wire[:0], raw, nil)
		if _, err := meta.WriteToUDPAddrPort(wire, to); err != nil {
			b.Fatal(err)
		}
		n, err := meta.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if plain, err = dec.DecryptRTP(plain[:0], buf[:n], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(r.fromMeta.Load()+r.fromPBX.Load())/float64(b.N), "relayed/op")
}

func BenchmarkPlainForwardRoundTrip(b *testing.B) {
	meta, pbx := benchSockets(b)
	go echo(pbx)
	fwd, back := benchSockets(b) // fwd: Meta's side of the forwarder; back: its PBX side
	pbxAddr := pbx.LocalAddr().(*net.UDPAddr).AddrPort()
	metaAddr := meta.LocalAddr().(*net.UDPAddr).AddrPort()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := fwd.Read(buf)
			if err != nil {
				return
			}
			_, _ = back.WriteToUDPAddrPort(buf[:n], pbxAddr)
		}
	}()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			_, _ = fwd.WriteToUDPAddrPort(buf[:n], metaAddr)
		}
	}()
	to := fwd.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)}
	buf := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pkt.SequenceNumber++
		raw, _ := pkt.Marshal()
		if _, err := meta.WriteToUDPAddrPort(raw, to); err != nil {
			b.Fatal(err)
		}
		if _, err := meta.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
