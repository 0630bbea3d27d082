package media

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
)

// Many streams share a receiver: each gets its own key press, and closing streams while their
// sockets still receive neither panics nor disturbs the others.
func TestReceiverSharedByManyStreams(t *testing.T) {
	tests := []struct {
		name string
		bind netip.Addr
	}{
		{name: "IPv4 loopback", bind: loopback},
		{name: "all addresses (dual-stack socket, IPv4 peer)", bind: netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := NewEngine(EngineConfig{BindIP: tt.bind, Schedulers: 2}, testPrompts(t), nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			pr := newPeer(t)
			const n = 40
			streams := make([]*Stream, n)
			for i := range streams {
				s, err := e.Open()
				if err != nil {
					t.Fatal(err)
				}
				s.Start(Params{Codec: PCMU, DTMFPT: 101, Remote: pr.addr()})
				streams[i] = s
			}
			// The odd streams close while a burst of packets is on its way to them.
			var wg sync.WaitGroup
			for i, s := range streams {
				digit := uint8(i % 10)
				pr.send(t, streamAddr(s), rtp.Header{Version: 2, PayloadType: 101, SSRC: uint32(i + 1), Timestamp: 160}, ev(digit, false, 0))
				if i%2 == 1 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for k := range 20 {
							pr.send(t, streamAddr(s), rtp.Header{Version: 2, PayloadType: 0, SSRC: 99, SequenceNumber: uint16(k)}, make([]byte, FrameSize))
						}
						s.Close()
					}()
				}
			}
			wg.Wait()
			for i, s := range streams {
				if i%2 == 1 {
					continue
				}
				select {
				case r := <-s.DTMF():
					if want := rune('0' + i%10); r != want {
						t.Errorf("stream %d: digit %q, want %q", i, r, want)
					}
				case <-time.After(3 * time.Second):
					t.Fatalf("stream %d: no digit", i)
				}
			}
			// The streams left still send (v4-mapped on a dual-stack socket); read fails the test if not.
			pr.read(t, n)
			for i, s := range streams {
				if st := s.Stats(); i%2 == 0 && st.PacketsSent == 0 {
					t.Errorf("stream on port %d sent nothing", s.LocalPort())
				}
				s.Close()
			}
			for i, r := range e.recvs {
				r.mu.Lock()
				left := len(r.streams)
				r.mu.Unlock()
				if left != 0 {
					t.Errorf("receiver %d still watches %d sockets", i, left)
				}
			}
		})
	}
}
