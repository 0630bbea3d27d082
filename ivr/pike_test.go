package ivr

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

var pikeEpoch = time.Unix(1_800_000_000, 0)

func TestPikeBanExpires(t *testing.T) {
	now := pikeEpoch
	p := newPike(2, time.Second, 5*time.Second, pikeMaxSources)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	steps := []struct {
		advance time.Duration
		ip      netip.Addr
		want    pikeResult
	}{
		{0, a, pikeAllowed}, {0, a, pikeAllowed}, {0, a, pikeNewlyBanned}, // third in the window: banned
		{0, b, pikeAllowed},               // others unaffected
		{2 * time.Second, a, pikeBanned},  // the window is over, but the ban holds
		{4 * time.Second, a, pikeAllowed}, // ban over
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := p.hit(s.ip, now); got != s.want {
			t.Errorf("step %d (%s): %v, want %v", i, s.ip, got, s.want)
		}
	}
}

func TestPikeBansFloodingSourceOnly(t *testing.T) {
	now := pikeEpoch
	p := newPike(16, 2*time.Second, 300*time.Second, pikeMaxSources)
	flooder, other := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")
	for i := range 16 {
		if r := p.hit(flooder, now); r != pikeAllowed {
			t.Fatalf("request %d of 16 in the window: %v, want allowed", i+1, r)
		}
		now = now.Add(100 * time.Millisecond)
	}
	if r := p.hit(flooder, now); r != pikeNewlyBanned {
		t.Fatalf("17th request: %v, want newly banned", r)
	}
	if !p.banned(flooder, now) {
		t.Fatal("source not reported banned")
	}
	if r := p.hit(other, now); r != pikeAllowed {
		t.Fatalf("other source: %v, want allowed", r)
	}
	// Banned for the whole ban, even when it goes quiet and comes back slowly.
	for i := range 3 {
		now = now.Add(60 * time.Second)
		if r := p.hit(flooder, now); r != pikeBanned {
			t.Fatalf("request %d during the ban: %v, want banned", i, r)
		}
	}
	now = now.Add(300 * time.Second)
	if r := p.hit(flooder, now); r != pikeAllowed {
		t.Fatalf("after the ban: %v, want allowed", r)
	}
}

func TestPikeWindowResets(t *testing.T) {
	now := pikeEpoch
	p := newPike(4, time.Second, time.Minute, pikeMaxSources)
	ip := netip.MustParseAddr("198.51.100.7")
	// 4 per second for 10 seconds: steady traffic at the limit is never banned.
	for i := range 40 {
		if r := p.hit(ip, now); r != pikeAllowed {
			t.Fatalf("request %d: %v", i, r)
		}
		now = now.Add(250 * time.Millisecond)
	}
}

func TestPikeMemoryBounded(t *testing.T) {
	now := pikeEpoch
	const maxSources = 640
	p := newPike(2, time.Second, time.Hour, maxSources)
	// One banned source that a spoofed-source sweep must not free.
	victim := netip.MustParseAddr("192.0.2.99")
	for range 3 {
		p.hit(victim, now)
	}
	if !p.banned(victim, now) {
		t.Fatal("setup: source not banned")
	}
	for i := range 50_000 {
		p.hit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
	}
	if n := p.sources(); n > maxSources {
		t.Fatalf("tracking %d sources, bound is %d", n, maxSources)
	}
	if !p.banned(victim, now) {
		t.Fatal("a spoofed-source sweep lifted a ban")
	}
	// Idle sources are swept once their window has passed.
	now = now.Add(2 * time.Second)
	for i := range pikeShards * 8 { // touch every shard
		p.hit(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), now)
	}
	if n := p.sources(); n > pikeShards*8+1 {
		t.Fatalf("after the window, %d sources still tracked", n)
	}
}

func TestPikeConcurrent(t *testing.T) {
	p := newPike(1000, time.Minute, time.Minute, pikeMaxSources)
	shared := netip.MustParseAddr("127.0.0.1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for i := range 500 {
				ip := shared
				if i%2 == 0 {
					ip = netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 200)})
				}
				if p.hit(ip, time.Now()) == pikeAllowed {
					n++
				}
			}
			mu.Lock()
			allowed += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	// 8×250 requests from 127.0.0.1: exactly 1000 allowed before its ban, every other source allowed.
	if allowed != 1000+8*250 {
		t.Fatalf("allowed %d, want %d", allowed, 1000+8*250)
	}
}

// BenchmarkPike is the pre-parse cost per datagram, over 1024 sources.
func BenchmarkPike(b *testing.B) {
	p := newPike(1<<30, time.Second, time.Minute, pikeMaxSources)
	ips := make([]netip.Addr, 1024)
	for i := range ips {
		ips[i] = netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i>>8, i&255))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			p.hit(ips[i&1023], time.Now()) // the read filter reads the clock per message too
			i++
		}
	})
}
