package voice

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/deflectd/deflectd/ivr/media"
	"github.com/pion/sdp/v3"
)

// Offer is what we use of an SDP offer: the first G.711 audio stream, where it receives, and
// (for SRTP) the key its sender uses.
type Offer struct {
	Codec  media.Codec
	DTMFPT uint8
	Remote netip.AddrPort
	Crypto *Crypto // nil on plain RTP
}

// ParseOffer reads an offer or answer. secure demands RTP/SAVP with an a=crypto we support
// (Meta's side); otherwise RTP/AVP (the PBX's side).
func ParseOffer(body []byte, secure bool) (Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return Offer{}, fmt.Errorf("parse sdp: %w", err)
	}
	want := "RTP/AVP"
	if secure {
		want = "RTP/SAVP"
	}
	sawAudio := false
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		sawAudio = true
		if !strings.EqualFold(strings.Join(md.MediaName.Protos, "/"), want) {
			continue
		}
		c, ok := media.PickCodec(md)
		if !ok {
			continue
		}
		o := Offer{Codec: c, DTMFPT: media.TelephoneEventPT(md), Remote: media.RemoteAddr(&sd, md)}
		if !secure {
			return o, nil
		}
		for _, a := range md.Attributes {
			if a.Key != "crypto" {
				continue
			}
			if cr, err := ParseCrypto(a.Value); err == nil {
				o.Crypto = &cr
				return o, nil
			}
		}
		return Offer{}, ErrNoCrypto
	}
	if !sawAudio {
		return Offer{}, fmt.Errorf("sdp has no audio stream")
	}
	return Offer{}, fmt.Errorf("no %s G.711 (PCMU/PCMA) audio: %w", want, media.ErrNoCommonCodec)
}

// Describe is our SDP for one side: codec (and telephone-event when dtmfPT ≠ 0) at local:port,
// RTP/SAVP with our key when crypto is set.
func Describe(local netip.Addr, port int, codecs []media.Codec, dtmfPT uint8, crypto *Crypto) []byte {
	sd := media.Session(local)
	protos := []string{"RTP", "AVP"}
	if crypto != nil {
		protos = []string{"RTP", "SAVP"}
	}
	md := media.AudioDescription(port, protos, codecs, dtmfPT)
	if crypto != nil {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("crypto", crypto.Attribute()))
	}
	sd.MediaDescriptions = append(sd.MediaDescriptions, md)
	b, err := sd.Marshal()
	if err != nil {
		panic(fmt.Sprintf("marshal own sdp: %v", err)) // built here: cannot fail
	}
	return b
}
