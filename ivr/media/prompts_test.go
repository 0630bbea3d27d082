package media

import (
	"encoding/binary"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestG711KnownValues(t *testing.T) {
	// Reference points from ITU-T G.711 tables: silence and full scale in each law.
	tests := []struct {
		name       string
		in         int16
		ulaw, alaw byte
	}{
		{"zero", 0, 0xFF, 0xD5},
		{"max positive", 32767, 0x80, 0xAA},
		{"max negative", -32768, 0x00, 0x2A},
		{"small positive", 8, 0xFE, 0xD5},
		{"minus one", -1, 0x7F, 0x55},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := encode(ciPCMU, []int16{tc.in})[0]; got != tc.ulaw {
				t.Errorf("ulaw(%d) = %#x, want %#x", tc.in, got, tc.ulaw)
			}
			if got := encode(ciPCMA, []int16{tc.in})[0]; got != tc.alaw {
				t.Errorf("alaw(%d) = %#x, want %#x", tc.in, got, tc.alaw)
			}
		})
	}
	// Round trip stays within G.711's quantisation step (≤ 1/16 of the magnitude, plus a floor).
	for _, v := range []int16{-30000, -1000, -100, 0, 100, 1000, 30000} {
		for _, alaw := range []bool{false, true} {
			ci := ciPCMU
			if alaw {
				ci = ciPCMA
			}
			back := decodeG711(alaw, encode(ci, []int16{v}))[0]
			diff := int(back) - int(v)
			if diff < 0 {
				diff = -diff
			}
			if limit := max(int(v)/16, -int(v)/16, 32); diff > limit {
				t.Errorf("round trip alaw=%v %d → %d (off by %d)", alaw, v, back, diff)
			}
		}
	}
}

// wavBytes builds a WAV file: fmt fields and data as given.
func wavBytes(format, channels uint16, rate uint32, bits uint16, data []byte) []byte {
	b := []byte("RIFF\x00\x00\x00\x00WAVE")
	b = append(b, "fmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, format)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels*bits/8))
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	b = append(b, "LIST"...) // an extra chunk to skip
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = append(b, 'a', 'b', 'c', 0) // odd size + pad byte
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func TestDecodeWAV(t *testing.T) {
	pcm16 := []byte{0x01, 0x00, 0xff, 0xff, 0x00, 0x80}
	tests := []struct {
		name    string
		file    []byte
		want    []int16
		wantErr string
	}{
		{"16-bit PCM", wavBytes(1, 1, 8000, 16, pcm16), []int16{1, -1, -32768}, ""},
		{"mu-law", wavBytes(7, 1, 8000, 8, []byte{0xFF, 0x80}), []int16{0, 32124}, ""},
		{"a-law", wavBytes(6, 1, 8000, 8, []byte{0xD5}), []int16{8}, ""},
		{"16 kHz refused", wavBytes(1, 1, 16000, 16, pcm16), nil, "8000 Hz mono"},
		{"stereo refused", wavBytes(1, 2, 8000, 16, pcm16), nil, "8000 Hz mono"},
		{"8-bit PCM refused", wavBytes(1, 1, 8000, 8, pcm16), nil, "unsupported encoding"},
		{"not a wav", []byte("ID3 mp3 data here"), nil, "not a RIFF/WAVE"},
		{"no data", wavBytes(1, 1, 8000, 16, nil)[:36+12], nil, "no data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeWAV(tc.file)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDefaultPrompts(t *testing.T) {
	p, err := LoadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Languages(), ","); got != "ar,en,fr" {
		t.Errorf("Languages = %s, want ar,en,fr", got)
	}
	names := []string{PromptOffer, PromptSent, PromptReturnQueue, PromptNotReachable, PromptInvalid, PromptGoodbye, PromptHold}
	for _, lang := range []string{"en", "ar", "fr"} {
		for _, n := range names {
			if !p.Has(lang, n) {
				t.Errorf("Has(%s, %s) = false", lang, n)
			}
			c := p.lookup(lang, n)
			if len(c.enc[ciPCMU]) == 0 || len(c.enc[ciPCMU])%FrameSize != 0 || len(c.enc[ciPCMA]) != len(c.enc[ciPCMU]) {
				t.Errorf("%s/%s: encodings %d/%d bytes, want equal whole frames", lang, n, len(c.enc[ciPCMU]), len(c.enc[ciPCMA]))
			}
		}
		// A short offer keeps a silent caller's way back to the queue within 20 s of the answer.
		if d := p.Duration(lang, PromptOffer); d < 3*time.Second || d > 8*time.Second {
			t.Errorf("%s offer lasts %v, want 3-8 s", lang, d)
		}
	}
	if p.Has("de", PromptOffer) || p.Has("en", "nope") || p.Has("de", PromptHold) {
		t.Error("Has reports prompts that do not exist")
	}
	if p.Duration("en", PromptHold) != 2*time.Second {
		t.Errorf("hold cycle = %v, want 2s", p.Duration("en", PromptHold))
	}
	// The committed defaults stay small (the budget is 1.5 MB).
	var total int64
	_ = fs.WalkDir(embedded, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			total += info.Size()
		}
		return nil
	})
	if total == 0 || total > 1_500_000 {
		t.Errorf("embedded prompts total %d bytes, want 0 < n ≤ 1.5 MB", total)
	}
	// Silence frames are the codecs' zero.
	if p.silence[ciPCMU][0] != 0xFF || p.silence[ciPCMA][0] != 0xD5 {
		t.Errorf("silence = %#x/%#x", p.silence[ciPCMU][0], p.silence[ciPCMA][0])
	}
}

func TestPromptOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(rel string, b []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// 0.5 s of a constant sample: 4000 samples = 25 frames.
	data := make([]byte, 8000)
	for i := 0; i < len(data); i += 2 {
		binary.LittleEndian.PutUint16(data[i:], 1000)
	}
	write("en/offer.wav", wavBytes(1, 1, 8000, 16, data))
	write("fr/offer.wav", wavBytes(1, 1, 8000, 16, data[:330])) // 165 samples: padded to 2 frames
	p, err := LoadPrompts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Languages(), ","); got != "ar,en,fr" {
		t.Errorf("Languages = %s", got)
	}
	if d := p.Duration("en", PromptOffer); d != 500*time.Millisecond {
		t.Errorf("overridden en offer lasts %v, want 500ms", d)
	}
	if d := p.Duration("fr", PromptOffer); d != 40*time.Millisecond {
		t.Errorf("fr offer lasts %v, want 40ms (padded)", d)
	}
	if !p.Has("en", PromptGoodbye) {
		t.Error("default goodbye lost when offer was overridden")
	}
	fr := p.lookup("fr", PromptOffer).enc[ciPCMU]
	if fr[164] != encode(ciPCMU, []int16{1000})[0] || fr[165] != 0xFF {
		t.Errorf("padding: sample 164 = %#x, 165 = %#x", fr[164], fr[165])
	}

	t.Run("bad file fails start-up", func(t *testing.T) {
		bad := t.TempDir()
		if err := os.MkdirAll(filepath.Join(bad, "en"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, "en", "offer.wav"), wavBytes(1, 1, 44100, 16, data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadPrompts(bad); err == nil || !strings.Contains(err.Error(), "en/offer.wav") {
			t.Errorf("err = %v, want one naming the file", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		if _, err := LoadPrompts(filepath.Join(dir, "nope")); err == nil {
			t.Error("no error for a missing prompts dir")
		}
	})
}
