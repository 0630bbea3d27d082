package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// decodeWAV reads a telephone-format WAV: 8 kHz mono, 16-bit PCM (also WAVE_FORMAT_EXTENSIBLE
// with a PCM sub-format) or 8-bit G.711 A-law/μ-law. Anything else is refused with a hint, so
// a bad recording fails start-up instead of sounding wrong on calls. Resampling is sox's job:
//
//	sox in.wav -r 8000 -c 1 -b 16 out.wav
func decodeWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, errors.New("decode wav: not a RIFF/WAVE file")
	}
	var (
		format, channels, bits uint16
		rate                   uint32
		haveFmt                bool
	)
	rest := b[12:]
	for len(rest) >= 8 {
		id := string(rest[0:4])
		size := int(binary.LittleEndian.Uint32(rest[4:8]))
		rest = rest[8:]
		if size < 0 || size > len(rest) {
			if id == "data" { // some writers leave the size unset when streaming; take the rest
				size = len(rest)
			} else {
				return nil, fmt.Errorf("decode wav: chunk %q overruns the file", id)
			}
		}
		body := rest[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, errors.New("decode wav: short fmt chunk")
			}
			format = binary.LittleEndian.Uint16(body[0:2])
			channels = binary.LittleEndian.Uint16(body[2:4])
			rate = binary.LittleEndian.Uint32(body[4:8])
			bits = binary.LittleEndian.Uint16(body[14:16])
			if format == 0xFFFE && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the format code
				format = binary.LittleEndian.Uint16(body[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, errors.New("decode wav: data before fmt chunk")
			}
			if channels != 1 || rate != 8000 {
				return nil, fmt.Errorf("decode wav: need 8000 Hz mono, got %d Hz, %d channels (convert: sox in.wav -r 8000 -c 1 -b 16 out.wav)", rate, channels)
			}
			switch {
			case format == 1 && bits == 16:
				pcm := make([]int16, len(body)/2)
				for i := range pcm {
					pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
				}
				return pcm, nil
			case (format == 6 || format == 7) && bits == 8:
				return decodeG711(format == 6, body), nil
			default:
				return nil, fmt.Errorf("decode wav: unsupported encoding (format %d, %d bits); need 16-bit PCM or G.711", format, bits)
			}
		}
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 { // chunks are word-aligned
			rest = rest[1:]
		}
	}
	return nil, errors.New("decode wav: no data chunk")
}
