package ivr

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkHeldCallMemory measures what one answered call costs while the caller listens to
// the offer: Go heap (after a GC) plus goroutine stacks, per call, in-process. The load
// harness (deploy/loadtest) measures the whole process's RSS against the diago peer; this is
// the quick regression check of the per-call part.
//
//	go test -run '^$' -bench HeldCallMemory -benchtime 3x ./ivr/
func BenchmarkHeldCallMemory(b *testing.B) {
	const calls = 500
	g := startGateway(b, func(c *Config) {
		c.IVR.FirstDigitTimeout = time.Minute
		c.SIP.MaxCalls = 2 * calls
	})
	r := newRawUDP(b, g.Addr("udp"))
	var perCall float64
	for n := 0; b.Loop(); n++ {
		base := heldMemory()
		held := holdCalls(b, r, fmt.Sprintf("bench%d-", n), calls, 42000)
		time.Sleep(200 * time.Millisecond) // every call is in its offer
		perCall = float64(heldMemory()-base) / calls
		held.hangUp()
		for range calls {
			g.dec.waitFinish(b)
		}
		g.waitIdle(b)
	}
	b.ReportMetric(perCall, "B/held-call")
}

// heldMemory is the live heap and the goroutine stacks in use.
func heldMemory() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc + m.StackInuse)
}
