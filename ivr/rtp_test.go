package ivr

import (
	"testing"
	"time"
)

// TestRTPWellFormedAndPaced checks, from the caller's side, the RTP the gateway sends through
// a whole call (offer, silence while waiting, offer again, return prompt): one SSRC, sequence
// numbers +1, timestamps +160 per packet, packets every 20 ms (mean within 1 ms, RFC 3550
// jitter below 5 ms).
func TestRTPWellFormedAndPaced(t *testing.T) {
	g := startGateway(t)            // not parallel: pacing is measured, keep the machine quiet
	rep := g.dial(t, CallOptions{}) // no digit: about 2.8 s of audio
	st := rep.RTP
	t.Logf("rtp: %+v", st)
	if st.AudioPackets < 100 {
		t.Fatalf("only %d audio packets", st.AudioPackets)
	}
	if st.SSRCs != 1 || st.SeqErrors != 0 || st.TSErrors != 0 {
		t.Errorf("malformed stream: %+v", st)
	}
	if st.Markers < 1 {
		t.Errorf("no marker bit at the start of a prompt")
	}
	if st.MeanInterval < 19*time.Millisecond || st.MeanInterval > 21*time.Millisecond {
		t.Errorf("mean interval %s, want 20 ms ± 1 ms", st.MeanInterval)
	}
	// RFC 3550 jitter smooths single scheduling hiccups of a loaded CI machine but grows
	// quickly when packets come in bursts or at a wrong rate.
	if st.Jitter > 5*time.Millisecond {
		t.Errorf("interarrival jitter %s, want below 5 ms", st.Jitter)
	}
}
