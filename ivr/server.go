// Package ivr is deflectd's telephony edge: a SIP user agent (sipgo) that answers callers a
// PBX hands over from its queue, asks a Decider whether to offer the switch to WhatsApp, plays
// the menu (ivr/media), reads DTMF (RFC 4733 and SIP INFO) and hands the caller back with BYE
// or REFER carrying X-Deflect-Result. It knows nothing of WhatsApp.
package ivr

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr/media"
	"github.com/deflectd/deflectd/lookup"
)

// Methods we implement; the Allow header of OPTIONS, 405 and 200 OK responses.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY"

// Bodies we read: the Accept header of OPTIONS and 415 responses.
const acceptTypes = "application/sdp, application/dtmf-relay, application/dtmf, message/sipfrag"

// Config is what the IVR needs from the process configuration.
type Config struct {
	SIP configs.SIPConfig
	IVR configs.IVRConfig
	// OnDecline is deflect.on_decline: "bye" (default) or "refer".
	OnDecline string
	// ReturnTarget is deflect.return_target, the REFER target; empty = the INVITE's X-Return-To.
	ReturnTarget string
	// MediaIP is the address put in our SDP. Zero = sip.advertise_host when it is an IP, else
	// the listen address, else the local address that routes to the caller.
	MediaIP netip.Addr
	// Guard screens every parsed request before its handler runs (ivr/guard implements it;
	// nil = none): scanner silence, RFC 4475 checks the parser lets through. The IVR itself
	// applies sip.allow_cidrs, sip.pike and sip.max_message_size, and sip.auth on INVITEs.
	Guard Guard
}

// Guard decides on a request before the IVR handles it: drop = send nothing; a non-nil res is
// sent instead of handling the request; (nil, false) lets it through.
type Guard interface {
	Screen(req *sip.Request) (res *sip.Response, drop bool)
}

// Listener is one bound SIP listener.
type Listener struct {
	Transport string // udp, tcp
	Addr      netip.AddrPort
}

// Server is the SIP user agent. Create it with New, run it with Serve.
type Server struct {
	cfg     Config
	decider Decider
	engine  *media.Engine
	prompts *media.Prompts
	log     *slog.Logger
	m       *metrics
	rules   contextRules
	auth    *digestAuth // nil: INVITEs are not challenged
	pike    *pike       // nil: no per-source rate limit
	now     func() time.Time

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	listeners []boundListener
	contacts  map[string]*sip.ContactHeader // ours, by transport

	draining atomic.Bool
	active   atomic.Int64
	wg       sync.WaitGroup // calls in progress

	mu       sync.Mutex
	stopping bool             // Serve is ending: no call may join wg any more
	calls    map[string]*call // by dialog ID
	// answered holds calls by Call-ID and From tag: their INVITE transaction ended with the
	// 200 OK, so retransmissions of that INVITE reach handleInvite.
	answered map[string]*call
	// ended keeps the invite keys of calls that ended for 64×T1 (the life of their INVITE's
	// retransmissions, RFC 3261 17.2.1 and RFC 6026): a late copy is dropped instead of
	// starting a new call. endedOrder prunes them oldest first.
	ended      map[string]time.Time
	endedOrder []endedKey

	// t1 is the SIP T1 timer used for 2xx retransmission; tests shorten it.
	t1 time.Duration
}

type endedKey struct {
	key     string
	expires time.Time
}

type boundListener struct {
	Listener
	udp *net.UDPConn
	tcp *net.TCPListener
	tls net.Listener // wraps tcp
}

// New binds every sip.listen URL (port 0 picks a free port; see Listeners) and prepares the
// handlers. normalize turns a raw caller number into a lookup.Number (nil: none). Serve runs it.
func New(cfg Config, decider Decider, engine *media.Engine, prompts *media.Prompts,
	normalize func(raw string) lookup.Number, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if decider == nil || engine == nil {
		return nil, errors.New("new ivr: decider and media engine are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "ivr")
	if cfg.OnDecline == "" {
		cfg.OnDecline = "bye"
	}
	if cfg.SIP.MaxCalls <= 0 {
		cfg.SIP.MaxCalls = 1
	}
	if cfg.IVR.OfferRepeats < 1 {
		cfg.IVR.OfferRepeats = 1
	}
	if cfg.IVR.FirstDigitTimeout <= 0 {
		cfg.IVR.FirstDigitTimeout = 6 * time.Second
	}
	if cfg.SIP.RetryAfter <= 0 {
		cfg.SIP.RetryAfter = 30 * time.Second
	}
	s := &Server{
		cfg: cfg, decider: decider, engine: engine, prompts: prompts, log: log,
		m:        newMetrics(reg),
		calls:    make(map[string]*call),
		answered: make(map[string]*call),
		ended:    make(map[string]time.Time),
		contacts: make(map[string]*sip.ContactHeader),
		t1:       sip.T1,
		now:      time.Now,
		rules: contextRules{
			normalize:       normalize,
			defaultLanguage: cfg.IVR.DefaultLanguage,
			regionLanguages: cfg.IVR.RegionLanguages,
		},
	}
	if a := cfg.SIP.Auth; a.Username != "" {
		realm := a.Realm
		if realm == "" {
			realm = "deflectd"
		}
		s.auth = newDigestAuth(realm, a.Username, a.Password.Reveal())
	}
	if pc := cfg.SIP.Pike; pc.Enabled {
		if pc.Requests < 1 || pc.Window <= 0 || pc.Ban <= 0 {
			return nil, errors.New("new ivr: sip.pike needs requests >= 1, window > 0 and ban > 0")
		}
		s.pike = newPike(pc.Requests, pc.Window, pc.Ban, pikeMaxSources)
	}
	s.m.trackPike(reg, s.pike)
	if prompts != nil {
		s.rules.hasLanguage = func(lang string) bool { return prompts.Has(lang, media.PromptOffer) }
	}

	var allowed []netip.Prefix
	for _, c := range cfg.SIP.AllowCIDRs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("parse sip.allow_cidrs %q: %w", c, err)
		}
		allowed = append(allowed, p.Masked())
	}

	sipLog := SIPLogger(log)
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.SIP.UserAgent),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog),
			// Late retransmissions of responses to our BYE/REFER: nothing to do.
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog),
			sip.WithTransportLayerReadFilter(s.readFilter(allowed))),
	)
	if err != nil {
		return nil, fmt.Errorf("new sip user agent: %w", err)
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return nil, fmt.Errorf("new sip server: %w", err)
	}
	if s.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog)); err != nil {
		return nil, fmt.Errorf("new sip client: %w", err)
	}

	if err := s.bind(); err != nil {
		s.closeListeners()
		_ = ua.Close()
		return nil, err
	}

	s.srv.OnInvite(s.guarded(s.handleInvite))
	s.srv.OnAck(s.guarded(s.handleAck))
	s.srv.OnBye(s.guarded(s.handleBye))
	s.srv.OnCancel(s.guarded(s.handleCancel))
	s.srv.OnOptions(s.guarded(s.handleOptions))
	s.srv.OnInfo(s.guarded(s.handleInfo))
	s.srv.OnNotify(s.guarded(s.handleNotify))
	s.srv.OnNoRoute(s.guarded(s.handleNoRoute))
	return s, nil
}

// guarded screens a parsed request before h (sipgo has no public request middleware): first
// cfg.Guard (so scanners get silence whatever their size), then a stream message above
// sip.max_message_size is answered 513 (UDP ones never get here: readFilter drops them).
func (s *Server) guarded(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if s.cfg.Guard != nil {
			res, drop := s.cfg.Guard.Screen(req)
			switch {
			case drop:
				return
			case res != nil:
				if err := tx.Respond(res); err != nil {
					s.log.Debug("respond failed", "method", req.Method.String(), "code", res.StatusCode, "error", err)
				}
				return
			}
		}
		if limit := s.cfg.SIP.MaxMessageSize; limit > 0 && messageSize(req) > limit {
			s.m.rejected.WithLabelValues("too-large").Inc()
			if !req.IsAck() { // nothing ever answers an ACK
				s.reply(req, tx, 513, "Message Too Large")
			}
			return
		}
		h(req, tx)
	}
}

// messageSize is the size of req on the wire, near enough: start line, headers, body.
func messageSize(req *sip.Request) int {
	n := len(req.StartLine()) + 2 + 2 + len(req.Body())
	for _, h := range req.Headers() {
		n += len(h.Name()) + 2 + len(h.Value()) + 2
	}
	return n
}

func (s *Server) bind() error {
	for _, l := range s.cfg.SIP.Listen {
		transport, host, port, err := configs.ParseListen(l)
		if err != nil {
			return fmt.Errorf("parse sip.listen: %w", err)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ips, lerr := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
			if lerr != nil || len(ips) == 0 {
				return fmt.Errorf("resolve sip.listen host %q: %w", host, errors.Join(err, lerr))
			}
			ip = ips[0]
		}
		ap := netip.AddrPortFrom(ip, uint16(port))
		bl := boundListener{Listener: Listener{Transport: transport}}
		switch transport {
		case "udp":
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				return fmt.Errorf("listen sip %s: %w", l, err)
			}
			bl.udp = c
			bl.Addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
		case "tcp":
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
			if err != nil {
				return fmt.Errorf("listen sip %s: %w", l, err)
			}
			bl.tcp = ln
			bl.Addr = ln.Addr().(*net.TCPAddr).AddrPort()
		case "tls":
			cert, err := tls.LoadX509KeyPair(s.cfg.SIP.TLS.CertFile, s.cfg.SIP.TLS.KeyFile)
			if err != nil {
				return fmt.Errorf("load sip.tls certificate: %w", err)
			}
			ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(ap))
			if err != nil {
				return fmt.Errorf("listen sip %s: %w", l, err)
			}
			bl.tcp = ln
			bl.tls = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			bl.Addr = ln.Addr().(*net.TCPAddr).AddrPort()
		default:
			return fmt.Errorf("listen sip %s: transport %s is not supported by the ivr", l, transport)
		}
		bl.Addr = netip.AddrPortFrom(bl.Addr.Addr().Unmap(), bl.Addr.Port())
		s.listeners = append(s.listeners, bl)
		if _, ok := s.contacts[transport]; !ok {
			ct := s.buildContact(bl.Listener)
			s.contacts[transport] = &ct
		}
	}
	return nil
}

// contactFor is our Contact for a transport (a call over TLS gets the tls listener's).
func (s *Server) contactFor(transport string) *sip.ContactHeader {
	if c := s.contacts[strings.ToLower(transport)]; c != nil {
		return c
	}
	for _, c := range s.contacts {
		return c
	}
	return &sip.ContactHeader{}
}

func (s *Server) buildContact(l Listener) sip.ContactHeader {
	host := s.cfg.SIP.AdvertiseHost
	if host == "" {
		host = l.Addr.Addr().String()
		if l.Addr.Addr().IsUnspecified() {
			host = outboundIP(netip.MustParseAddr("192.0.2.1")).String() // no packet is sent
		}
	}
	c := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "deflectd", Host: host, Port: int(l.Addr.Port())}}
	if l.Transport != "udp" {
		c.Address.UriParams = sip.NewParams()
		c.Address.UriParams.Add("transport", l.Transport)
	}
	return c
}

// Addr returns the first bound address of a transport ("udp", "tcp"), or the zero value.
func (s *Server) Addr(transport string) netip.AddrPort {
	for _, l := range s.listeners {
		if l.Transport == transport {
			return l.Addr
		}
	}
	return netip.AddrPort{}
}

// Serve handles SIP until ctx ends, then ends the calls still up (BYE with
// X-Deflect-Result: failed;reason=shutdown) and closes the listeners. Call Drain first for a
// graceful stop.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		s.log.Info("sip listening", "transport", l.Transport, "addr", l.Addr.String())
		go func() {
			var err error
			switch {
			case l.udp != nil:
				err = s.srv.ServeUDP(l.udp)
			case l.tls != nil:
				err = s.srv.ServeTLS(l.tls)
			default:
				err = s.srv.ServeTCP(l.tcp)
			}
			if err != nil && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("serve sip %s %s: %w", l.Transport, l.Addr, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	s.draining.Store(true)
	s.mu.Lock()
	s.stopping = true
	up := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		up = append(up, c)
	}
	s.mu.Unlock()
	for _, c := range up {
		c.shutdown()
	}
	waitTimeout(&s.wg, 5*time.Second)
	s.closeListeners()
	_ = s.ua.Close()
	return err
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		if l.udp != nil {
			_ = l.udp.Close()
		}
		if l.tcp != nil {
			_ = l.tcp.Close()
		}
	}
}

// Drain refuses new calls (INVITE and OPTIONS answer 503 with Retry-After) and waits until the
// calls in progress have ended or ctx ends.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("draining", "active_calls", s.active.Load())
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.active.Load() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain ivr: %d calls still up: %w", s.active.Load(), ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// ActiveCalls is the number of calls between INVITE and the end of their dialog.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

var errForbiddenSource = errors.New("source not in sip.allow_cidrs")

// readFilter drops what arrives from outside sip.allow_cidrs or from a source sip.pike banned,
// and UDP datagrams above sip.max_message_size, before sipgo parses them. Dropping is silent (no response teaches a
// scanner nothing); a TCP connection from outside is closed.
func (s *Server) readFilter(allowed []netip.Prefix) sip.TransportReadFilter {
	return func(p sip.TransportReadProps, data []byte) ([]byte, error) {
		udp := strings.EqualFold(p.Transport, "udp")
		if len(allowed) > 0 {
			ip := netAddrIP(p.RemoteAddr)
			ok := false
			for _, pr := range allowed {
				if pr.Contains(ip) {
					ok = true
					break
				}
			}
			if !ok {
				s.m.dropped.WithLabelValues("not-allowed").Inc()
				if udp {
					return nil, nil
				}
				return nil, errForbiddenSource
			}
		}
		if s.pike != nil && !s.pikeAllows(netAddrIP(p.RemoteAddr)) {
			s.m.dropped.WithLabelValues("pike").Inc()
			if udp {
				return nil, nil
			}
			return nil, errForbiddenSource
		}
		if udp && s.cfg.SIP.MaxMessageSize > 0 && len(data) > s.cfg.SIP.MaxMessageSize {
			s.m.dropped.WithLabelValues("too-large").Inc()
			return nil, nil
		}
		return data, nil
	}
}

// pikeAllows counts a message from ip against sip.pike; false drops it.
func (s *Server) pikeAllows(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	switch s.pike.hit(ip, s.now()) {
	case pikeBanned:
		return false
	case pikeNewlyBanned:
		s.m.pikeBans.Inc()
		s.log.Warn("source banned by sip.pike", "source", ip.String(), "ban", s.pike.ban.String())
		return false
	}
	return true
}

func netAddrIP(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return v.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// ---- responses -------------------------------------------------------------------------------

func (s *Server) newResponse(req *sip.Request, code int, reason string, body []byte, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if ua := s.cfg.SIP.UserAgent; ua != "" {
		res.AppendHeader(sip.NewHeader("Server", ua))
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return res
}

func (s *Server) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	if err := tx.Respond(s.newResponse(req, code, reason, nil, hdrs...)); err != nil {
		s.log.Debug("respond failed", "method", req.Method.String(), "code", code, "error", err)
	}
}

func (s *Server) retryAfter() sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(int(s.cfg.SIP.RetryAfter.Round(time.Second)/time.Second)))
}

// ---- requests outside a call -----------------------------------------------------------------

func (s *Server) handleOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("OPTIONS").Inc()
	if s.draining.Load() {
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	s.reply(req, tx, 200, "OK",
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", acceptTypes),
		sip.NewHeader("Accept-Language", "en"),
		sip.NewHeader("Supported", ""),
	)
}

// knownMethods are methods from RFC 3261 and its extensions that we recognise but do not
// implement: 405 with Allow. Anything else is 501.
var knownMethods = map[string]bool{
	"REGISTER": true, "SUBSCRIBE": true, "PUBLISH": true, "MESSAGE": true, "UPDATE": true,
	"PRACK": true, "REFER": true,
}

func (s *Server) handleNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	m := strings.ToUpper(req.Method.String())
	if knownMethods[m] {
		s.m.requests.WithLabelValues(m).Inc()
		s.reply(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
		return
	}
	s.m.requests.WithLabelValues("other").Inc()
	s.reply(req, tx, 501, "Not Implemented", sip.NewHeader("Allow", allowMethods))
}

func (s *Server) handleCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matched an INVITE transaction is answered by sipgo's transaction layer
	// (200, then 487 to the INVITE); one reaching us matched nothing.
	s.m.requests.WithLabelValues("CANCEL").Inc()
	s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
}

// lookupCall finds the call an in-dialog request belongs to.
func (s *Server) lookupCall(req *sip.Request) *call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) handleAck(req *sip.Request, _ sip.ServerTransaction) {
	s.m.requests.WithLabelValues("ACK").Inc()
	if c := s.lookupCall(req); c != nil {
		c.onAck(req)
	}
}

func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("BYE").Inc()
	c := s.lookupCall(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.reply(req, tx, 200, "OK")
	c.onBye()
}

func (s *Server) handleInfo(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("INFO").Inc()
	c := s.lookupCall(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	digit, ok, supported := parseInfoDTMF(req)
	if !supported {
		s.reply(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	s.reply(req, tx, 200, "OK")
	if ok {
		c.onInfoDigit(digit)
	}
}

func (s *Server) handleNotify(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("NOTIFY").Inc()
	c := s.lookupCall(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.reply(req, tx, 200, "OK")
	c.onNotify(req)
}

// ---- call bookkeeping ------------------------------------------------------------------------

func (s *Server) register(c *call) {
	s.mu.Lock()
	s.calls[c.dlg.id] = c
	s.answered[c.dlg.inviteKey()] = c
	s.mu.Unlock()
}

func (s *Server) unregister(c *call) {
	s.mu.Lock()
	if s.calls[c.dlg.id] == c {
		delete(s.calls, c.dlg.id)
	}
	if k := c.dlg.inviteKey(); s.answered[k] == c {
		delete(s.answered, k)
		now := time.Now()
		s.pruneEndedLocked(now)
		exp := now.Add(64 * s.t1)
		s.ended[k] = exp
		s.endedOrder = append(s.endedOrder, endedKey{k, exp})
	}
	s.mu.Unlock()
}

// pruneEndedLocked forgets ended calls whose INVITE can no longer be retransmitted.
func (s *Server) pruneEndedLocked(now time.Time) {
	n := 0
	for n < len(s.endedOrder) && now.After(s.endedOrder[n].expires) {
		if e := s.endedOrder[n]; s.ended[e.key].Equal(e.expires) {
			delete(s.ended, e.key)
		}
		n++
	}
	if n > 0 {
		s.endedOrder = slices.Delete(s.endedOrder, 0, n)
	}
}

// endedFor reports whether an INVITE without To tag repeats one of a call that has ended.
func (s *Server) endedFor(req *sip.Request) bool {
	from, id := req.From(), req.CallID()
	if from == nil || id == nil {
		return false
	}
	tag, _ := from.Params.Get("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.ended[inviteKey(id.Value(), tag)]
	return ok && time.Now().Before(exp)
}

// answeredFor finds the answered call an INVITE without To tag repeats: a retransmission that
// no transaction absorbs any more (see call.answerCall), or, with another branch, the same
// request arriving again by another path.
func (s *Server) answeredFor(req *sip.Request) *call {
	from, id := req.From(), req.CallID()
	if from == nil || id == nil {
		return nil
	}
	tag, _ := from.Params.Get("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answered[inviteKey(id.Value(), tag)]
}

// mediaIP is the address put in our SDP for a caller at src.
func (s *Server) mediaIP(src netip.AddrPort) netip.Addr {
	if s.cfg.MediaIP.IsValid() {
		return s.cfg.MediaIP
	}
	if a, err := netip.ParseAddr(s.cfg.SIP.AdvertiseHost); err == nil {
		return a
	}
	for _, l := range s.listeners {
		if a := l.Addr.Addr(); !a.IsUnspecified() {
			return a
		}
	}
	return outboundIP(src.Addr())
}

// outboundIP is the local address the kernel would use to reach dst (no packet is sent).
func outboundIP(dst netip.Addr) netip.Addr {
	if !dst.IsValid() {
		return netip.IPv4Unspecified()
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.IPv4Unspecified()
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

// SIPLogger is the logger to give sipgo (every user agent of the process): warnings and errors
// only, without the attributes that carry whole SIP messages.
func SIPLogger(log *slog.Logger) *slog.Logger {
	return slog.New(dropDumps{log.Handler()}).With("component", "sipgo")
}

// dropDumps keeps sipgo's own log lines but removes the attributes that carry whole SIP
// messages: they contain caller numbers, which never reach our logs unmasked.
type dropDumps struct{ h slog.Handler }

func (d dropDumps) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && d.h.Enabled(ctx, l)
}

func (d dropDumps) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "data", "msg", "req", "res", "request", "response":
		default:
			out.AddAttrs(a)
		}
		return true
	})
	return d.h.Handle(ctx, out)
}

func (d dropDumps) WithAttrs(as []slog.Attr) slog.Handler { return dropDumps{d.h.WithAttrs(as)} }
func (d dropDumps) WithGroup(n string) slog.Handler       { return dropDumps{d.h.WithGroup(n)} }
