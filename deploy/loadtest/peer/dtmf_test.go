package main

import "testing"

func TestDTMFDecoder(t *testing.T) {
	type pkt struct {
		ts      uint32
		payload []byte
	}
	ev := func(digit byte, end bool, dur uint16) []byte {
		b := byte(10)
		if end {
			b |= 0x80
		}
		return []byte{digit, b, byte(dur >> 8), byte(dur)}
	}
	tests := []struct {
		name string
		pkts []pkt
		want string
	}{
		{"first packet duration 0 (sip-tester pcap)", []pkt{
			{100, ev(1, false, 0)}, {100, ev(1, false, 160)}, {100, ev(1, false, 320)},
			{100, ev(1, true, 800)}, {100, ev(1, true, 800)}, {100, ev(1, true, 800)},
		}, "1"},
		{"two digits", []pkt{
			{100, ev(1, false, 160)}, {100, ev(1, true, 800)},
			{900, ev(2, false, 0)}, {900, ev(2, true, 800)}, {900, ev(2, true, 800)},
		}, "12"},
		{"same digit twice", []pkt{
			{100, ev(5, false, 0)}, {100, ev(5, true, 800)},
			{1900, ev(5, false, 0)}, {1900, ev(5, true, 800)},
		}, "55"},
		{"lost end packet reported when the next event starts", []pkt{
			{100, ev(3, false, 0)}, {100, ev(3, false, 160)},
			{900, ev(4, false, 0)},
		}, "3"},
		{"end packets only", []pkt{{100, ev(11, true, 800)}, {100, ev(11, true, 800)}}, "#"},
		{"short payload ignored", []pkt{{100, []byte{1, 0x80}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d dtmfDecoder
			var got []rune
			for _, p := range tc.pkts {
				if r, ok := d.push(p.ts, p.payload); ok {
					got = append(got, r)
				}
			}
			if string(got) != tc.want {
				t.Fatalf("got %q, want %q", string(got), tc.want)
			}
		})
	}
}
