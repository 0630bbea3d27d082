package ivr

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// pike is a Kamailio pike-like per-source request counter (sip.pike): more than limit requests
// inside one window bans the source for ban. It runs in the transport read filter, before
// parsing, so a flood costs one map lookup per datagram. Memory is bounded: sources live in a
// sharded map (no global lock), each shard is swept of idle entries once per window (lazily, by
// the next request that lands on it, so no goroutine has to be stopped), and a full shard
// evicts an idle or arbitrary entry.
type pike struct {
	limit    int
	window   time.Duration
	ban      time.Duration
	perShard int
	seed     maphash.Seed
	shards   [pikeShards]pikeShard
}

const (
	pikeShards = 64
	// pikeMaxSources bounds the sources tracked at once (about 100 bytes each).
	pikeMaxSources = 100_000
)

type pikeShard struct {
	mu        sync.Mutex
	m         map[netip.Addr]*pikeSource
	nextSweep time.Time
}

type pikeSource struct {
	windowStart time.Time
	count       int
	bannedUntil time.Time
}

type pikeResult int

const (
	pikeAllowed pikeResult = iota
	pikeBanned
	pikeNewlyBanned
)

func newPike(limit int, window, ban time.Duration, maxSources int) *pike {
	p := &pike{limit: limit, window: window, ban: ban, seed: maphash.MakeSeed(),
		perShard: max(1, maxSources/pikeShards)}
	for i := range p.shards {
		p.shards[i].m = make(map[netip.Addr]*pikeSource)
	}
	return p
}

func (p *pike) shard(ip netip.Addr) *pikeShard {
	b := ip.As16()
	return &p.shards[maphash.Bytes(p.seed, b[:])%pikeShards]
}

// hit counts one request from ip at now.
func (p *pike) hit(ip netip.Addr, now time.Time) pikeResult {
	s := p.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.nextSweep) {
		p.sweep(s, now)
	}
	src := s.m[ip]
	if src == nil {
		if len(s.m) >= p.perShard {
			p.evict(s, now)
		}
		src = &pikeSource{windowStart: now}
		s.m[ip] = src
	}
	if now.Before(src.bannedUntil) {
		return pikeBanned
	}
	if now.Sub(src.windowStart) >= p.window {
		src.windowStart, src.count = now, 0
	}
	src.count++
	if src.count > p.limit {
		src.bannedUntil = now.Add(p.ban)
		src.count = 0
		return pikeNewlyBanned
	}
	return pikeAllowed
}

// banned reports whether ip is banned at now.
func (p *pike) banned(ip netip.Addr, now time.Time) bool {
	s := p.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.m[ip]
	return src != nil && now.Before(src.bannedUntil)
}

// sweep forgets sources whose window ended and whose ban (if any) is over.
func (p *pike) sweep(s *pikeShard, now time.Time) {
	for ip, src := range s.m {
		if p.idle(src, now) {
			delete(s.m, ip)
		}
	}
	s.nextSweep = now.Add(p.window)
}

func (p *pike) idle(src *pikeSource, now time.Time) bool {
	return now.Sub(src.windowStart) >= p.window && !now.Before(src.bannedUntil)
}

// evict makes room in a full shard: idle entries first, else any entry that is not banned
// (a spoofed-source flood must not be able to lift real bans), else any entry.
func (p *pike) evict(s *pikeShard, now time.Time) {
	p.sweep(s, now)
	if len(s.m) < p.perShard {
		return
	}
	var victim netip.Addr
	found := false
	for ip, src := range s.m {
		victim, found = ip, true
		if !now.Before(src.bannedUntil) {
			break
		}
	}
	if found {
		delete(s.m, victim)
	}
}

// sources is the number of sources tracked now.
func (p *pike) sources() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
