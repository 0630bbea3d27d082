package ivr

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pike limits requests per source address (Kamailio's pike module): more than Requests in
// Window bans the source for Ban; banned sources are dropped before parsing.
type pike struct {
	mu        sync.Mutex
	every     rate.Limit
	burst     int
	window    time.Duration
	ban       time.Duration
	peers     map[netip.Addr]*pikePeer
	lastSweep time.Time
	now       func() time.Time
	onBan     func(ip netip.Addr)
}

type pikePeer struct {
	lim         *rate.Limiter
	bannedUntil time.Time
	seen        time.Time
}

func newPike(requests int, window, ban time.Duration, onBan func(netip.Addr)) *pike {
	return &pike{
		every: rate.Every(window / time.Duration(requests)), burst: requests,
		window: window, ban: ban, peers: make(map[netip.Addr]*pikePeer), now: time.Now, onBan: onBan,
	}
}

// allow reports whether a message from ip may be processed.
func (p *pike) allow(ip netip.Addr) bool {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.lastSweep) > 4*p.window {
		// Forget quiet peers so a scan over many addresses does not grow the map for ever.
		for a, peer := range p.peers {
			if now.Sub(peer.seen) > 2*p.window && now.After(peer.bannedUntil) {
				delete(p.peers, a)
			}
		}
		p.lastSweep = now
	}
	peer := p.peers[ip]
	if peer == nil {
		peer = &pikePeer{lim: rate.NewLimiter(p.every, p.burst)}
		p.peers[ip] = peer
	}
	peer.seen = now
	if now.Before(peer.bannedUntil) {
		return false
	}
	if !peer.lim.AllowN(now, 1) {
		peer.bannedUntil = now.Add(p.ban)
		if p.onBan != nil {
			p.onBan(ip)
		}
		return false
	}
	return true
}
