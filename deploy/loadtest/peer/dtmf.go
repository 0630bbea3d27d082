package main

// dtmfDecoder turns RFC 4733 telephone-event payloads into digits. It identifies an event by its
// RTP timestamp and reports it on the first end packet, so an event whose first packet has
// duration 0 (as in sip-tester's pcaps) is still seen; the end packet's retransmissions and a
// lost end packet (a new timestamp begins) are handled.
type dtmfDecoder struct {
	ts       uint32
	event    byte
	active   bool // an event with timestamp ts is in progress
	reported bool // its digit has been reported
}

const dtmfDigits = "0123456789*#ABCD"

// push feeds one telephone-event payload with its RTP timestamp; it returns the digit and true when
// an event completes.
func (d *dtmfDecoder) push(ts uint32, payload []byte) (rune, bool) {
	if len(payload) < 4 || payload[0] >= byte(len(dtmfDigits)) {
		return 0, false
	}
	ev, end := payload[0], payload[1]&0x80 != 0
	var lost rune
	var haveLost bool
	if !d.active || ts != d.ts {
		// A new event; if the previous one never saw its end packet, report it now.
		if d.active && !d.reported {
			lost, haveLost = rune(dtmfDigits[d.event]), true
		}
		d.ts, d.event, d.active, d.reported = ts, ev, true, false
	}
	if end && !d.reported {
		d.reported = true
		if haveLost {
			// Rare: report the lost one; the current one is dropped rather than queued.
			return lost, true
		}
		return rune(dtmfDigits[ev]), true
	}
	return lost, haveLost
}
