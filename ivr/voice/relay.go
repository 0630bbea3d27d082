package voice

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// relay carries one bridged call's audio: SRTP with Meta on one socket, plain RTP with the PBX
// on the other. Both sides speak G.711 (we offer the PBX the codec Meta chose), so packets are
// only re-keyed and, where the two sides numbered a payload type differently, renumbered:
// nothing is transcoded. Each direction has its own goroutine and its own SRTP context.
type relay struct {
	meta, pbx *net.UDPConn

	metaRemote, pbxRemote atomic.Pointer[netip.AddrPort]
	dec, enc              *srtp.Context // Meta's key (decrypt what it sends), ours (encrypt to it)

	// Payload type renumbering, Meta's numbering ↔ the PBX's.
	toPBX, toMeta map[uint8]uint8

	fromMeta, fromPBX, dropped atomic.Uint64
	last                       atomic.Int64 // unix nanos of the last packet either way
	wg                         sync.WaitGroup
	closeOnce                  sync.Once
}

// listenUDP binds a media socket on ip, in [min, max] when a range is set (firewalls open a
// range for media), else on an ephemeral port.
func listenUDP(ip netip.Addr, min, max int) (*net.UDPConn, error) {
	if min <= 0 || max < min {
		return net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	}
	span := max - min + 1
	start := rand.IntN(span)
	for i := 0; i < span && i < 64; i++ {
		port := min + (start+i)%span
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no free media port in %d-%d on %s", min, max, ip)
}

func newRelay(ip netip.Addr, min, max int) (*relay, error) {
	meta, err := listenUDP(ip, min, max)
	if err != nil {
		return nil, fmt.Errorf("bind meta media socket: %w", err)
	}
	pbx, err := listenUDP(ip, min, max)
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("bind pbx media socket: %w", err)
	}
	r := &relay{meta: meta, pbx: pbx}
	r.last.Store(time.Now().UnixNano())
	return r, nil
}

func port(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// start begins relaying once both sides' keys and addresses are known.
func (r *relay) start(ctx context.Context, metaRemote, pbxRemote netip.AddrPort, metaKey, ourKey Crypto, toPBX, toMeta map[uint8]uint8) error {
	var err error
	if r.dec, err = metaKey.Context(); err != nil {
		return err
	}
	if r.enc, err = ourKey.Context(); err != nil {
		return err
	}
	r.toPBX, r.toMeta = toPBX, toMeta
	r.metaRemote.Store(&metaRemote)
	r.pbxRemote.Store(&pbxRemote)
	r.wg.Add(2)
	go r.pump(ctx, r.meta, r.pbx, &r.metaRemote, &r.pbxRemote, r.fromMetaPacket, &r.fromMeta)
	go r.pump(ctx, r.pbx, r.meta, &r.pbxRemote, &r.metaRemote, r.fromPBXPacket, &r.fromPBX)
	return nil
}

// pump reads one side and writes the other. The source address latches the peer (symmetric
// RTP: a NAT or SBC may send from elsewhere than its SDP said), but only for packets that
// pass the side's check (SRTP authentication, or an RTP header), so a stray packet cannot
// steal the stream.
func (r *relay) pump(ctx context.Context, in, out *net.UDPConn, inRemote, outRemote *atomic.Pointer[netip.AddrPort],
	convert func(dst, pkt []byte) ([]byte, bool), count *atomic.Uint64) {
	defer r.wg.Done()
	buf := make([]byte, 1500)
	dst := make([]byte, 0, 1600)
	for ctx.Err() == nil {
		n, src, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		b, ok := convert(dst[:0], buf[:n])
		if !ok {
			r.dropped.Add(1)
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if cur := inRemote.Load(); cur == nil || *cur != src {
			latched := src // a copy: only a change of address allocates
			inRemote.Store(&latched)
		}
		count.Add(1)
		r.last.Store(time.Now().UnixNano())
		if to := outRemote.Load(); to != nil && to.IsValid() {
			_, _ = out.WriteToUDPAddrPort(b, *to)
		}
	}
}

func renumber(hdr *rtp.Header, m map[uint8]uint8) {
	if pt, ok := m[hdr.PayloadType]; ok {
		hdr.PayloadType = pt
	}
}

// fromMetaPacket: SRTP from Meta → plain RTP for the PBX. RTCP (payload types 72–76 in the
// second byte, RFC 5761) is not relayed: each side's reports describe its own leg.
func (r *relay) fromMetaPacket(dst, pkt []byte) ([]byte, bool) {
	if isRTCP(pkt) {
		return nil, false
	}
	var hdr rtp.Header
	plain, err := r.dec.DecryptRTP(dst, pkt, &hdr)
	if err != nil {
		return nil, false
	}
	if pt, ok := r.toPBX[hdr.PayloadType]; ok {
		plain[1] = plain[1]&0x80 | pt
	}
	return plain, true
}

// fromPBXPacket: plain RTP from the PBX → SRTP for Meta.
func (r *relay) fromPBXPacket(dst, pkt []byte) ([]byte, bool) {
	if isRTCP(pkt) {
		return nil, false
	}
	var hdr rtp.Header
	if _, err := hdr.Unmarshal(pkt); err != nil || hdr.Version != 2 {
		return nil, false
	}
	renumber(&hdr, r.toMeta)
	if hdr.PayloadType != pkt[1]&0x7f {
		pkt[1] = pkt[1]&0x80 | hdr.PayloadType
	}
	enc, err := r.enc.EncryptRTP(dst, pkt, &hdr) // the header parsed above, not parsed again
	if err != nil {
		return nil, false
	}
	return enc, true
}

func isRTCP(pkt []byte) bool {
	return len(pkt) >= 2 && pkt[1] >= 192 && pkt[1] <= 223
}

// idle is how long no packet went either way.
func (r *relay) idle() time.Duration { return time.Since(time.Unix(0, r.last.Load())) }

func (r *relay) close() {
	r.closeOnce.Do(func() {
		r.meta.Close()
		r.pbx.Close()
	})
	r.wg.Wait()
}
