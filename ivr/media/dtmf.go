package media

import (
	"encoding/binary"
	"time"
)

// DTMFEvent is one decoded RFC 4733 telephone-event payload.
type DTMFEvent struct {
	Event    uint8 // 0-9, 10 '*', 11 '#', 12-15 'A'-'D', 16 flash
	End      bool
	Volume   uint8
	Duration uint16 // in timestamp units (8 kHz)
}

// ParseDTMF parses an RFC 4733 §2.3 payload (4 bytes; several events in one packet, as
// RFC 4733 §2.5.1.5 allows for redundancy, are read as the first).
func ParseDTMF(payload []byte) (DTMFEvent, bool) {
	if len(payload) < 4 {
		return DTMFEvent{}, false
	}
	return DTMFEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(payload[2:4]),
	}, true
}

// DigitRune maps a DTMF event code to its key: '0'-'9', '*', '#', 'A'-'D'.
func DigitRune(event uint8) (rune, bool) {
	switch {
	case event <= 9:
		return rune('0' + event), true
	case event == 10:
		return '*', true
	case event == 11:
		return '#', true
	case event <= 15:
		return rune('A' + event - 12), true
	}
	return 0, false
}

// replayGap: a packet repeating an ENDED event's timestamp this long after its last packet is a
// new key press. Stock sipp replays a DTMF pcap byte for byte (same SSRC, timestamp, sequence),
// so pressing the same digit twice looks like one event otherwise; genuine retransmissions of
// the end packet follow within tens of milliseconds.
const replayGap = 500 * time.Millisecond

type dtmfSlot struct {
	ssrc, ts uint32
	event    uint8
	ended    bool
	dur      uint16
	last     time.Time
	used     bool
}

// DTMFDecoder turns RFC 4733 packets into key presses. Events are identified by (SSRC, RTP
// timestamp, event code); the three retransmitted end packets and every update of an event are
// counted once. A digit is reported on the FIRST packet seen of a new event — whatever its
// duration, including 0 as sip-tester's pcaps send — so a key press interrupts a prompt at once
// (barge-in) and a lost start or end packet still yields the digit. Timestamps need not grow:
// sipp's pcaps for different digits carry unrelated timestamps. Zero value is ready; not safe
// for concurrent use; allocation-free.
type DTMFDecoder struct {
	recent [4]dtmfSlot // the last few events, so late or reordered packets are not new presses
	next   int
}

// Decode feeds one telephone-event packet; it returns the key when the packet starts a new event.
func (d *DTMFDecoder) Decode(ssrc, ts uint32, payload []byte, now time.Time) (rune, bool) {
	ev, ok := ParseDTMF(payload)
	if !ok {
		return 0, false
	}
	for i := range d.recent {
		s := &d.recent[i]
		if !s.used || s.ssrc != ssrc || s.event != ev.Event {
			continue
		}
		if s.ts == ts {
			if s.ended && now.Sub(s.last) > replayGap {
				// The same event replayed later: a new press, tracked in the same slot.
				s.ended, s.dur, s.last = ev.End, ev.Duration, now
				return DigitRune(ev.Event)
			}
			s.ended = s.ended || ev.End
			s.dur = max(s.dur, ev.Duration)
			s.last = now
			return 0, false
		}
		// RFC 4733 §2.5.1.3: an event longer than the 16-bit duration continues in a new segment
		// whose timestamp is the old one plus the old (saturated) duration.
		if !s.ended && s.dur >= 0xff00 && ts-s.ts > 0 && ts-s.ts <= uint32(s.dur)+8000 {
			s.ts, s.dur, s.ended, s.last = ts, ev.Duration, ev.End, now
			return 0, false
		}
	}
	r, ok := DigitRune(ev.Event)
	if !ok {
		return 0, false // flash and tones: not keys
	}
	d.recent[d.next] = dtmfSlot{ssrc: ssrc, ts: ts, event: ev.Event, ended: ev.End, dur: ev.Duration, last: now, used: true}
	d.next = (d.next + 1) % len(d.recent)
	return r, true
}
