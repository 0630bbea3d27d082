// Package guard is deflectd's SIP request screen: every parsed request passes Check before the
// IVR handles it. It applies silence towards scanners (User-Agent friendly-scanner, sipvicious,
// ...) and the RFC 4475 semantics sipgo's parser lets through. The source ACL (sip.allow_cidrs),
// the per-source rate limit (sip.pike) and the message size limit (sip.max_message_size) are the
// IVR's, applied before parsing, and so is digest authentication (sip.auth). The guard never
// looks at the Request-URI user, so its answers reveal nothing about which users exist.
package guard

import (
	"strconv"
	"strings"

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
	Headers []sip.Header // with Respond: extra headers (Unsupported, ...)
	Why     string       // metric label and log reason: scanner, malformed, bad-version, bad-extension
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
}

// Guard screens SIP requests. It is safe for concurrent use.
type Guard struct {
	scanners  []string
	userAgent string
	m         *metrics
}

// New builds a Guard from the sip section of the config and registers its metrics on reg (nil:
// unregistered).
func New(cfg configs.SIPConfig, reg prometheus.Registerer, o Options) (*Guard, error) {
	if o.ScannerAgents == nil {
		o.ScannerAgents = DefaultScannerAgents
	}
	g := &Guard{userAgent: cfg.UserAgent}
	for _, s := range o.ScannerAgents {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			g.scanners = append(g.scanners, s)
		}
	}
	g.m = newMetrics(reg)
	return g, nil
}

// Check decides what happens to req. Order: scanner, RFC 4475 semantics.
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
	if g.isScanner(req) {
		return Verdict{Action: Drop, Why: "scanner"}
	}
	return malformed(req)
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
