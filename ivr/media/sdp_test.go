package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// sdpOf joins lines with CRLF, as SIP bodies carry them.
func sdpOf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

func TestNegotiate(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	head := []string{"v=0", "o=caller 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0"}
	with := func(lines ...string) []byte { return sdpOf(append(append([]string{}, head...), lines...)...) }
	tests := []struct {
		name      string
		offer     []byte
		wantErr   error
		codec     Codec
		dtmf      uint8
		remote    string
		direction string
		formats   string // answer's m= formats for the audio stream
	}{
		{name: "PCMU first", offer: with("m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
			"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=sendrecv"),
			codec: PCMU, dtmf: 101, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "0 101"},
		{name: "PCMA first", offer: with("m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000"),
			codec: PCMA, dtmf: 101, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "8 101"},
		{name: "only PCMA", offer: with("m=audio 4002 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000"),
			codec: PCMA, dtmf: 101, remote: "127.0.0.1:4002", direction: "sendrecv", formats: "8 101"},
		{name: "unsupported codecs first", offer: with("m=audio 4000 RTP/AVP 9 18 111 8", "a=rtpmap:111 opus/48000/2"),
			codec: PCMA, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "8"},
		{name: "none common", offer: with("m=audio 4000 RTP/AVP 9 18 101", "a=rtpmap:101 telephone-event/8000"),
			wantErr: ErrNoCommonCodec},
		{name: "SRTP only", offer: with("m=audio 4000 RTP/SAVP 0 8"), wantErr: ErrNoCommonCodec},
		{name: "audio port 0", offer: with("m=audio 0 RTP/AVP 0"), wantErr: ErrNoCommonCodec},
		{name: "telephone-event 96 echoed", offer: with("m=audio 4000 RTP/AVP 0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15"),
			codec: PCMU, dtmf: 96, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "0 96"},
		{name: "telephone-event at 48 kHz ignored", offer: with("m=audio 4000 RTP/AVP 0 110", "a=rtpmap:110 telephone-event/48000"),
			codec: PCMU, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "0"},
		{name: "no telephone-event", offer: with("m=audio 4000 RTP/AVP 0"),
			codec: PCMU, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "0"},
		{name: "dynamic PT mapped to PCMU", offer: with("m=audio 4000 RTP/AVP 97", "a=rtpmap:97 pcmu/8000"),
			codec: Codec{Name: "PCMU", PT: 97, ClockRate: 8000}, remote: "127.0.0.1:4000", direction: "sendrecv", formats: "97"},
		{name: "c= at media level overrides session", offer: with("m=audio 4000 RTP/AVP 0", "c=IN IP4 127.0.0.2"),
			codec: PCMU, remote: "127.0.0.2:4000", direction: "sendrecv", formats: "0"},
		{name: "c= only at media level", offer: sdpOf("v=0", "o=caller 1 1 IN IP4 127.0.0.1", "s=-", "t=0 0",
			"m=audio 4000 RTP/AVP 0", "c=IN IP4 127.0.0.3"),
			codec: PCMU, remote: "127.0.0.3:4000", direction: "sendrecv", formats: "0"},
		{name: "IPv6", offer: sdpOf("v=0", "o=caller 1 1 IN IP6 ::1", "s=-", "c=IN IP6 ::1", "t=0 0", "m=audio 4000 RTP/AVP 8"),
			codec: PCMA, remote: "[::1]:4000", direction: "sendrecv", formats: "8"},
		{name: "hold address 0.0.0.0", offer: with("m=audio 4000 RTP/AVP 0", "c=IN IP4 0.0.0.0"),
			codec: PCMU, remote: "invalid AddrPort", direction: "sendrecv", formats: "0"},
		{name: "sendonly offer answered recvonly", offer: with("m=audio 4000 RTP/AVP 0", "a=sendonly"),
			codec: PCMU, remote: "127.0.0.1:4000", direction: "recvonly", formats: "0"},
		{name: "recvonly at session level answered sendonly", offer: sdpOf(append(append([]string{}, head...), "a=recvonly", "m=audio 4000 RTP/AVP 0")...),
			codec: PCMU, remote: "127.0.0.1:4000", direction: "sendonly", formats: "0"},
		{name: "inactive", offer: with("m=audio 4000 RTP/AVP 0", "a=inactive"),
			codec: PCMU, remote: "127.0.0.1:4000", direction: "inactive", formats: "0"},
		{name: "garbage", offer: []byte("hello"), wantErr: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans, p, err := Negotiate(tc.offer, local, 20000)
			if tc.wantErr != nil {
				if err == nil || (tc.wantErr != errAny && !errors.Is(err, tc.wantErr)) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Negotiate: %v", err)
			}
			if p.Codec != tc.codec || p.DTMFPT != tc.dtmf || p.Remote.String() != tc.remote || p.Direction != tc.direction {
				t.Errorf("params = %+v, want codec %+v dtmf %d remote %s dir %s", p, tc.codec, tc.dtmf, tc.remote, tc.direction)
			}
			var sd sdp.SessionDescription
			if err := sd.Unmarshal(ans); err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, ans)
			}
			if len(sd.MediaDescriptions) != 1 {
				t.Fatalf("answer has %d m= lines, want 1", len(sd.MediaDescriptions))
			}
			md := sd.MediaDescriptions[0]
			if got := strings.Join(md.MediaName.Formats, " "); got != tc.formats {
				t.Errorf("answer formats = %q, want %q\n%s", got, tc.formats, ans)
			}
			if md.MediaName.Port.Value != 20000 {
				t.Errorf("answer port = %d", md.MediaName.Port.Value)
			}
			if sd.ConnectionInformation == nil || sd.ConnectionInformation.Address.Address != "127.0.0.1" {
				t.Errorf("answer c= = %+v", sd.ConnectionInformation)
			}
			if tc.dtmf != 0 {
				wantFmtp := fmt.Sprintf("%d 0-16", tc.dtmf)
				if tc.name == "telephone-event 96 echoed" {
					wantFmtp = "96 0-15" // the caller's own event range
				}
				if got, _ := md.Attribute("fmtp"); got != wantFmtp {
					t.Errorf("answer fmtp = %q, want %q", got, wantFmtp)
				}
			}
			if _, ok := md.Attribute(tc.direction); !ok {
				t.Errorf("answer lacks a=%s:\n%s", tc.direction, ans)
			}
			// The answer must be acceptable to our own parser for the other direction.
			back, err := ParseAnswer(ans)
			if err != nil || back.Codec != tc.codec || back.DTMFPT != tc.dtmf {
				t.Errorf("ParseAnswer(answer) = %+v, %v", back, err)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestNegotiateRejectsOtherStreams(t *testing.T) {
	offer := sdpOf("v=0", "o=caller 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=video 5000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio 4000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000",
		"m=audio 4010 RTP/AVP 0")
	ans, p, err := Negotiate(offer, netip.MustParseAddr("127.0.0.1"), 30000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Remote.Port() != 4000 || p.Codec != PCMA {
		t.Errorf("params = %+v, want the first usable audio stream", p)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(ans); err != nil {
		t.Fatal(err)
	}
	var ports []int
	for _, md := range sd.MediaDescriptions {
		ports = append(ports, md.MediaName.Port.Value)
	}
	if len(ports) != 3 || ports[0] != 0 || ports[1] != 30000 || ports[2] != 0 {
		t.Errorf("answer ports = %v, want [0 30000 0] (one m= per offered stream)\n%s", ports, ans)
	}
}

func TestOfferAndParseAnswer(t *testing.T) {
	offer := Offer(netip.MustParseAddr("127.0.0.1"), 20002)
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, offer)
	}
	md := sd.MediaDescriptions[0]
	if got := strings.Join(md.MediaName.Formats, " "); got != "0 8 101" || md.MediaName.Port.Value != 20002 {
		t.Errorf("offer m= = %v", md.MediaName)
	}
	// A peer answering our offer with PCMA only and its own telephone-event PT.
	ans := sdpOf("v=0", "o=peer 2 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=audio 7000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:101 telephone-event/8000", "a=sendrecv")
	p, err := ParseAnswer(ans)
	if err != nil {
		t.Fatal(err)
	}
	if p.Codec != PCMA || p.DTMFPT != 101 || p.Remote.String() != "127.0.0.1:7000" || p.Direction != "sendrecv" {
		t.Errorf("ParseAnswer = %+v", p)
	}
	if _, err := ParseAnswer(sdpOf("v=0", "o=peer 2 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "m=audio 7000 RTP/AVP 9")); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("ParseAnswer(G722 only) err = %v, want ErrNoCommonCodec", err)
	}
	// IPv6 local address.
	if o := string(Offer(netip.MustParseAddr("::1"), 20004)); !strings.Contains(o, "c=IN IP6 ::1") {
		t.Errorf("IPv6 offer lacks c=IN IP6:\n%s", o)
	}
}

func TestRenegotiate(t *testing.T) {
	local := netip.MustParseAddr("127.0.0.1")
	offer := func(port int, dir string, formats string) []byte {
		return sdpOf("v=0", "o=caller 1 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
			fmt.Sprintf("m=audio %d RTP/AVP %s", port, formats), "a=rtpmap:101 telephone-event/8000", "a="+dir)
	}
	prev, _, err := Negotiate(offer(4000, "sendrecv", "0 101"), local, 30000)
	if err != nil {
		t.Fatal(err)
	}
	origin := func(b []byte) sdp.Origin {
		t.Helper()
		var sd sdp.SessionDescription
		if err := sd.Unmarshal(b); err != nil {
			t.Fatalf("parse %q: %v", b, err)
		}
		return sd.Origin
	}
	was := origin(prev)
	tests := []struct {
		name      string
		offer     []byte
		wantErr   error
		same      bool // the answer is prev, byte for byte
		remote    string
		direction string
		codec     Codec
	}{
		{name: "session refresh, same offer", offer: offer(4000, "sendrecv", "0 101"), same: true,
			remote: "127.0.0.1:4000", direction: "sendrecv", codec: PCMU},
		{name: "hold", offer: offer(4000, "sendonly", "0 101"), remote: "127.0.0.1:4000", direction: "recvonly", codec: PCMU},
		{name: "media moved, codec changed", offer: offer(4100, "sendrecv", "8 101"), remote: "127.0.0.1:4100", direction: "sendrecv", codec: PCMA},
		{name: "no common codec", offer: offer(4000, "sendrecv", "9 101"), wantErr: ErrNoCommonCodec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ans, p, err := Renegotiate(prev, tc.offer, local, 30000)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Remote.String() != tc.remote || p.Direction != tc.direction || p.Codec != tc.codec {
				t.Errorf("params %+v, want remote %s direction %s codec %s", p, tc.remote, tc.direction, tc.codec.Name)
			}
			if got := string(ans) == string(prev); got != tc.same {
				t.Fatalf("answer identical to the previous one: %v, want %v\n%s", got, tc.same, ans)
			}
			o := origin(ans)
			if o.SessionID != was.SessionID {
				t.Errorf("session id %d, want the session's %d", o.SessionID, was.SessionID)
			}
			if want := was.SessionVersion + 1; !tc.same && o.SessionVersion != want {
				t.Errorf("version %d, want %d", o.SessionVersion, want)
			}
			if !strings.Contains(string(ans), "a="+tc.direction) || !strings.Contains(string(ans), "m=audio 30000 ") {
				t.Errorf("answer lacks a=%s or our port:\n%s", tc.direction, ans)
			}
		})
	}
}
