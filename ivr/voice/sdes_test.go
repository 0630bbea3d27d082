package voice

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/ivr/media"
	"github.com/pion/rtp"
)

// The key of RFC 4568 §9.1's example offer.
const rfcKey = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"

func TestParseCrypto(t *testing.T) {
	tests := []struct {
		name, attr string
		wantErr    string
	}{
		{name: "plain inline key", attr: "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"},
		{name: "lifetime", attr: "2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20"},
		{name: "mki refused", attr: rfcKey, wantErr: "MKI"},
		{name: "unknown suite", attr: "1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR", wantErr: "suite"},
		{name: "short key", attr: "1 AES_CM_128_HMAC_SHA1_80 inline:QUJD", wantErr: "30 bytes"},
		{name: "not inline", attr: "1 AES_CM_128_HMAC_SHA1_80 uri:http://x", wantErr: "inline"},
		{name: "missing fields", attr: "1 AES_CM_128_HMAC_SHA1_80", wantErr: "want tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCrypto(tc.attr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(c.Key) != 30 {
				t.Fatalf("crypto %+v, err %v", c, err)
			}
			back, err := ParseCrypto(c.Attribute())
			if err != nil || !bytes.Equal(back.Key, c.Key) || back.Suite != c.Suite || back.Tag != c.Tag {
				t.Errorf("round trip %+v → %q → %+v (%v)", c, c.Attribute(), back, err)
			}
		})
	}
}

// TestSRTPRoundTrip: what one side encrypts with a key announced in SDP, the other decrypts;
// a flipped bit fails authentication.
func TestSRTPRoundTrip(t *testing.T) {
	k, err := NewCrypto(1, "AES_CM_128_HMAC_SHA1_80")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ParseCrypto(k.Attribute())
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := k.Context()
	dec, _ := peer.Context()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 7, SSRC: 42}, Payload: bytes.Repeat([]byte{0xff}, 160)}
	raw, _ := pkt.Marshal()
	wire, err := enc.EncryptRTP(nil, raw, nil)
	if err != nil || bytes.Equal(wire[12:172], raw[12:]) {
		t.Fatalf("encrypt: %v (payload unchanged: %v)", err, err == nil)
	}
	plain, err := dec.DecryptRTP(nil, wire, nil)
	if err != nil || !bytes.Equal(plain, raw) {
		t.Fatalf("decrypt: %v", err)
	}
	wire[20] ^= 1
	pkt.SequenceNumber = 8
	if _, err := dec.DecryptRTP(nil, wire, nil); err == nil {
		t.Error("a tampered packet decrypted")
	}
}

func TestParseOffer(t *testing.T) {
	key := "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n"
	sdp := func(proto, fmts string, extra string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 " + proto + " " + fmts +
			"\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n" + extra)
	}
	tests := []struct {
		name   string
		body   []byte
		secure bool
		codec  string
		err    error
	}{
		{name: "meta sdes g711", body: sdp("RTP/SAVP", "111 8 0 101", key), secure: true, codec: "PCMA"},
		{name: "meta opus only", body: sdp("RTP/SAVP", "111 101", key), secure: true, err: media.ErrNoCommonCodec},
		{name: "meta without crypto", body: sdp("RTP/SAVP", "0", ""), secure: true, err: ErrNoCrypto},
		{name: "meta plain rtp", body: sdp("RTP/AVP", "0", ""), secure: true, err: media.ErrNoCommonCodec},
		{name: "webrtc dtls", body: sdp("UDP/TLS/RTP/SAVPF", "111", "a=fingerprint:sha-256 AA\r\n"), secure: true, err: media.ErrNoCommonCodec},
		{name: "pbx answer", body: sdp("RTP/AVP", "0 101", ""), codec: "PCMU"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseOffer(tc.body, tc.secure)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || o.Codec.Name != tc.codec || o.Remote != netip.MustParseAddrPort("127.0.0.1:4000") || o.DTMFPT != 101 {
				t.Fatalf("offer %+v, err %v", o, err)
			}
			if tc.secure != (o.Crypto != nil) {
				t.Errorf("crypto %v for secure=%v", o.Crypto, tc.secure)
			}
		})
	}
}

// TestPTMap: payload types are renumbered only where the two sides numbered them differently.
func TestPTMap(t *testing.T) {
	meta := Offer{Codec: media.Codec{Name: "PCMA", PT: 8}, DTMFPT: 101}
	tests := []struct {
		name string
		pbx  Offer
		want map[uint8]uint8
	}{
		{name: "same numbers", pbx: Offer{Codec: media.Codec{Name: "PCMA", PT: 8}, DTMFPT: 101}, want: map[uint8]uint8{}},
		{name: "dynamic dtmf differs", pbx: Offer{Codec: media.Codec{Name: "PCMA", PT: 8}, DTMFPT: 96}, want: map[uint8]uint8{101: 96}},
		{name: "no dtmf on the pbx", pbx: Offer{Codec: media.Codec{Name: "PCMA", PT: 8}}, want: map[uint8]uint8{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ptMap(meta, tc.pbx)
			if len(got) != len(tc.want) {
				t.Fatalf("ptMap = %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("ptMap = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
