// Package guard is deflectd's SIP edge guard: every request passes Check before the IVR handles
// it. It applies the source ACL (sip.allow_cidrs), a Kamailio pike-like per-source rate limit
// with a temporary ban (sip.pike), silence towards scanners (User-Agent friendly-scanner,
// sipvicious, ...), the maximum message size (sip.max_message_size) and optional digest
// authentication of INVITEs (sip.auth). It never looks at the Request-URI user, so its answers
// reveal nothing about which users exist.
package guard

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
)

// Action is what to do with a request.
type Action int

const (
	// Allow hands the request to the IVR.
	Allow Action = iota
	// Drop sends nothing back: scanners and floods learn nothing, and spend their own timers.
	Drop
	// Respond answers with Verdict.Code instead of handling the request.
	Respond
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Drop:
		return "drop"
	case Respond:
		return "respond"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Verdict is the guard's decision on one request.
type Verdict struct {
	Action  Action
	Code    int          // with Respond
	Reason  string       // with Respond: the reason phrase
	Headers []sip.Header // with Respond: extra headers (WWW-Authenticate, ...)
	Why     string       // metric label and log reason: not-allowed, banned, flood, scanner, too-large, auth-*
}

// DefaultScannerAgents are User-Agent substrings (case-insensitive) of SIP scanners and
// war-diallers; requests carrying one get no response at all.
var DefaultScannerAgents = []string{
	"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipscan", "vaxsipuseragent",
	"iwar", "sundayddr", "smap", "sivus", "pplsip",
}

// Options tune a Guard beyond configs.SIPConfig; the zero value is production.
type Options struct {
	// ScannerAgents replaces DefaultScannerAgents when non-nil.
	ScannerAgents []string
	// NonceTTL is how long a digest nonce stays valid; default 5 minutes.
	NonceTTL time.Duration
	// MaxSources bounds the rate limiter's memory (sources tracked at once); default 100 000.
	MaxSources int
	// Now is the clock; tests set it.
	Now func() time.Time
	// Log receives bans; nil = silent.
	Log *slog.Logger
}

// Guard screens SIP requests. It is safe for concurrent use.
type Guard struct {
	allowed   []netip.Prefix
	maxSize   int
	scanners  []string
	userAgent string
	pike      *limiter // nil when sip.pike is disabled
	auth      *digestAuth
	now       func() time.Time
	log       *slog.Logger
	m         *metrics
}

// New builds a Guard from the sip section of the config and registers its metrics on reg (nil:
// unregistered).
func New(cfg configs.SIPConfig, reg prometheus.Registerer, o Options) (*Guard, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ScannerAgents == nil {
		o.ScannerAgents = DefaultScannerAgents
	}
	if o.NonceTTL <= 0 {
		o.NonceTTL = 5 * time.Minute
	}
	if o.MaxSources <= 0 {
		o.MaxSources = 100_000
	}
	g := &Guard{maxSize: cfg.MaxMessageSize, userAgent: cfg.UserAgent, now: o.Now, log: o.Log.With("component", "sip-guard")}
	for _, c := range cfg.AllowCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("parse sip.allow_cidrs %q: %w", c, err)
		}
		g.allowed = append(g.allowed, p.Masked())
	}
	for _, s := range o.ScannerAgents {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			g.scanners = append(g.scanners, s)
		}
	}
	if cfg.Pike.Enabled {
		if cfg.Pike.Requests < 1 || cfg.Pike.Window <= 0 || cfg.Pike.Ban <= 0 {
			return nil, fmt.Errorf("new sip guard: sip.pike needs requests >= 1, window > 0 and ban > 0")
		}
		g.pike = newLimiter(cfg.Pike.Requests, cfg.Pike.Window, cfg.Pike.Ban, o.MaxSources)
	}
	if cfg.Auth.Username != "" {
		g.auth = newDigestAuth(cfg.Auth.Realm, cfg.Auth.Username, cfg.Auth.Password.Reveal(), o.NonceTTL)
	}
	g.m = newMetrics(reg, g)
	return g, nil
}

// Check decides what happens to req. Order: ACL, ban, rate, scanner, size, RFC 4475 semantics,
// authentication.
func (g *Guard) Check(req *sip.Request) Verdict {
	v := g.check(req)
	if v.Action == Respond && req.IsAck() {
		v = Verdict{Action: Drop, Why: v.Why} // nothing ever answers an ACK
	}
	switch v.Action {
	case Drop:
		g.m.dropped.WithLabelValues(v.Why).Inc()
	case Respond:
		g.m.rejected.WithLabelValues(v.Why).Inc()
	}
	return v
}

func (g *Guard) check(req *sip.Request) Verdict {
	ip := sourceIP(req)
	if len(g.allowed) > 0 && !g.allows(ip) {
		return Verdict{Action: Drop, Why: "not-allowed"}
	}
	if g.pike != nil && ip.IsValid() {
		switch g.pike.hit(ip, g.now()) {
		case banned:
			return Verdict{Action: Drop, Why: "banned"}
		case newlyBanned:
			g.m.bans.WithLabelValues("flood").Inc()
			g.log.Warn("source banned", "source", ip.String(), "reason", "flood", "ban", g.pike.ban.String())
			return Verdict{Action: Drop, Why: "flood"}
		}
	}
	if g.isScanner(req) {
		return Verdict{Action: Drop, Why: "scanner"}
	}
	if g.maxSize > 0 && messageSize(req) > g.maxSize {
		return Verdict{Action: Respond, Code: 513, Reason: "Message Too Large", Why: "too-large"}
	}
	if v := malformed(req); v.Action != Allow {
		return v
	}
	if g.auth != nil && req.IsInvite() && !inDialog(req) {
		return g.auth.check(req, g.now())
	}
	return Verdict{Action: Allow}
}

// singleValued are header fields a request carries at most once (RFC 3261 §7.3.1; RFC 4475
// §3.1.2.17–18: two Content-Lengths or two Call-IDs get a 400).
var singleValued = [...]string{"Call-ID", "From", "To", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// malformed applies the RFC 4475 semantics sipgo's parser lets through: another SIP version
// (505), duplicated single-valued headers or a CSeq naming another method (400), and a Require
// on anything but INVITE (420: we implement no extension; the IVR checks INVITEs itself). ACK and
// CANCEL are exempt from Require (RFC 3261 §8.2.2.3).
func malformed(req *sip.Request) Verdict {
	if req.SipVersion != "SIP/2.0" {
		return Verdict{Action: Respond, Code: 505, Reason: "Version Not Supported", Why: "bad-version"}
	}
	// One pass over the headers (GetHeaders allocates per call).
	var seen [len(singleValued)]int
	var require []string
	for _, h := range req.Headers() {
		name := h.Name()
		for i, sv := range singleValued {
			if strings.EqualFold(name, sv) {
				if seen[i]++; seen[i] > 1 {
					return Verdict{Action: Respond, Code: 400, Reason: "Duplicate " + sv, Why: "malformed"}
				}
			}
		}
		if strings.EqualFold(name, "Require") {
			for _, t := range strings.Split(h.Value(), ",") {
				if t = strings.TrimSpace(t); t != "" {
					require = append(require, t)
				}
			}
		}
	}
	if cseq := req.CSeq(); cseq == nil || !strings.EqualFold(cseq.MethodName.String(), req.Method.String()) {
		return Verdict{Action: Respond, Code: 400, Reason: "CSeq Method Mismatch", Why: "malformed"}
	}
	if len(require) > 0 && !req.IsInvite() && !req.IsAck() && !req.IsCancel() {
		return Verdict{Action: Respond, Code: 420, Reason: "Bad Extension", Why: "bad-extension",
			Headers: []sip.Header{sip.NewHeader("Unsupported", strings.Join(require, ", "))}}
	}
	return Verdict{Action: Allow}
}

// Screen is Check shaped for the IVR: drop = send nothing; otherwise a non-nil res is the
// response to send instead of handling the request; (nil, false) lets it through.
func (g *Guard) Screen(req *sip.Request) (res *sip.Response, drop bool) {
	v := g.Check(req)
	switch v.Action {
	case Drop:
		return nil, true
	case Respond:
		return g.Response(req, v), false
	}
	return nil, false
}

// Response builds the response a Respond verdict asks for (with Server: sip.user_agent).
func (g *Guard) Response(req *sip.Request, v Verdict) *sip.Response {
	res := sip.NewResponseFromRequest(req, v.Code, v.Reason, nil)
	res.SipVersion = "SIP/2.0" // a 505 answers SIP/7.0 in our own version
	if g.userAgent != "" {
		res.AppendHeader(sip.NewHeader("Server", g.userAgent))
	}
	for _, h := range v.Headers {
		res.AppendHeader(h)
	}
	return res
}

// Banned reports whether ip is banned now (for a pre-parse filter or the API).
func (g *Guard) Banned(ip netip.Addr) bool {
	return g.pike != nil && g.pike.banned(ip.Unmap(), g.now())
}

func (g *Guard) allows(ip netip.Addr) bool {
	for _, p := range g.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (g *Guard) isScanner(req *sip.Request) bool {
	if len(g.scanners) == 0 {
		return false
	}
	for _, h := range req.Headers() {
		if !strings.EqualFold(h.Name(), "User-Agent") {
			continue
		}
		ua := strings.ToLower(h.Value())
		for _, s := range g.scanners {
			if strings.Contains(ua, s) {
				return true
			}
		}
	}
	return false
}

// sourceIP is the transport source of req (not the Via, which the sender writes).
func sourceIP(req *sip.Request) netip.Addr {
	src := req.Source()
	if ap, err := netip.ParseAddrPort(src); err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(src)
	if err != nil {
		host = src
	}
	a, _ := netip.ParseAddr(strings.Trim(host, "[]"))
	return a.Unmap()
}

func inDialog(req *sip.Request) bool {
	to := req.To()
	return to != nil && to.Params.Has("tag")
}

// messageSize is the size of req on the wire, near enough: start line, headers, body. UDP
// datagrams above the limit never get here (the IVR's read filter drops them); this catches TCP.
func messageSize(req *sip.Request) int {
	n := len(req.StartLine()) + 2 + 2 + len(req.Body())
	for _, h := range req.Headers() {
		n += len(h.Name()) + 2 + len(h.Value()) + 2
	}
	return n
}
