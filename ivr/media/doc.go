// Package media is the IVR's audio path: SDP offer/answer (pion/sdp), a UDP port pool, RTP
// (pion/rtp) G.711 playback of prompts pre-encoded once per codec, paced by a few scheduler
// goroutines that serve many streams each, and RFC 4733 DTMF decoding. It knows nothing of SIP.
package media
