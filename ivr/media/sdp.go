package media

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Codec is an RTP audio codec we can send: G.711 μ-law or A-law at 8 kHz.
type Codec struct {
	Name      string // "PCMU" or "PCMA"
	PT        uint8  // payload type as negotiated (0 and 8 unless the peer remapped them)
	ClockRate int
}

// The codecs we support, in our own order of preference for offers.
var (
	PCMU = Codec{Name: "PCMU", PT: 0, ClockRate: 8000}
	PCMA = Codec{Name: "PCMA", PT: 8, ClockRate: 8000}
)

// DefaultDTMFPT is the telephone-event payload type we offer (the common choice).
const DefaultDTMFPT = 101

// Params is the outcome of an offer/answer exchange: what a Stream sends and where.
type Params struct {
	Codec  Codec
	DTMFPT uint8 // telephone-event payload type; 0 = the peer offered none
	// Remote is where the peer said it receives RTP. It may be invalid (c=0.0.0.0, port 0):
	// the Stream then waits for the peer's RTP and answers to its source (symmetric RTP).
	Remote netip.AddrPort
	// Direction is OUR direction as put in the answer: sendrecv, sendonly, recvonly or
	// inactive. A Stream sends no RTP when it is recvonly or inactive.
	Direction string
}

var (
	// ErrNoCommonCodec means the offer has no PCMU/PCMA audio stream we can use: answer 488.
	ErrNoCommonCodec = errors.New("no common codec")
	// ErrNoPorts means the RTP port pool is exhausted.
	ErrNoPorts = errors.New("no free rtp ports")
)

// Negotiate answers an SDP offer: the caller's most preferred codec among PCMU/PCMA, and its
// telephone-event payload type echoed. Other m= lines are rejected with port 0 as RFC 3264 asks.
func Negotiate(offer []byte, local netip.Addr, port int) ([]byte, Params, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		return nil, Params{}, fmt.Errorf("parse sdp offer: %w", err)
	}
	chosen := -1
	var p Params
	for i, md := range sd.MediaDescriptions {
		if chosen >= 0 || !usableAudio(md) {
			continue
		}
		c, ok := pickCodec(md)
		if !ok {
			continue
		}
		chosen = i
		p.Codec = c
		p.DTMFPT = telephoneEventPT(md)
		p.Remote = remoteAddr(&sd, md)
		p.Direction = answerDirection(direction(&sd, md))
	}
	if chosen < 0 {
		return nil, Params{}, ErrNoCommonCodec
	}

	ans := baseSession(local)
	for i, md := range sd.MediaDescriptions {
		if i != chosen {
			// Rejected stream: same media and proto, port 0, one format (RFC 3264 §6).
			f := "0"
			if len(md.MediaName.Formats) > 0 {
				f = md.MediaName.Formats[0]
			}
			ans.MediaDescriptions = append(ans.MediaDescriptions, &sdp.MediaDescription{
				MediaName: sdp.MediaName{Media: md.MediaName.Media, Port: sdp.RangedPort{Value: 0},
					Protos: md.MediaName.Protos, Formats: []string{f}},
			})
			continue
		}
		am := audioMedia(port, md.MediaName.Protos, []Codec{p.Codec}, p.DTMFPT, p.Direction)
		if events := fmtp(md, p.DTMFPT); events != "" {
			// Echo the events the caller offered (e.g. 0-15): an answer may not add any.
			for i, a := range am.Attributes {
				if a.Key == "fmtp" {
					am.Attributes[i].Value = strconv.Itoa(int(p.DTMFPT)) + " " + events
				}
			}
		}
		ans.MediaDescriptions = append(ans.MediaDescriptions, am)
	}
	b, err := ans.Marshal()
	if err != nil {
		return nil, Params{}, fmt.Errorf("marshal sdp answer: %w", err)
	}
	return b, p, nil
}

// Renegotiate answers a new offer within an established session (a re-INVITE: hold, resume,
// media moved by an SBC or the PBX). Like Negotiate, but the origin keeps prev's session id,
// and its version goes up by one when the answer changes (RFC 3264 §8); an answer that did not
// change is prev itself.
func Renegotiate(prev, offer []byte, local netip.Addr, port int) ([]byte, Params, error) {
	ans, p, err := Negotiate(offer, local, port)
	if err != nil {
		return nil, Params{}, err
	}
	var old, next sdp.SessionDescription
	if err := old.Unmarshal(prev); err != nil {
		return nil, Params{}, fmt.Errorf("parse previous sdp: %w", err)
	}
	if err := next.Unmarshal(ans); err != nil {
		return nil, Params{}, fmt.Errorf("parse sdp answer: %w", err)
	}
	next.Origin.SessionID, next.Origin.SessionVersion = old.Origin.SessionID, old.Origin.SessionVersion
	if same, err := next.Marshal(); err == nil && bytes.Equal(same, prev) {
		return prev, p, nil
	}
	next.Origin.SessionVersion++
	b, err := next.Marshal()
	if err != nil {
		return nil, Params{}, fmt.Errorf("marshal sdp answer: %w", err)
	}
	return b, p, nil
}

// Offer is our SDP offer for a late-offer call (INVITE without SDP): PCMU, PCMA,
// telephone-event 101, 20 ms.
func Offer(local netip.Addr, port int) []byte {
	sd := baseSession(local)
	sd.MediaDescriptions = append(sd.MediaDescriptions,
		audioMedia(port, []string{"RTP", "AVP"}, []Codec{PCMU, PCMA}, DefaultDTMFPT, "sendrecv"))
	b, err := sd.Marshal()
	if err != nil {
		// Marshal of a description we built ourselves cannot fail; make it loud if it does.
		panic(fmt.Sprintf("marshal own sdp offer: %v", err))
	}
	return b
}

// ParseAnswer reads the peer's answer to our Offer (the ACK's SDP in a late-offer call).
func ParseAnswer(answer []byte) (Params, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(answer); err != nil {
		return Params{}, fmt.Errorf("parse sdp answer: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if !usableAudio(md) {
			continue
		}
		c, ok := pickCodec(md)
		if !ok {
			continue
		}
		// The answerer's direction is from its side; ours is the mirror.
		return Params{Codec: c, DTMFPT: telephoneEventPT(md), Remote: remoteAddr(&sd, md),
			Direction: answerDirection(direction(&sd, md))}, nil
	}
	return Params{}, ErrNoCommonCodec
}

func baseSession(local netip.Addr) *sdp.SessionDescription {
	id := rand.Uint64() >> 1 // sess-id fits in a signed 64-bit for picky parsers
	return &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "deflectd", SessionID: id, SessionVersion: id,
			NetworkType: "IN", AddressType: addrType(local), UnicastAddress: local.Unmap().String()},
		SessionName: "deflectd",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType(local),
			Address: &sdp.Address{Address: local.Unmap().String()}},
		TimeDescriptions: []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
}

func audioMedia(port int, protos []string, codecs []Codec, dtmfPT uint8, dir string) *sdp.MediaDescription {
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: protos}}
	for _, c := range codecs {
		pt := strconv.Itoa(int(c.PT))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", fmt.Sprintf("%s %s/%d", pt, c.Name, c.ClockRate)))
	}
	if dtmfPT != 0 {
		pt := strconv.Itoa(int(dtmfPT))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("rtpmap", pt+" telephone-event/8000"),
			sdp.NewAttribute("fmtp", pt+" 0-16"))
	}
	md.Attributes = append(md.Attributes, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir))
	return md
}

func addrType(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "IP4"
	}
	return "IP6"
}

// usableAudio: an active (port != 0) plain RTP/AVP audio stream. SRTP (RTP/SAVP) is not supported.
func usableAudio(md *sdp.MediaDescription) bool {
	if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
		return false
	}
	return strings.EqualFold(strings.Join(md.MediaName.Protos, "/"), "RTP/AVP")
}

// rtpmaps returns payload type → "name/rate" (upper-cased name), from a=rtpmap lines.
func rtpmap(md *sdp.MediaDescription, pt string) (name string, rate int, ok bool) {
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		f, enc, found := strings.Cut(a.Value, " ")
		if !found || f != pt {
			continue
		}
		parts := strings.Split(strings.TrimSpace(enc), "/")
		if len(parts) < 2 {
			return "", 0, false
		}
		r, err := strconv.Atoi(parts[1])
		if err != nil {
			return "", 0, false
		}
		return strings.ToUpper(parts[0]), r, true
	}
	return "", 0, false
}

// pickCodec walks the formats in the peer's order of preference.
func pickCodec(md *sdp.MediaDescription) (Codec, bool) {
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		name, rate, ok := rtpmap(md, f)
		if !ok {
			// Static payload types need no rtpmap (RFC 3551).
			switch pt {
			case 0:
				name, rate = "PCMU", 8000
			case 8:
				name, rate = "PCMA", 8000
			default:
				continue
			}
		}
		if rate != 8000 {
			continue
		}
		switch name {
		case "PCMU":
			return Codec{Name: "PCMU", PT: uint8(pt), ClockRate: 8000}, true
		case "PCMA":
			return Codec{Name: "PCMA", PT: uint8(pt), ClockRate: 8000}, true
		}
	}
	return Codec{}, false
}

// fmtp returns the a=fmtp parameters offered for payload type pt ("" when none).
func fmtp(md *sdp.MediaDescription, pt uint8) string {
	if pt == 0 {
		return ""
	}
	want := strconv.Itoa(int(pt))
	for _, a := range md.Attributes {
		if f, params, ok := strings.Cut(a.Value, " "); a.Key == "fmtp" && ok && f == want {
			return strings.TrimSpace(params)
		}
	}
	return ""
}

func telephoneEventPT(md *sdp.MediaDescription) uint8 {
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 96 || pt > 127 {
			continue
		}
		if name, rate, ok := rtpmap(md, f); ok && name == "TELEPHONE-EVENT" && rate == 8000 {
			return uint8(pt)
		}
	}
	return 0
}

// remoteAddr: media-level c= overrides session-level c=. An unusable address (missing, a
// hostname, 0.0.0.0 hold) gives an invalid AddrPort: symmetric RTP then finds the peer.
func remoteAddr(sd *sdp.SessionDescription, md *sdp.MediaDescription) netip.AddrPort {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return netip.AddrPort{}
	}
	port := md.MediaName.Port.Value
	a, err := netip.ParseAddr(ci.Address.Address)
	if err != nil || a.IsUnspecified() || port <= 0 || port > 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(port))
}

// direction is the offerer's direction attribute: media level, else session level, else sendrecv.
func direction(sd *sdp.SessionDescription, md *sdp.MediaDescription) string {
	for _, attrs := range [][]sdp.Attribute{md.Attributes, sd.Attributes} {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				return a.Key
			}
		}
	}
	return "sendrecv"
}

func answerDirection(offered string) string {
	switch offered {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// sends reports whether our direction lets us send RTP.
func (p Params) sends() bool { return p.Direction != "recvonly" && p.Direction != "inactive" }

// PickCodec is the G.711 codec a media description prefers, for other SDP readers (the
// WhatsApp voice bridge reads SRTP offers, which Negotiate refuses).
func PickCodec(md *sdp.MediaDescription) (Codec, bool) { return pickCodec(md) }

// TelephoneEventPT is the RFC 4733 payload type a media description offers (0: none).
func TelephoneEventPT(md *sdp.MediaDescription) uint8 { return telephoneEventPT(md) }

// RemoteAddr is where a media description says it receives RTP (invalid: unusable address).
func RemoteAddr(sd *sdp.SessionDescription, md *sdp.MediaDescription) netip.AddrPort {
	return remoteAddr(sd, md)
}

// AudioDescription builds our audio m= line (protos e.g. RTP/AVP or RTP/SAVP).
func AudioDescription(port int, protos []string, codecs []Codec, dtmfPT uint8) *sdp.MediaDescription {
	return audioMedia(port, protos, codecs, dtmfPT, "sendrecv")
}

// Session is an SDP session description around local, with no media yet.
func Session(local netip.Addr) *sdp.SessionDescription { return baseSession(local) }
