package media

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

// ev builds a telephone-event payload.
func ev(event uint8, end bool, dur uint16) []byte {
	b := []byte{event, 10, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], dur)
	return b
}

type pkt struct {
	ssrc, ts uint32
	payload  []byte
	at       time.Duration
}

func TestDTMFDecoder(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"one event with three end packets", []pkt{
			{1, 1000, ev(1, false, 160), 0}, {1, 1000, ev(1, false, 320), 20 * ms}, {1, 1000, ev(1, true, 480), 40 * ms},
			{1, 1000, ev(1, true, 480), 41 * ms}, {1, 1000, ev(1, true, 480), 42 * ms}}, "1"},
		{"first packet duration 0 (sipp pcaps)", []pkt{
			{1, 13280, ev(1, false, 0), 0}, {1, 13280, ev(1, false, 320), 20 * ms}, {1, 13280, ev(1, true, 640), 40 * ms}}, "1"},
		{"only end packets (start lost)", []pkt{
			{1, 500, ev(11, true, 800), 0}, {1, 500, ev(11, true, 800), 1 * ms}, {1, 500, ev(11, true, 800), 2 * ms}}, "#"},
		{"same digit twice is two events", []pkt{
			{1, 1000, ev(2, false, 0), 0}, {1, 1000, ev(2, true, 800), 100 * ms},
			{1, 3000, ev(2, false, 0), 300 * ms}, {1, 3000, ev(2, true, 800), 400 * ms}}, "22"},
		{"timestamps going backwards (different sipp pcaps)", []pkt{
			{1, 31040, ev(3, false, 0), 0}, {1, 31040, ev(3, true, 2240), 140 * ms},
			{1, 13280, ev(1, false, 0), 1000 * ms}, {1, 13280, ev(1, true, 2240), 1140 * ms}}, "31"},
		{"reordered late update of the previous event", []pkt{
			{1, 1000, ev(4, false, 0), 0}, {1, 2000, ev(5, false, 0), 200 * ms}, {1, 1000, ev(4, true, 800), 201 * ms}}, "45"},
		{"same pcap replayed later", []pkt{
			{1, 13280, ev(1, false, 0), 0}, {1, 13280, ev(1, true, 2240), 140 * ms},
			{1, 13280, ev(1, false, 0), 2 * time.Second}, {1, 13280, ev(1, true, 2240), 2140 * ms}}, "11"},
		{"new SSRC same timestamp", []pkt{
			{1, 1000, ev(7, false, 0), 0}, {2, 1000, ev(7, false, 0), 10 * ms}}, "77"},
		{"star, pound, A-D", []pkt{
			{1, 1, ev(10, false, 0), 0}, {1, 2, ev(11, false, 0), 0}, {1, 3, ev(12, false, 0), 0}, {1, 4, ev(15, false, 0), 0}}, "*#AD"},
		{"flash and short payload ignored", []pkt{
			{1, 1, ev(16, false, 0), 0}, {1, 2, []byte{1, 2}, 0}}, ""},
		{"long event continues in a new segment", []pkt{
			{1, 100, ev(9, false, 0xffff), 0}, {1, 100 + 0xffff, ev(9, false, 800), 20 * ms}, {1, 100 + 0xffff, ev(9, true, 1600), 40 * ms}}, "9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d DTMFDecoder
			base := time.Now()
			got := ""
			for _, p := range tc.pkts {
				if r, ok := d.Decode(p.ssrc, p.ts, p.payload, base.Add(p.at)); ok {
					got += string(r)
				}
			}
			if got != tc.want {
				t.Errorf("digits = %q, want %q", got, tc.want)
			}
		})
	}
}

// rtpFromPcap reads the UDP payloads of a classic libpcap file (Ethernet or Linux cooked
// capture, IPv4), with their capture times: just enough for sip-tester's DTMF pcaps.
func rtpFromPcap(t *testing.T, path string) []pkt {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: short pcap", path)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4:
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	default:
		t.Fatalf("%s: not a classic pcap", path)
	}
	link := bo.Uint32(b[20:])
	var out []pkt
	var first time.Time
	for off := 24; off+16 <= len(b); {
		sec, usec, incl := bo.Uint32(b[off:]), bo.Uint32(b[off+4:]), int(bo.Uint32(b[off+8:]))
		frame := b[off+16 : min(off+16+incl, len(b))]
		off += 16 + incl
		at := time.Unix(int64(sec), int64(usec)*1000)
		if first.IsZero() {
			first = at
		}
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(frame) < 14 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
				continue
			}
			ip = frame[14:]
		case 113: // Linux cooked
			ip = frame[16:]
		default:
			t.Fatalf("%s: link type %d", path, link)
		}
		if len(ip) < 20 || ip[9] != 17 {
			continue
		}
		udp := ip[int(ip[0]&0x0f)*4:]
		if len(udp) < 8+12 {
			continue
		}
		rtpb := udp[8:]
		if rtpb[1]&0x7f != 101 {
			continue
		}
		out = append(out, pkt{ssrc: binary.BigEndian.Uint32(rtpb[8:]), ts: binary.BigEndian.Uint32(rtpb[4:]),
			payload: rtpb[12:], at: at.Sub(first)})
	}
	return out
}

// TestDTMFSippPcaps decodes the RFC 4733 pcaps sip-tester ships (first packet duration 0,
// three retransmitted end packets), alone and played back to back as a sipp scenario would.
func TestDTMFSippPcaps(t *testing.T) {
	dir := "/usr/share/sip-tester"
	testkit.RequireFile(t, filepath.Join(dir, "dtmf_2833_1.pcap"))
	files := map[string]rune{"0": '0', "1": '1', "2": '2', "3": '3', "4": '4', "5": '5', "6": '6', "7": '7',
		"8": '8', "9": '9', "pound": '#', "star": '*'}
	var all []pkt
	var want string
	for _, name := range []string{"1", "3", "1", "pound", "star", "0", "9", "9", "2", "4", "5", "6", "7", "8"} {
		pkts := rtpFromPcap(t, filepath.Join(dir, "dtmf_2833_"+name+".pcap"))
		if len(pkts) < 4 {
			t.Fatalf("%s: %d packets", name, len(pkts))
		}
		if e, _ := ParseDTMF(pkts[0].payload); e.Duration != 0 {
			t.Errorf("%s: first packet duration %d; the test relies on sipp's 0", name, e.Duration)
		}
		ends := 0
		for _, p := range pkts {
			if e, _ := ParseDTMF(p.payload); e.End {
				ends++
			}
		}
		if ends != 3 {
			t.Errorf("%s: %d end packets, want 3", name, ends)
		}
		var d DTMFDecoder
		got := ""
		for _, p := range pkts {
			if r, ok := d.Decode(p.ssrc, p.ts, p.payload, time.Unix(0, 0).Add(p.at)); ok {
				got += string(r)
			}
		}
		if got != string(files[name]) {
			t.Errorf("%s alone: digits %q, want %q", name, got, string(files[name]))
		}
		// Back to back, one second apart, as a scenario pressing several keys would send them.
		shift := time.Duration(len(want)) * time.Second
		for _, p := range pkts {
			p.at += shift
			all = append(all, p)
		}
		want += string(files[name])
	}
	var d DTMFDecoder
	got := ""
	for _, p := range all {
		if r, ok := d.Decode(p.ssrc, p.ts, p.payload, time.Unix(0, 0).Add(p.at)); ok {
			got += string(r)
		}
	}
	if got != want {
		t.Errorf("sequence: digits %q, want %q", got, want)
	}
}
