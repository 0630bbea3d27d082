package guard

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiter is a Kamailio pike-like per-source request counter: more than limit requests inside
// one window bans the source for ban. Memory is bounded: sources live in a sharded map, each
// shard is swept of idle entries once per window (lazily, by the next request that lands on it,
// so no goroutine has to be stopped), and a full shard evicts an idle or arbitrary entry.
type limiter struct {
	limit    int
	window   time.Duration
	ban      time.Duration
	perShard int
	seed     maphash.Seed
	shards   [shardCount]shard
}

const shardCount = 64

type shard struct {
	mu        sync.Mutex
	m         map[netip.Addr]*source
	nextSweep time.Time
}

type source struct {
	windowStart time.Time
	count       int
	bannedUntil time.Time
}

type hitResult int

const (
	ok hitResult = iota
	banned
	newlyBanned
)

func newLimiter(limit int, window, ban time.Duration, maxSources int) *limiter {
	l := &limiter{limit: limit, window: window, ban: ban, seed: maphash.MakeSeed(),
		perShard: max(1, maxSources/shardCount)}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Addr]*source)
	}
	return l
}

func (l *limiter) shard(ip netip.Addr) *shard {
	b := ip.As16()
	return &l.shards[maphash.Bytes(l.seed, b[:])%shardCount]
}

// hit counts one request from ip at now.
func (l *limiter) hit(ip netip.Addr, now time.Time) hitResult {
	s := l.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.nextSweep) {
		l.sweep(s, now)
	}
	src := s.m[ip]
	if src == nil {
		if len(s.m) >= l.perShard {
			l.evict(s, now)
		}
		src = &source{windowStart: now}
		s.m[ip] = src
	}
	if now.Before(src.bannedUntil) {
		return banned
	}
	if now.Sub(src.windowStart) >= l.window {
		src.windowStart, src.count = now, 0
	}
	src.count++
	if src.count > l.limit {
		src.bannedUntil = now.Add(l.ban)
		src.count = 0
		return newlyBanned
	}
	return ok
}

func (l *limiter) banned(ip netip.Addr, now time.Time) bool {
	s := l.shard(ip)
	s.mu.Lock()
	defer s.mu.Unlock()
	src := s.m[ip]
	return src != nil && now.Before(src.bannedUntil)
}

// sweep forgets sources whose window ended and whose ban (if any) is over.
func (l *limiter) sweep(s *shard, now time.Time) {
	for ip, src := range s.m {
		if l.idle(src, now) {
			delete(s.m, ip)
		}
	}
	s.nextSweep = now.Add(l.window)
}

func (l *limiter) idle(src *source, now time.Time) bool {
	return now.Sub(src.windowStart) >= l.window && !now.Before(src.bannedUntil)
}

// evict makes room in a full shard: idle entries first, else any entry that is not banned
// (a spoofed-source flood must not be able to lift real bans), else any entry.
func (l *limiter) evict(s *shard, now time.Time) {
	l.sweep(s, now)
	if len(s.m) < l.perShard {
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
func (l *limiter) sources() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
