package media

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

// FuzzDTMFDecode: arbitrary payloads and timestamps never panic, a digit is always a valid key,
// and a packet repeated at once never yields a second digit.
func FuzzDTMFDecode(f *testing.F) {
	f.Add(uint32(1), uint32(13280), []byte{1, 10, 0, 0})
	f.Add(uint32(1), uint32(13280), []byte{1, 0x8a, 0x08, 0xc0})
	f.Add(uint32(7), uint32(0), []byte{11, 0, 0xff, 0xff})
	f.Add(uint32(0), uint32(0xffffffff), []byte{16})
	f.Add(uint32(3), uint32(5), []byte{})
	f.Fuzz(func(t *testing.T, ssrc, ts uint32, payload []byte) {
		var d DTMFDecoder
		now := time.Unix(0, 0)
		r, ok := d.Decode(ssrc, ts, payload, now)
		if ok {
			if _, valid := DigitRune(payload[0]); !valid || len(payload) < 4 {
				t.Fatalf("digit %q from payload % x", r, payload)
			}
		}
		if r2, ok2 := d.Decode(ssrc, ts, payload, now.Add(time.Millisecond)); ok2 {
			t.Fatalf("retransmission yielded a second digit %q", r2)
		}
		if e, ok := ParseDTMF(payload); ok && e.Volume > 63 {
			t.Fatalf("volume %d", e.Volume)
		}
	})
}

// FuzzNegotiate: any offer either fails cleanly or yields an answer our own parser accepts with
// the same codec.
func FuzzNegotiate(f *testing.F) {
	f.Add([]byte("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\no=a 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\nc=IN IP4 127.0.0.1\r\na=sendonly\r\n"))
	f.Add([]byte("v=0\r\no=a 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 97 96\r\na=rtpmap:97 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\no=a 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\n"))
	f.Add([]byte(""))
	local := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, offer []byte) {
		ans, p, err := Negotiate(offer, local, 20000)
		if err != nil {
			if ans != nil {
				t.Fatal("answer with an error")
			}
			return
		}
		if p.Codec.Name != "PCMU" && p.Codec.Name != "PCMA" {
			t.Fatalf("codec %+v", p.Codec)
		}
		back, err := ParseAnswer(ans)
		if err != nil && !errors.Is(err, ErrNoCommonCodec) {
			t.Fatalf("own answer does not parse: %v\n%s", err, ans)
		}
		if err == nil && back.Codec != p.Codec {
			t.Fatalf("answer codec %+v, negotiated %+v\n%s", back.Codec, p.Codec, ans)
		}
	})
}
