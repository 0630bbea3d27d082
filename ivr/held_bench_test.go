package ivr

import (
	"fmt"
	"runtime"
	"strings"
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
		tags := make([]string, calls)
		id := func(i int) string { return fmt.Sprintf("bench-%d-%d@test", n, i) }
		from := func(msg string, i int) string {
			return strings.Replace(msg, "tag=caller1", fmt.Sprintf("tag=b%d-%d", n, i), 1)
		}
		for i := range calls {
			r.send(from(r.invite(fmt.Sprintf("z9hG4bK-b%d-%d", n, i), id(i), "", sdpOffer(42000+2*(i%1000), "0 101", "0 PCMU/8000", "101 telephone-event/8000")), i))
			res := r.recvResponse(5*time.Second, 200)
			for res.CallID().Value() != id(i) {
				res = r.recvResponse(5*time.Second, 200)
			}
			tags[i] = toTag(res)
			r.send(from(r.request("ACK", fmt.Sprintf("z9hG4bK-ba%d-%d", n, i), id(i), 1, tags[i], ""), i))
		}
		time.Sleep(200 * time.Millisecond) // every call is in its offer
		perCall = float64(heldMemory()-base) / calls
		for i := range calls {
			if i%25 == 0 {
				time.Sleep(5 * time.Millisecond) // socket buffers, not the gateway, would drop a burst
			}
			r.send(from(r.request("BYE", fmt.Sprintf("z9hG4bK-bb%d-%d", n, i), id(i), 2, tags[i], ""), i))
		}
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
