package ivr

import (
	"fmt"
	"testing"
	"time"
)

// TestRTPWellFormedAndPaced checks, from the caller's side, the RTP the gateway sends through
// a whole call (offer, silence while waiting, offer again, return prompt): one SSRC, sequence
// numbers +1, timestamps +160 per packet, packets every 20 ms (mean within 1 ms, RFC 3550
// jitter below 5 ms). A measurement spoiled by a machine stall (a gap over three packet
// times: the box froze, sender and receiver alike) is repeated, up to three attempts; a pacing
// bug shows in every attempt.
func TestRTPWellFormedAndPaced(t *testing.T) {
	g := startGateway(t) // not parallel: pacing is measured, keep the machine quiet
	for attempt := 1; ; attempt++ {
		rep := g.dial(t, CallOptions{}) // no digit: about 2.8 s of audio
		g.dec.waitFinish(t)
		st := rep.RTP
		t.Logf("attempt %d: %+v", attempt, st)
		problems := rtpProblems(st)
		if len(problems) == 0 {
			return
		}
		if attempt < 3 && st.MaxInterval > 60*time.Millisecond {
			t.Logf("machine stall of %s; measuring again", st.MaxInterval)
			continue
		}
		for _, p := range problems {
			t.Error(p)
		}
		return
	}
}

func rtpProblems(st RTPStats) []string {
	var out []string
	if st.AudioPackets < 100 {
		out = append(out, fmt.Sprintf("only %d audio packets", st.AudioPackets))
	}
	if st.SSRCs != 1 || st.SeqErrors != 0 || st.TSErrors != 0 {
		out = append(out, fmt.Sprintf("malformed stream: %d SSRCs, %d sequence errors, %d timestamp errors", st.SSRCs, st.SeqErrors, st.TSErrors))
	}
	if st.Markers < 1 {
		out = append(out, "no marker bit at the start of a prompt")
	}
	if st.MeanInterval < 19*time.Millisecond || st.MeanInterval > 21*time.Millisecond {
		out = append(out, fmt.Sprintf("mean interval %s, want 20 ms ± 1 ms", st.MeanInterval))
	}
	// RFC 3550 jitter smooths single scheduling hiccups but grows quickly when packets come
	// in bursts or at a wrong rate.
	if st.Jitter > 5*time.Millisecond {
		out = append(out, fmt.Sprintf("interarrival jitter %s, want below 5 ms", st.Jitter))
	}
	return out
}
