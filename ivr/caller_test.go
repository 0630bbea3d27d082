package ivr

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/deflectd/deflectd/ivr/media"
)

// TestCallerSendsRFC4733Event checks the test caller's key press on the wire: updates with
// growing duration (marker on the first), then the end packet three times, all with the
// event's start timestamp; and that the gateway's decoder reads exactly one digit from it.
func TestCallerSendsRFC4733Event(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	p := media.Params{Codec: media.PCMU, DTMFPT: 101, Remote: rx.LocalAddr().(*net.UDPAddr).AddrPort()}
	snd := newRTPSender(tx, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go snd.run(ctx)
	if !snd.press('7') {
		t.Fatal("press refused")
	}

	var events []rtp.Packet
	var dec media.DTMFDecoder
	var digits []rune
	buf := make([]byte, 1500)
	_ = rx.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(events) < 8 {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %d event packets)", err, len(events))
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		if pkt.PayloadType != 101 {
			if pkt.PayloadType != 0 || len(pkt.Payload) != media.FrameSize {
				t.Fatalf("audio packet pt %d len %d", pkt.PayloadType, len(pkt.Payload))
			}
			continue
		}
		events = append(events, pkt)
		if d, ok := dec.Decode(pkt.SSRC, pkt.Timestamp, pkt.Payload, time.Now()); ok {
			digits = append(digits, d)
		}
	}
	if string(digits) != "7" {
		t.Errorf("decoded %q, want one 7", string(digits))
	}
	var prevDur uint16
	for i, pkt := range events {
		ev, ok := media.ParseDTMF(pkt.Payload)
		if !ok || ev.Event != 7 {
			t.Fatalf("packet %d: %+v", i, ev)
		}
		if pkt.Timestamp != events[0].Timestamp {
			t.Errorf("packet %d: timestamp %d, want the event's %d", i, pkt.Timestamp, events[0].Timestamp)
		}
		if (i == 0) != pkt.Marker {
			t.Errorf("packet %d: marker %v", i, pkt.Marker)
		}
		if i > 0 && pkt.SequenceNumber != events[i-1].SequenceNumber+1 {
			t.Errorf("packet %d: sequence gap", i)
		}
		switch {
		case i < 5:
			if ev.End || ev.Duration <= prevDur {
				t.Errorf("update %d: end %v duration %d after %d", i, ev.End, ev.Duration, prevDur)
			}
		default:
			if !ev.End || ev.Duration != prevDur {
				t.Errorf("end packet %d: end %v duration %d", i, ev.End, ev.Duration)
			}
		}
		prevDur = ev.Duration
	}
}
