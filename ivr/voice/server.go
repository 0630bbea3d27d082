// Package voice bridges WhatsApp calls into the contact centre: Meta's Business Calling API
// delivers a call a customer places from WhatsApp as a SIP INVITE over TLS with SDES-SRTP
// media; deflectd answers it, finds the deflection the customer's call button named, calls the
// queue (voice.pbx_target) back to back with that context in headers, and relays the audio
// SRTP ↔ RTP. It knows nothing of WhatsApp messages or the store: a Resolver gives it the
// context and records the call.
//
// Meta's side, from its "SIP Configuration Guide - WhatsApp Business Calling" (developers.facebook.com,
// business-messaging/whatsapp/calling/sip): TLS transport is mandatory (Meta checks our
// certificate against the hostname configured on the number; no mutual TLS); Meta generates a
// SIP password per business number and app, and recommends challenging its INVITEs with
// digest; SDES SRTP must be enabled explicitly on the number (the default is WebRTC media);
// BYEs from Meta carry x-wa-meta-call-duration. Meta sends no re-INVITE and takes none, so
// we never send one (no session timers).
package voice

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deflectd/deflectd/ivr"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Config is what the bridge needs; cmd/deflectd fills it from the voice section.
type Config struct {
	Listen netip.AddrPort // TLS listener for Meta's INVITEs
	TLS    *tls.Config    // its certificate
	// PBXListen is the plain SIP (UDP) address of our leg toward the PBX (port 0: any).
	PBXListen netip.AddrPort
	PBXTarget sip.Uri
	// Digest credentials Meta answers with (the number's SIP password); an empty password
	// means INVITEs are not challenged (only allowed on loopback by the config checks).
	Realm, User, Password  string
	Allow                  []netip.Prefix // sources allowed to send INVITEs; empty: any
	MediaIP                netip.Addr     // bound and advertised for RTP on both legs
	RTPPortMin, RTPPortMax int
	AnswerTimeout          time.Duration // the queue must answer within this
	MaxDuration            time.Duration // longest bridged call
	MediaTimeout           time.Duration // no audio either way this long ends the call
	ConsoleURL             string        // base of X-WhatsApp-Conversation links
}

// CallContext is the deflection a WhatsApp call belongs to, as the PBX receives it.
type CallContext struct {
	SessionID string
	WAID      string
	// Conversation is the customer's conversation id in the console (the WhatsApp id, or the
	// business-scoped user id a customer with a username is known by); "" = WAID.
	Conversation string
	Queue        string
	CustomerID   string
	Language     string
	Context      map[string]string
	UserToUser   string
}

// CallRecord is a finished WhatsApp call, for the conversation and the statistics.
type CallRecord struct {
	CallID    string
	WAID      string
	SessionID string // empty: the call had no (valid) deflection
	Queue     string
	Start     time.Time
	Talk      time.Duration // answered time; 0 when the queue never answered
	Result    string        // answered, busy, no-answer, cancelled, failed
	EndedBy   string        // customer, queue, timeout, shutdown
}

// Resolver finds a call's deflection and records the call; deflect.Service implements it.
type Resolver interface {
	// ResolveCall reads the call button payload (and the customer's WhatsApp id); an error
	// (forged, expired, unknown session) means the call is bridged without context.
	ResolveCall(ctx context.Context, payload, waID string) (CallContext, error)
	RecordCall(ctx context.Context, r CallRecord)
}

// Results of a WhatsApp call, as counted and recorded.
const (
	ResultAnswered  = "answered"
	ResultBusy      = "busy"
	ResultNoAnswer  = "no-answer"
	ResultCancelled = "cancelled"
	ResultFailed    = "failed"
)

// Server is the WhatsApp voice listener and bridge.
type Server struct {
	cfg  Config
	res  Resolver
	log  *slog.Logger
	auth *ivr.DigestAuth
	m    *metrics

	ua   *sipgo.UserAgent
	srv  *sipgo.Server
	cli  *sipgo.Client
	meta *sipgo.DialogServerCache
	pbx  *sipgo.DialogClientCache
	// pbxContact is our Contact toward the queue.
	pbxContact sip.ContactHeader
	tlsLn      net.Listener
	udp        *net.UDPConn
	addr       netip.AddrPort
	pbxAdr     netip.AddrPort

	mu       sync.Mutex
	calls    map[string]*bridge // by Meta's Call-ID
	byPBX    map[string]*bridge // by the queue leg's Call-ID (its re-INVITEs)
	wg       sync.WaitGroup
	draining atomic.Bool
}

// New binds the listeners (so Addr is known at once); Serve starts answering.
func New(cfg Config, res Resolver, log *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if cfg.TLS == nil {
		return nil, errors.New("voice listener needs a tls certificate")
	}
	s := &Server{cfg: cfg, res: res, log: log.With("component", "voice"), calls: map[string]*bridge{}, byPBX: map[string]*bridge{}}
	if cfg.Password != "" {
		s.auth = ivr.NewDigestAuth(cfg.Realm, cfg.User, cfg.Password)
	}
	var err error
	if s.m, err = newMetrics(reg); err != nil {
		return nil, err
	}
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(cfg.Listen))
	if err != nil {
		return nil, fmt.Errorf("listen voice.listen %s: %w", cfg.Listen, err)
	}
	s.addr = unmap(ln.Addr().(*net.TCPAddr).AddrPort())
	s.tlsLn = tls.NewListener(ln, cfg.TLS)
	if s.udp, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.PBXListen)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("listen voice pbx leg %s: %w", cfg.PBXListen, err)
	}
	s.pbxAdr = unmap(s.udp.LocalAddr().(*net.UDPAddr).AddrPort())
	if err := s.sip(); err != nil {
		s.closeListeners()
		return nil, err
	}
	return s, nil
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

func (s *Server) sip() error {
	var err error
	sipLog := ivr.SIPLogger(s.log) // never whole messages: they carry phone numbers
	if s.ua, err = sipgo.NewUA(sipgo.WithUserAgent("deflectd-voice"), sipgo.WithUserAgenTLSConfig(s.cfg.TLS),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog))); err != nil {
		return fmt.Errorf("voice sip agent: %w", err)
	}
	if s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(sipLog)); err != nil {
		return fmt.Errorf("voice sip server: %w", err)
	}
	if s.cli, err = sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.pbxAdr.Addr().String()), sipgo.WithClientLogger(sipLog)); err != nil {
		return fmt.Errorf("voice sip client: %w", err)
	}
	metaContact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "deflectd", Host: s.addr.Addr().String(),
		Port: int(s.addr.Port()), UriParams: transportTLS()}}
	s.pbxContact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "deflectd", Host: s.pbxAdr.Addr().String(),
		Port: int(s.pbxAdr.Port())}}
	s.meta = sipgo.NewDialogServerCache(s.cli, metaContact)
	s.pbx = sipgo.NewDialogClientCache(s.cli, s.pbxContact)
	s.srv.OnInvite(s.handleInvite)
	s.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = s.meta.ReadAck(req, tx) })
	s.srv.OnBye(s.handleBye)
	s.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		code, reason := 200, "OK"
		if s.draining.Load() {
			code, reason = 503, "Draining"
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
	})
	return nil
}

// Addr is the TLS listener's address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// ActiveCalls is the number of WhatsApp calls being set up or bridged.
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Serve answers until ctx ends, then hangs up the calls still up (both legs) and closes.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- s.srv.ServeTLS(s.tlsLn) }()
	go func() { errc <- s.srv.ServeUDP(s.udp) }()
	s.log.Info("whatsapp voice listening", "tls", s.addr.String(), "pbx_leg", s.pbxAdr.String(),
		"pbx_target", s.cfg.PBXTarget.String(), "challenge", s.auth != nil)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
	}
	s.draining.Store(true)
	s.mu.Lock()
	up := make([]*bridge, 0, len(s.calls))
	for _, b := range s.calls {
		up = append(up, b)
	}
	s.mu.Unlock()
	for _, b := range up {
		b.end("shutdown")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.closeListeners()
	_ = s.ua.Close()
	return err
}

// Drain refuses new calls (503) and waits for the bridged ones to end, or ctx.
func (s *Server) Drain(ctx context.Context) error {
	s.draining.Store(true)
	for s.ActiveCalls() > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("drain whatsapp calls: %d still up: %w", s.ActiveCalls(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (s *Server) closeListeners() {
	if s.tlsLn != nil {
		s.tlsLn.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	_ = tx.Respond(res)
}

// allowed: the source is in voice.allow (Meta publishes the address ranges its SIP comes from).
func (s *Server) allowed(req *sip.Request) bool {
	if len(s.cfg.Allow) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return false
	}
	for _, p := range s.cfg.Allow {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.handleReinvite(req, tx)
		return
	}
	log := s.log.With("call_id", req.CallID().Value())
	switch {
	case !s.allowed(req):
		log.Warn("whatsapp call from a source outside voice.allow refused", "source", req.Source())
		s.m.calls.WithLabelValues("forbidden").Inc()
		s.respond(req, tx, 403, "Forbidden")
		return
	case s.draining.Load():
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "5"))
		return
	}
	if s.auth != nil {
		if ok, stale := s.auth.Verify(req); !ok {
			if req.GetHeader("Authorization") != nil && !stale {
				s.m.calls.WithLabelValues("unauthorized").Inc()
				log.Warn("whatsapp call with wrong digest credentials", "source", req.Source())
			}
			s.respond(req, tx, 401, "Unauthorized", s.auth.Challenge(stale))
			return
		}
	}
	offer, err := ParseOffer(req.Body(), true)
	if err != nil {
		log.Warn("whatsapp call with an offer we cannot bridge", "err", err)
		s.m.calls.WithLabelValues("unsupported-media").Inc()
		s.respond(req, tx, 488, "Not Acceptable Here",
			sip.NewHeader("Warning", `399 deflectd "needs SDES-SRTP (a=crypto) with PCMU or PCMA: enable SDES and G.711 in the number's calling settings"`))
		return
	}
	dlg, err := s.meta.ReadInvite(req, tx)
	if err != nil {
		s.respond(req, tx, 400, "Bad Request")
		return
	}
	defer dlg.Close()
	_ = dlg.Respond(100, "Trying", nil)

	b := s.newBridge(req, tx, dlg, offer, log)
	if !s.register(b) {
		_ = dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	defer s.unregister(b)
	b.run()
}

func (s *Server) register(b *bridge) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.calls[b.callID] = b
	s.wg.Add(1)
	s.m.active.Inc()
	return true
}

func (s *Server) unregister(b *bridge) {
	s.mu.Lock()
	delete(s.calls, b.callID)
	if b.pbxCallID != "" {
		delete(s.byPBX, b.pbxCallID)
	}
	s.mu.Unlock()
	s.m.active.Dec()
	s.wg.Done()
}

// handleReinvite answers a re-INVITE within a bridged call. Only the queue sends them (hold,
// an SBC moving media); Meta neither sends nor accepts one, so it is not passed on: the queue's
// new address is taken for the relay and our side of the session stays as it was.
func (s *Server) handleReinvite(req *sip.Request, tx sip.ServerTransaction) {
	s.mu.Lock()
	b := s.byPBX[req.CallID().Value()]
	s.mu.Unlock()
	if b == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	body, err := b.reoffer(req.Body())
	if err != nil {
		b.log.Warn("re-INVITE from the queue refused", "err", err)
		s.respond(req, tx, 488, "Not Acceptable Here")
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(&s.pbxContact)
	_ = tx.Respond(res)
}

// handleBye: from Meta (its dialog) or from the PBX (ours toward it).
func (s *Server) handleBye(req *sip.Request, tx sip.ServerTransaction) {
	if err := s.meta.ReadBye(req, tx); err == nil {
		return
	}
	if err := s.pbx.ReadBye(req, tx); err == nil {
		return
	}
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

// metaHeader reads one of Meta's x-wa-meta-* headers.
func metaHeader(req *sip.Request, name string) string {
	if h := req.GetHeader(name); h != nil {
		return strings.TrimSpace(h.Value())
	}
	return ""
}

func transportTLS() sip.HeaderParams {
	p := sip.NewParams()
	p.Add("transport", "tls")
	return p
}
