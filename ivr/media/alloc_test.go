//go:build !race

// The race detector's instrumentation allocates, so this file is built only without -race;
// `make test` runs it in a separate non-race pass.

package media

import "testing"

func TestPacketPathDoesNotAllocate(t *testing.T) {
	e := newTestEngine(t, EngineConfig{})
	pr := newPeer(t)
	s, err := e.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.mu.Lock() // configured by hand, not Start: the scheduler must not tick it concurrently
	s.params, s.sends, s.remote = Params{Codec: PCMA, DTMFPT: 101}, true, pr.addr()
	s.mu.Unlock()
	s.PlayTone(0)
	if n := testing.AllocsPerRun(200, func() {
		if s.tick() != tickSent {
			t.Fatal("not sent")
		}
	}); n != 0 {
		t.Errorf("%v allocations per packet, want 0", n)
	}
}
