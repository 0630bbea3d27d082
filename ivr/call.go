package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/ivr/media"
)

// Why a call's context ended.
var (
	errCallerHangup = errors.New("caller hung up")
	errCanceled     = errors.New("caller cancelled")
	errMaxDuration  = errors.New("maximum call duration reached")
	errShutdown     = errors.New("gateway shutting down")
	errNoAck        = errors.New("no ACK for 200 OK")
)

// Outcome results (Outcome.Result and the X-Deflect-Result header).
const (
	ResultDeflected  = "deflected"
	ResultDeclined   = "declined"
	ResultTimeout    = "timeout"
	ResultFailed     = "failed"
	ResultAbandoned  = "abandoned"
	ResultIneligible = "ineligible" // 480 before answer; not an Outcome
)

// The call's answer state (call.answer).
const (
	callPending int32 = iota
	callAnswered
	callCancelled
)

// decideBudget bounds Decider.Decide: the PBX is waiting for a final response.
const decideBudget = 8 * time.Second

// maxInvalid is how many invalid digits in a row end the menu.
const maxInvalid = 3

// call is one offered (or being decided) INVITE.
type call struct {
	s        *Server
	callID   string
	req      *sip.Request
	tx       sip.ServerTransaction
	dlg      *dialog
	ok200    *sip.Response  // our 200 OK, retransmitted until the ACK comes
	conn     sip.Connection // the INVITE's connection: the 200 OK goes back the way it came
	late     bool           // the INVITE had no SDP: the offer is ours, the answer in the ACK
	info     CallInfo
	session  string
	lang     string // the prompts' language (a variant's set: "ar@short")
	repeats  int    // how often the offer plays; ivr.offer_repeats unless a variant says
	stream   *media.Stream
	params   media.Params
	localSDP []byte

	ctx    context.Context
	cancel context.CancelCauseFunc

	// answer is callPending until either a CANCEL (callCancelled: sipgo answers it and sends
	// the INVITE's 487) or our 200 OK (callAnswered) wins; one swap decides, never both.
	answer atomic.Int32

	ackOnce  sync.Once
	ackCh    chan *sip.Request
	infoDTMF chan rune
	notifies chan *sip.Request

	maxDur *time.Timer // sip.max_call_duration, from the answer on
	menu   menuState

	mu   sync.Mutex
	path []string
}

func (s *Server) handleInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("INVITE").Inc()
	if to := req.To(); to != nil && to.Params.Has("tag") {
		if c := s.lookupCall(req); c != nil {
			c.onReinvite(req, tx)
			return
		}
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if c := s.answeredFor(req); c != nil {
		if topBranch(req) == c.dlg.branch {
			s.log.Debug("retransmitted invite of an answered call dropped", "call_id", callID(req))
			return
		}
		// The same request by another path (RFC 3261 8.2.2.2, merged requests).
		s.reply(req, tx, 482, "Loop Detected")
		return
	}
	if s.endedFor(req) {
		// A late retransmission of the INVITE of a call that is over: never a second call.
		s.log.Debug("retransmitted invite of an ended call dropped", "call_id", callID(req))
		return
	}
	// 100 Trying at once: sipgo would send it only after 200 ms.
	s.reply(req, tx, 100, "Trying")

	// We implement no SIP extension: a required one is refused (RFC 3261 8.2.2.3).
	if tags := requiredExtensions(req); tags != "" {
		s.m.response(420)
		s.reply(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", tags))
		return
	}

	if s.draining.Load() {
		s.m.response(503)
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	if s.auth != nil {
		if ok, stale := s.auth.verify(req); !ok {
			s.m.response(401)
			s.reply(req, tx, 401, "Unauthorized", s.auth.challenge(stale))
			return
		}
	}
	if s.active.Add(1) > int64(s.cfg.SIP.MaxCalls) {
		s.active.Add(-1)
		s.m.response(503)
		s.log.Warn("call refused: sip.max_calls reached", "call_id", callID(req), "max_calls", s.cfg.SIP.MaxCalls)
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	// A call is added to the wait group under s.mu, where Serve marks the end: an INVITE that
	// comes while Serve waits for the calls is refused instead of racing the Wait.
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		s.active.Add(-1)
		s.m.response(503)
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.activeCalls.Inc()
	ctx, cancel := context.WithCancelCause(context.Background())
	c := &call{
		s: s, req: req, tx: tx, ctx: ctx, cancel: cancel,
		callID:   strings.Clone(callID(req)),
		ackCh:    make(chan *sip.Request, 1),
		infoDTMF: make(chan rune, 4),
	}
	if s.cfg.OnDecline == "refer" { // nil otherwise: onNotify then drops them
		c.notifies = make(chan *sip.Request, 8)
	}
	if !c.run() {
		c.release()
		return
	}
	// Answered: this goroutine grew a deep stack deciding (store, policy, logging); the ACK wait
	// runs on a fresh one, and the menu then needs none while it waits (menu.go).
	go c.converse()
}

// release frees the call's slot once it has ended.
func (c *call) release() {
	c.cancel(nil)
	c.s.m.activeCalls.Dec()
	c.s.active.Add(-1)
	c.s.wg.Done()
}

// requiredExtensions lists the option tags of Require headers, comma-separated.
func requiredExtensions(req *sip.Request) string {
	var tags []string
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			if tag = strings.TrimSpace(tag); tag != "" {
				tags = append(tags, tag)
			}
		}
	}
	return strings.Join(tags, ", ")
}

func callID(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// respond sends a final response to the INVITE unless a CANCEL took the transaction over.
func (c *call) respond(code int, reason string, hdrs ...sip.Header) {
	if c.cancelled() {
		return
	}
	c.s.m.response(code)
	res := c.s.newResponse(c.req, code, reason, nil, hdrs...)
	if c.dlg != nil {
		c.dlg.tag(res)
	}
	if err := c.tx.Respond(res); err != nil {
		c.logAt(slog.LevelDebug, "respond to invite failed", "code", code, "error", err)
	}
}

// run decides and answers. It returns true when the call was answered and converse must run;
// otherwise the call has ended and its outcome (if any) was reported.
func (c *call) run() bool {
	dlg, err := newDialog(c.req)
	if err != nil {
		c.logAt(slog.LevelInfo, "invite refused", "reason", err.Error())
		c.respond(400, "Bad Request")
		return false
	}
	c.dlg, c.late = dlg, len(c.req.Body()) == 0
	if tx, ok := c.tx.(interface{ Connection() sip.Connection }); ok {
		c.conn = tx.Connection()
	}
	// Not derived from c.ctx: a child would leave a map on every call's context;
	// a CANCEL ends the decision directly.
	dctx, dcancel := context.WithTimeout(context.Background(), decideBudget)
	defer dcancel()
	if !c.tx.OnCancel(func(*sip.Request) {
		if c.answer.CompareAndSwap(callPending, callCancelled) {
			c.s.m.response(487)
			c.cancel(errCanceled)
			dcancel()
		}
	}) {
		c.logAt(slog.LevelInfo, "invite transaction ended before the decision")
		return false
	}

	c.info = parseCallInfo(c.req, c.s.rules, c.s.log.With("call_id", c.callID))
	dec, err := c.s.decider.Decide(dctx, &c.info)
	dcancel()
	if err != nil {
		if c.cancelled() {
			c.logAt(slog.LevelInfo, "call cancelled before the decision")
			return false
		}
		c.logAt(slog.LevelWarn, "decision failed, caller stays in queue", "error", err)
		c.respond(503, "Service Unavailable", c.s.retryAfter())
		return false
	}
	if !dec.Offer {
		reason := token(dec.Reason)
		if reason == "" {
			reason = "unknown"
		}
		c.logAt(slog.LevelInfo, "not offered", "reason", reason)
		c.respond(480, "Temporarily Unavailable",
			sip.NewHeader("X-Deflect-Result", ResultIneligible+";reason="+reason))
		return false
	}
	c.session = dec.SessionID
	c.lang = dec.Language
	if c.lang == "" {
		c.lang = c.info.Language
	}
	if set := media.SetLanguage(c.lang, dec.Variant); dec.Variant != "" && c.s.prompts != nil && c.s.prompts.Has(set, media.PromptOffer) {
		c.lang = set
	}
	c.repeats = c.s.cfg.IVR.OfferRepeats
	if dec.OfferRepeats > 0 {
		c.repeats = dec.OfferRepeats
	}
	c.logAt(slog.LevelInfo, "offering", "language", c.lang, "caller_region", c.info.Caller.Region, "queue", c.info.Queue, "variant", dec.Variant)

	o, answered := c.answerCall()
	if !answered {
		c.finish(o)
		return false
	}
	return true
}

// logAt writes a line carrying the call's ids. They are attached per line rather than kept in
// a logger per call: a preformatted logger costs every held call a few hundred bytes.
func (c *call) logAt(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !c.s.log.Enabled(ctx, level) {
		return
	}
	ids := []any{"call_id", c.callID}
	if c.session != "" {
		ids = append(ids, "session_id", c.session)
	}
	c.s.log.Log(ctx, level, msg, append(ids, args...)...)
}

// finish reports the outcome to the Decider (exactly once per offered call) and logs it.
func (c *call) finish(o Outcome) {
	c.mu.Lock()
	o.Path = append([]string(nil), c.path...)
	c.mu.Unlock()
	c.s.m.outcomes.WithLabelValues(o.Result).Inc()
	c.logAt(slog.LevelInfo, "call ended", "result", o.Result, "reason", o.Reason, "path", strings.Join(o.Path, ","))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.s.decider.Finish(ctx, c.session, o)
}

func (c *call) step(s string) {
	c.mu.Lock()
	c.path = append(c.path, s)
	c.mu.Unlock()
}

// answer opens the media stream and answers with SDP. It returns true once the 200 OK is sent
// (converse then owns the stream and the registration), or the outcome of a call that ended.
func (c *call) answerCall() (o Outcome, answered bool) {
	if c.cancelled() {
		return Outcome{Result: ResultAbandoned, Reason: "cancelled"}, false
	}
	stream, err := c.s.engine.Open()
	if err != nil {
		c.logAt(slog.LevelWarn, "no media port", "error", err)
		c.respond(503, "Service Unavailable", c.s.retryAfter())
		return Outcome{Result: ResultFailed, Reason: "no-media"}, false
	}
	c.stream = stream
	defer func() {
		if !answered {
			stream.Close()
		}
	}()

	local := c.s.mediaIP(c.info.Source)
	if c.late {
		c.localSDP = media.Offer(local, stream.LocalPort())
	} else {
		c.localSDP, c.params, err = media.Negotiate(c.req.Body(), local, stream.LocalPort())
		if err != nil {
			reason := "bad-sdp"
			if errors.Is(err, media.ErrNoCommonCodec) {
				reason = "no-common-codec"
			}
			c.logAt(slog.LevelInfo, "sdp offer refused", "reason", reason)
			c.respond(488, "Not Acceptable Here", noMediaWarning())
			return Outcome{Result: ResultFailed, Reason: reason}, false
		}
	}

	c.s.register(c)
	defer func() {
		if !answered {
			c.s.unregister(c)
		}
	}()

	res := c.dlg.tag(c.s.newResponse(c.req, 200, "OK", c.localSDP,
		sip.NewHeader("Content-Type", "application/sdp"),
		sip.HeaderClone(c.contact()),
		sip.NewHeader("Allow", allowMethods),
	))
	c.ok200 = res
	// The 200 OK goes out beside the INVITE transaction, which ends first (RFC 3261 17.2.1:
	// the UA core, not the transaction, owns a 2xx and its retransmissions). Sent through it,
	// sipgo would keep the transaction for 64*T1 (RFC 6026 Accepted) with the INVITE, the
	// 200 OK and through its callbacks the whole call: about 10 KiB per call for 32 s, longer
	// than most held calls.  Ending it before the answer means a CANCEL either won
	// already (sipgo sent 487; we send nothing) or finds no transaction (481), and an ACK
	// reusing the INVITE's branch reaches handleAck; retransmitted INVITEs reach
	// handleInvite, which drops them (answeredFor).
	if c.conn != nil {
		c.conn.Ref(1) // ours until the ACK: the transaction's reference ends with it
	}
	c.tx.Terminate()
	if !c.answer.CompareAndSwap(callPending, callAnswered) {
		c.dropConn()
		return Outcome{Result: ResultAbandoned, Reason: "cancelled"}, false
	}
	if err := c.write(res); err != nil {
		c.dropConn()
		c.logAt(slog.LevelWarn, "send 200 OK failed", "error", err)
		return Outcome{Result: ResultFailed, Reason: "transport"}, false
	}
	c.req, c.tx = nil, nil
	c.s.m.response(200)
	return Outcome{}, true
}

func (c *call) cancelled() bool { return c.answer.Load() == callCancelled }

// dropConn gives back our reference to the INVITE's connection.
func (c *call) dropConn() {
	if c.conn != nil {
		_, _ = c.conn.TryClose()
		c.conn = nil
	}
}

// write sends a response to the INVITE on the connection the INVITE came in on, as its
// transaction would (a UDP peer's Via may name a port we never heard from).
func (c *call) write(res *sip.Response) error {
	if c.conn == nil {
		return c.s.srv.WriteResponse(res)
	}
	return c.conn.WriteMsg(res)
}

// converse runs an answered call up to the menu: it waits for the ACK and starts the media.
// The menu goes on by events (menu.go); end finishes the call on every path.
func (c *call) converse() {
	if d := c.s.cfg.SIP.MaxCallDuration; d > 0 {
		c.maxDur = time.AfterFunc(d, func() { c.stop(errMaxDuration) })
	}
	ack, err := c.awaitAck(c.ok200)
	c.ok200 = nil
	c.dropConn()
	if err != nil {
		if errors.Is(err, errNoAck) {
			c.logAt(slog.LevelWarn, "no ACK for 200 OK, hanging up")
			c.step("no-ack")
			o := Outcome{Result: ResultFailed, Reason: "no-ack"}
			c.bye(o)
			c.end(o)
			return
		}
		c.end(c.interrupted())
		return
	}
	if c.late {
		c.params, err = media.ParseAnswer(ack.Body())
		if err != nil {
			c.logAt(slog.LevelInfo, "late offer: unusable sdp answer in ACK", "error", err)
			o := Outcome{Result: ResultFailed, Reason: "bad-sdp-answer"}
			c.bye(o)
			c.end(o)
			return
		}
	}
	c.stream.SetWake(c.poke)
	c.stream.Start(c.params)
	c.startMenu()
}

// handBack plays the closing prompt and returns the caller to the PBX (BYE, or REFER with
// on_decline: refer), then ends the call.
func (c *call) handBack(o Outcome, prompt string) {
	if c.ctx.Err() != nil {
		c.end(c.interrupted())
		return
	}
	if prompt != "" {
		c.step(prompt)
		if err := c.play(prompt); err != nil {
			c.end(c.interrupted())
			return
		}
	}
	if o.Result != ResultDeflected && c.s.cfg.OnDecline == "refer" {
		c.refer(o)
	} else {
		c.bye(o)
	}
	c.end(o)
}

// end closes the media, reports the outcome and frees the call: the last step of every
// answered call.
func (c *call) end(o Outcome) {
	if c.maxDur != nil {
		c.maxDur.Stop()
	}
	c.s.unregister(c)
	c.stream.Close()
	c.finish(o)
	c.release()
}

// noMediaWarning goes with a 488 (RFC 3261 20.43, code 304).
func noMediaWarning() sip.Header {
	return sip.NewHeader("Warning", `304 deflectd "Media type not available"`)
}

// contact is our Contact for the call's transport.
func (c *call) contact() *sip.ContactHeader {
	return c.s.contactFor(c.dlg.transport)
}

// interrupted turns the reason the call's context ended into the outcome, hanging up ourselves
// unless the caller already did.
func (c *call) interrupted() Outcome {
	switch cause := context.Cause(c.ctx); {
	case errors.Is(cause, errCallerHangup), errors.Is(cause, errCanceled):
		c.step("hangup")
		return Outcome{Result: ResultAbandoned}
	case errors.Is(cause, errMaxDuration):
		c.step("max-duration")
		o := Outcome{Result: ResultTimeout, Reason: "max-duration"}
		c.bye(o)
		return o
	default:
		c.step("shutdown")
		o := Outcome{Result: ResultFailed, Reason: "shutdown"}
		c.bye(o)
		return o
	}
}

// awaitAck retransmits the 2xx over unreliable transports (RFC 3261 13.3.1.4: T1 doubling up
// to T2) until the ACK comes, and gives up after 64*T1. sipgo's server transaction leaves 2xx
// retransmission to the TU (RFC 6026), and its DialogServerSession neither doubles the
// interval nor gives up, so we do it here.
func (c *call) awaitAck(res *sip.Response) (*sip.Request, error) {
	t1 := c.s.t1
	giveUp := time.Now().Add(64 * t1)
	interval := t1
	if sip.IsReliable(c.dlg.transport) {
		interval = 64 * t1 // nothing to retransmit: the timer only ends the wait
	}
	// One timer for both jobs: each costs a held call memory until the runtime drops it.
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case ack := <-c.ackCh:
			return ack, nil
		case now := <-t.C:
			if !now.Before(giveUp) {
				return nil, errNoAck
			}
			if err := c.write(res); err != nil {
				c.logAt(slog.LevelDebug, "retransmit 200 OK failed", "error", err)
			}
			interval = min(2*interval, 8*t1)
			t.Reset(min(interval, giveUp.Sub(now)))
		case <-c.ctx.Done():
			return nil, context.Cause(c.ctx)
		}
	}
}

// ---- the menu --------------------------------------------------------------------------------

// accept asks the Decider to send the WhatsApp message, with a hold tone meanwhile.
func (c *call) accept() (Outcome, string) {
	c.step("accept")
	c.stream.PlayTone(0) // until stopped
	done := make(chan AcceptResult, 1)
	go func() { done <- c.s.decider.Accept(c.ctx, c.session) }()
	var r AcceptResult
	select {
	case r = <-done:
	case <-c.ctx.Done():
		c.stream.StopPlayback()
		return Outcome{}, ""
	}
	c.stream.StopPlayback()
	if r.Deflected {
		return Outcome{Result: ResultDeflected}, "sent"
	}
	reason := token(r.Reason)
	if reason == "" {
		reason = "not-sent"
	}
	return Outcome{Result: ResultFailed, Reason: reason}, "not_reachable"
}

// play plays a prompt to its end (no barge-in).
func (c *call) play(prompt string) error {
	done := c.stream.Play(c.lang, prompt)
	select {
	case <-done:
		return nil
	case <-c.ctx.Done():
		c.stream.StopPlayback()
		return c.ctx.Err()
	}
}

// ---- events from the server's handlers -------------------------------------------------------

func (c *call) onAck(req *sip.Request) {
	c.ackOnce.Do(func() { c.ackCh <- req })
}

func (c *call) onBye() {
	c.stop(errCallerHangup)
}

func (c *call) onInfoDigit(d rune) {
	c.s.m.dtmf.WithLabelValues("info").Inc()
	select {
	case c.infoDTMF <- d:
		c.poke()
	default: // a caller hammering keys; the menu reads one at a time
	}
}

func (c *call) onNotify(req *sip.Request) {
	select {
	case c.notifies <- req:
	default:
	}
}

func (c *call) shutdown() { c.stop(errShutdown) }

// stop ends the call's context and lets a waiting menu notice.
func (c *call) stop(cause error) {
	c.cancel(cause)
	c.poke()
}

// onReinvite answers a re-INVITE in the dialog. With an offer (hold, resume, media moved by an
// SBC or the PBX) it answers it and moves the stream (codec, remote, direction); an offer we
// cannot take gets 488 and the session stays as it was (RFC 3261 14.2). Without one (a session
// refresh) our current SDP is the offer, unchanged.
func (c *call) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	body := c.localSDP
	c.mu.Unlock()
	var params media.Params
	moved := false
	if len(req.Body()) > 0 {
		ans, p, err := media.Renegotiate(body, req.Body(), c.s.mediaIP(c.info.Source), c.stream.LocalPort())
		if err != nil {
			c.logAt(slog.LevelInfo, "re-invite offer refused, session unchanged", "error", err)
			c.s.reply(req, tx, 488, "Not Acceptable Here", noMediaWarning())
			return
		}
		body, params, moved = ans, p, true
	}
	res := c.s.newResponse(req, 200, "OK", body,
		sip.NewHeader("Content-Type", "application/sdp"),
		sip.HeaderClone(c.contact()),
		sip.NewHeader("Allow", allowMethods))
	if err := tx.Respond(res); err != nil {
		c.logAt(slog.LevelDebug, "respond to re-invite failed", "error", err)
		return
	}
	if moved {
		c.mu.Lock()
		c.localSDP = body
		c.mu.Unlock()
		c.stream.Start(params)
		c.logAt(slog.LevelInfo, "media renegotiated", "direction", params.Direction, "codec", params.Codec.Name)
	}
}

// ---- handing the caller back -----------------------------------------------------------------

func resultHeader(o Outcome) sip.Header {
	v := o.Result
	if r := token(o.Reason); r != "" {
		v += ";reason=" + r
	}
	return sip.NewHeader("X-Deflect-Result", v)
}

// bye ends the dialog with the outcome in X-Deflect-Result.
func (c *call) bye(o Outcome) {
	c.step("bye")
	ctx, cancel := context.WithTimeout(context.Background(), 64*c.s.t1)
	defer cancel()
	bye := c.dlg.newRequest(sip.BYE, c.contact())
	bye.AppendHeader(resultHeader(o))
	c.addUA(bye)
	res, err := c.dlg.do(ctx, c.s.client, bye)
	switch {
	case err != nil:
		c.logAt(slog.LevelInfo, "bye not answered", "error", err)
	case res.StatusCode >= 300:
		c.logAt(slog.LevelInfo, "bye refused", "status", res.StatusCode)
	}
}

func (c *call) addUA(r *sip.Request) {
	if ua := c.s.cfg.SIP.UserAgent; ua != "" {
		r.AppendHeader(sip.NewHeader("User-Agent", ua))
	}
}

// refer hands the caller back with REFER to the return target and hangs up once the transfer
// succeeded (NOTIFY sipfrag 2xx); a refused or failed transfer falls back to BYE.
func (c *call) refer(o Outcome) {
	target := c.s.cfg.ReturnTarget
	if target == "" {
		target = c.info.ReturnTo
	}
	var to sip.Uri
	if err := parseTarget(target, &to); err != nil {
		c.logAt(slog.LevelInfo, "no usable return target, hanging up", "reason", err.Error())
		c.bye(o)
		return
	}
	referContext(&to, o, &c.info, c.session)
	c.step("refer")
	ctx, cancel := context.WithTimeout(context.Background(), 64*c.s.t1)
	defer cancel()
	req := c.dlg.newRequest(sip.REFER, c.contact())
	req.AppendHeader(&sip.ReferToHeader{Address: to})
	req.AppendHeader(&sip.ReferredByHeader{Address: *c.contact().Address.Clone()})
	req.AppendHeader(resultHeader(o))
	c.addUA(req)
	res, err := c.dlg.do(ctx, c.s.client, req)
	if err != nil || res.StatusCode >= 300 {
		status := "timeout"
		if err == nil {
			status = strconv.Itoa(res.StatusCode)
		}
		c.logAt(slog.LevelInfo, "refer refused, hanging up", "status", status)
		c.step("refer-refused:" + status)
		c.bye(o)
		return
	}
	for {
		select {
		case n := <-c.notifies:
			code, ok := sipfragStatus(n.Body())
			if !ok || code < 200 {
				continue
			}
			if code < 300 {
				c.step("refer-ok")
			} else {
				c.logAt(slog.LevelInfo, "transfer failed, hanging up", "status", code)
				c.step("refer-failed:" + strconv.Itoa(code))
			}
			c.bye(o)
			return
		case <-c.ctx.Done():
			// The PBX ended our leg itself, as many do after a transfer.
			c.step("refer-hangup")
			return
		case <-ctx.Done():
			c.step("refer-no-notify")
			c.bye(o)
			return
		}
	}
}

// referContext embeds the call's context and result as headers of the Refer-To URI. RFC 3261
// section 19.1.1 lets a URI carry headers and RFC 3515 section 2.1 has the referee copy them into
// the request the REFER triggers, so the queue the caller re-enters learns why they are back and
// who they are without a lookup. Headers already in the target win; phone numbers are never added.
func referContext(to *sip.Uri, o Outcome, ci *CallInfo, sessionID string) {
	add := func(name, value string) {
		if value == "" {
			return
		}
		if to.Headers == nil {
			to.Headers = sip.NewParams()
		}
		if _, ok := to.Headers.Get(name); ok {
			return
		}
		to.Headers.Add(name, escapeHvalue(value))
	}
	add("X-Deflect-Result", resultHeader(o).Value())
	add("X-Deflect-Session", sessionID)
	add("X-Queue", ci.Queue)
	if ci.WaitEstimate >= 0 {
		add("X-Wait-Estimate", strconv.Itoa(ci.WaitEstimate))
	}
	add("X-Customer-Id", ci.CustomerID)
	names := make([]string, 0, len(ci.Context))
	for name := range ci.Context {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		add("X-Context-"+name, ci.Context[name])
	}
}

// escapeHvalue %-escapes what RFC 3261's hvalue may not hold literally (hnv-unreserved and
// unreserved pass), so ";", "=", "&" and spaces in a value cannot end the header early.
func escapeHvalue(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			strings.IndexByte("-_.!~*'()[]/?:+$", ch) >= 0:
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

func parseTarget(s string, u *sip.Uri) error {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" {
		return errors.New("empty")
	}
	l := strings.ToLower(s)
	if !strings.HasPrefix(l, "sip:") && !strings.HasPrefix(l, "sips:") && !strings.HasPrefix(l, "tel:") {
		return fmt.Errorf("not a sip, sips or tel uri")
	}
	if err := sip.ParseUri(s, u); err != nil {
		return fmt.Errorf("parse return target: %w", err)
	}
	return nil
}

// sipfragStatus reads the status line of a message/sipfrag body ("SIP/2.0 200 OK").
func sipfragStatus(body []byte) (int, bool) {
	line, _, _ := strings.Cut(string(body), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(strings.ToUpper(f[0]), "SIP/") {
		return 0, false
	}
	n, err := strconv.Atoi(f[1])
	return n, err == nil && n >= 100 && n < 700
}

// token keeps a header parameter value to token characters (RFC 3261 25.1), lower-cased.
func token(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 64 {
		s = s[:64]
	}
	b := []byte(s)
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', strings.IndexByte("-.!%*_+`'~", ch) >= 0:
		default:
			b[i] = '-'
		}
	}
	return string(b)
}
