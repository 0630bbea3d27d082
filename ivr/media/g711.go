package media

import "github.com/zaf/g711"

// codecIndex is the slot of a codec's encoding in a clip: prompts are stored once per codec.
type codecIndex uint8

const (
	ciPCMU codecIndex = iota
	ciPCMA
	numCodecs
)

func indexOf(c Codec) codecIndex {
	if c.Name == "PCMA" {
		return ciPCMA
	}
	return ciPCMU
}

// encode turns 16-bit linear samples into G.711 bytes (one byte per sample) with zaf/g711's
// table-based encoders. It runs once per prompt at start-up, never per call.
func encode(ci codecIndex, pcm []int16) []byte {
	out := make([]byte, len(pcm))
	for i, s := range pcm {
		if ci == ciPCMA {
			out[i] = g711.EncodeAlawFrame(s)
		} else {
			out[i] = g711.EncodeUlawFrame(s)
		}
	}
	return out
}

// decodeG711 turns G.711 bytes back into linear samples (WAV overrides stored as G.711).
func decodeG711(alaw bool, b []byte) []int16 {
	out := make([]int16, len(b))
	for i, v := range b {
		if alaw {
			out[i] = g711.DecodeAlawFrame(v)
		} else {
			out[i] = g711.DecodeUlawFrame(v)
		}
	}
	return out
}
