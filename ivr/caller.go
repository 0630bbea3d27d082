package ivr

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/deflectd/deflectd/ivr/media"
)

// CallOptions describe a test call placed by Dial: a real SIP user agent with its own RTP
// receiver and RFC 4733 sender (the `deflectd call` command, tests, the load harness).
type CallOptions struct {
	Target    string   // sip:ivr@127.0.0.1:5060
	From      string   // caller number (+966501234567) or a full sip:/tel: URI
	Transport string   // udp (default) or tcp; a ;transport= in Target wins
	Headers   []string // extra INVITE headers, "Name: value" or "Name:value"

	Press      string        // digits to press after answer
	PressAfter time.Duration // from the ACK to the first digit; default 2 s
	PressGap   time.Duration // between digits; default 1 s
	PressVia   string        // rfc4733 (default) or info (SIP INFO application/dtmf-relay)

	HangupAfter time.Duration // > 0: the caller hangs up this long after answer
	LateOffer   bool          // INVITE without SDP; our answer goes in the ACK
	Timeout     time.Duration // whole call; default 60 s

	// ReferStatus answers a REFER from the gateway (default 202); ReferNotify is the sipfrag
	// status line NOTIFYed after a 2xx ("SIP/2.0 200 OK" by default, "-" for none).
	ReferStatus int
	ReferNotify string

	// Username and Password answer a digest challenge (401/407) to the INVITE.
	Username, Password string

	LocalIP netip.Addr   // default: the address that routes to the target
	Log     *slog.Logger // nil: silent
	// OnEvent, if set, is told each step as it happens ("< 100 Trying", "> ACK", ...); calls are
	// serialised.
	OnEvent func(line string)
}

// CallReport is what happened on a call placed by Dial.
type CallReport struct {
	Responses   []string // status lines of the INVITE's responses, in order
	FinalStatus int
	Answered    bool
	// Result is the X-Deflect-Result the gateway sent: in its BYE, its REFER, or its final
	// non-2xx response.
	Result      string
	EndedBy     string // "gateway" (BYE), "caller" (our BYE), "refer" (NOTIFYed transfer then BYE), "" (not answered)
	ReferTo     string // Refer-To of a REFER received
	DigitsSent  string
	RTP         RTPStats
	Duration    time.Duration // from INVITE to end
	CallID      string
	InviteAfter time.Duration // INVITE to final response
}

// Completed reports whether the call reached a proper end: answered and closed with BYE, or
// refused with an X-Deflect-Result (480 ineligible).
func (r CallReport) Completed() bool {
	if r.Answered {
		return r.EndedBy != ""
	}
	return r.FinalStatus >= 300 && r.Result != ""
}

// RTPStats describe the RTP the caller received.
type RTPStats struct {
	Packets      int
	AudioPackets int // payload types 0 and 8
	SSRCs        int
	SeqErrors    int // packets whose sequence number was not the previous + 1
	TSErrors     int // audio packets whose timestamp did not advance by 160 per sequence step
	Markers      int
	// Inter-arrival of consecutive packets: mean, and the largest deviation from 20 ms seen
	// by 95 % and 99 % of packets.
	MeanInterval time.Duration
	P95Deviation time.Duration
	P99Deviation time.Duration
	MaxInterval  time.Duration
	// Jitter is the RFC 3550 §6.4.1 interarrival jitter estimate at the end of the call.
	Jitter time.Duration
}

// Seconds is how much audio was received, at 20 ms per packet.
func (s RTPStats) Seconds() float64 { return float64(s.AudioPackets) * media.Ptime.Seconds() }

// Dial places one call and returns when it ended (or opts.Timeout passed: then the caller
// hangs up and the report is returned with an error).
func Dial(ctx context.Context, opts CallOptions) (CallReport, error) {
	d := &dialer{opts: withDefaults(opts), start: time.Now(), ended: make(chan string, 1), referred: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	rep, err := d.run(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	rep.Result, rep.ReferTo, rep.DigitsSent = d.rep.Result, d.rep.ReferTo, d.rep.DigitsSent
	return rep, err
}

// withDefaults fills the options a caller left at zero.
func withDefaults(opts CallOptions) CallOptions {
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.PressAfter <= 0 {
		opts.PressAfter = 2 * time.Second
	}
	if opts.PressGap <= 0 {
		opts.PressGap = time.Second
	}
	if opts.ReferStatus == 0 {
		opts.ReferStatus = 202
	}
	if opts.ReferNotify == "" {
		opts.ReferNotify = "SIP/2.0 200 OK"
	}
	return opts
}

// dialer is one test call. The report's fields written by sipgo's request handlers (the
// result, the Refer-To, the digits sent from their goroutine) are kept under mu in d.rep and
// merged into the returned report at the end.
type dialer struct {
	opts  CallOptions
	start time.Time

	target    sip.Uri
	transport string
	local     netip.Addr

	eventMu sync.Mutex

	mu       sync.Mutex
	rep      CallReport
	dlg      *sipgo.DialogClientSession // known once answered: in-dialog requests wait for it
	ended    chan string                // who ended the call
	endOnce  sync.Once
	referred chan struct{}
}

// event reports a step; events come from the dialog goroutine and from sipgo's request
// handlers, so they are serialised: OnEvent never runs concurrently with itself.
func (d *dialer) event(format string, a ...any) {
	if d.opts.OnEvent != nil {
		line := fmt.Sprintf(format, a...)
		d.eventMu.Lock()
		defer d.eventMu.Unlock()
		d.opts.OnEvent(line)
	}
}

func (d *dialer) endWith(who string) { d.endOnce.Do(func() { d.ended <- who }) }

func (d *dialer) setResult(h sip.Header) {
	if h != nil {
		d.mu.Lock()
		d.rep.Result = h.Value()
		d.mu.Unlock()
	}
}

func (d *dialer) run(ctx context.Context) (CallReport, error) {
	var rep CallReport
	if err := d.resolve(ctx); err != nil {
		return rep, err
	}
	// RTP socket first: its port goes in the offer.
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.local, 0)))
	if err != nil {
		return rep, fmt.Errorf("listen rtp: %w", err)
	}
	defer rtpConn.Close()
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port

	dua, closeUA, err := d.userAgent()
	if err != nil {
		return rep, err
	}
	defer closeUA()

	var offer []byte
	if !d.opts.LateOffer {
		offer = media.Offer(d.local, rtpPort)
	}
	inv, err := d.invite(offer)
	if err != nil {
		return rep, err
	}
	d.event("> INVITE %s", d.opts.Target)
	dlg, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		return rep, fmt.Errorf("send invite: %w", err)
	}
	rep.CallID = callID(inv)
	answered, err := d.waitAnswer(ctx, dlg, &rep)
	if !answered {
		return rep, err
	}
	params, err := d.acknowledge(ctx, dlg, rtpPort)
	if err != nil {
		return rep, err
	}
	d.event("> ACK")
	return d.converse(ctx, dlg, rtpConn, params, rep)
}

// resolve reads the target URI: its transport (udp, tcp), address and our local address.
func (d *dialer) resolve(ctx context.Context) error {
	if err := sip.ParseUri(d.opts.Target, &d.target); err != nil {
		return fmt.Errorf("parse target %q: %w", d.opts.Target, err)
	}
	d.transport = strings.ToLower(d.opts.Transport)
	if t, ok := d.target.UriParams.Get("transport"); ok && t != "" {
		d.transport = strings.ToLower(t)
	}
	if d.transport == "" {
		d.transport = "udp"
	}
	if d.transport != "udp" && d.transport != "tcp" {
		return fmt.Errorf("dial: transport %q is not udp or tcp", d.transport)
	}
	if d.transport == "tcp" {
		if d.target.UriParams == nil {
			d.target.UriParams = sip.NewParams()
		}
		d.target.UriParams.Add("transport", "tcp")
	}
	targetIP, err := netip.ParseAddr(d.target.Host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", d.target.Host)
		if lerr != nil || len(ips) == 0 {
			return fmt.Errorf("resolve %s: %w", d.target.Host, errors.Join(err, lerr))
		}
		targetIP = ips[0]
	}
	d.local = d.opts.LocalIP
	if !d.local.IsValid() {
		d.local = outboundIP(targetIP)
	}
	return nil
}

// userAgent starts our SIP side: a socket that is our Contact and (UDP) where our requests
// leave from, with the handlers of in-dialog requests.
func (d *dialer) userAgent() (sipgo.DialogUA, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (sipgo.DialogUA, func(), error) {
		closeAll()
		return sipgo.DialogUA{}, nil, err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("deflectd-call"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slog.New(slog.DiscardHandler)),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slog.New(slog.DiscardHandler))))
	if err != nil {
		return fail(fmt.Errorf("new user agent: %w", err))
	}
	closers = append(closers, func() { _ = ua.Close() })
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return fail(fmt.Errorf("new sip server: %w", err))
	}
	var sipAddr netip.AddrPort
	var clientOpts []sipgo.ClientOption
	switch d.transport {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(d.local, 0)))
		if err != nil {
			return fail(fmt.Errorf("listen sip: %w", err))
		}
		closers = append(closers, func() { _ = c.Close() })
		sipAddr = c.LocalAddr().(*net.UDPAddr).AddrPort()
		go func() { _ = srv.ServeUDP(c) }()
		// Requests leave from the listening socket once sipgo has pooled it.
		for i := 0; ; i++ {
			if conn, _ := ua.TransportLayer().GetConnection("udp", sipAddr.String()); conn != nil {
				break
			}
			if i == 200 {
				return fail(errors.New("listen sip: udp socket not ready"))
			}
			time.Sleep(5 * time.Millisecond)
		}
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(sipAddr.String()))
	case "tcp":
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(d.local, 0)))
		if err != nil {
			return fail(fmt.Errorf("listen sip: %w", err))
		}
		closers = append(closers, func() { _ = l.Close() })
		sipAddr = l.Addr().(*net.TCPAddr).AddrPort()
		go func() { _ = srv.ServeTCP(l) }()
	}
	client, err := sipgo.NewClient(ua, clientOpts...)
	if err != nil {
		return fail(fmt.Errorf("new sip client: %w", err))
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "caller", Host: d.local.String(), Port: int(sipAddr.Port())}}
	if d.transport == "tcp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", "tcp")
	}
	d.handle(srv)
	return sipgo.DialogUA{Client: client, ContactHDR: contact}, closeAll, nil
}

// handle answers the gateway's in-dialog requests: BYE ends the call, REFER is accepted (and
// NOTIFYed) as opts say, INFO and OPTIONS get 200.
func (d *dialer) handle(srv *sipgo.Server) {
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		d.event("< BYE")
		d.setResult(req.GetHeader("X-Deflect-Result"))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case <-d.referred:
			d.endWith("refer")
		default:
			d.endWith("gateway")
		}
	})
	srv.OnRefer(d.onRefer)
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
}

func (d *dialer) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	d.event("< REFER")
	d.setResult(req.GetHeader("X-Deflect-Result"))
	if h := req.GetHeader("Refer-To"); h != nil {
		d.mu.Lock()
		d.rep.ReferTo = h.Value()
		d.mu.Unlock()
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, d.opts.ReferStatus, "", nil))
	d.event("> %d to REFER", d.opts.ReferStatus)
	if d.opts.ReferStatus >= 300 || d.opts.ReferNotify == "-" {
		return
	}
	select {
	case d.referred <- struct{}{}:
	default:
	}
	d.mu.Lock()
	dlg := d.dlg
	d.mu.Unlock()
	if dlg == nil {
		return
	}
	go func() {
		n := sip.NewRequest(sip.NOTIFY, d.target)
		n.AppendHeader(sip.NewHeader("Event", "refer"))
		n.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
		n.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
		n.SetBody([]byte(d.opts.ReferNotify + "\r\n"))
		nctx, ncancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ncancel()
		if res, err := dlg.Do(nctx, n); err == nil {
			d.event("> NOTIFY (%s) < %d", d.opts.ReferNotify, res.StatusCode)
		}
	}()
}

// invite builds the INVITE: From the caller, the extra headers, the SDP offer (none for a late
// offer).
func (d *dialer) invite(offer []byte) (*sip.Request, error) {
	inv := sip.NewRequest(sip.INVITE, d.target)
	inv.SetTransport(strings.ToUpper(d.transport))
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(16))
	inv.AppendHeader(&sip.FromHeader{Address: callerURI(d.opts.From, d.local), Params: fromParams})
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: d.target.User, Host: d.target.Host, Port: d.target.Port}})
	inv.AppendHeader(sip.NewHeader("User-Agent", "deflectd-call"))
	for _, h := range d.opts.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("header %q is not Name: value", h)
		}
		inv.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	if offer != nil {
		inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		inv.SetBody(offer)
	}
	return inv, nil
}

// waitAnswer waits for the final response. answered is false when the call ends here: a
// refusal (no error: the report has its status and result) or no answer (an error).
func (d *dialer) waitAnswer(ctx context.Context, dlg *sipgo.DialogClientSession, rep *CallReport) (answered bool, err error) {
	// The whole-call timeout bounds the wait for the answer too. sipgo CANCELs on ctx's end, and
	// RFC 3261 section 9.1 allows a CANCEL only after a provisional response: with none (a dead
	// port) it would wait for Timer B (32 s). Then the wait is given up at once instead.
	var provisional atomic.Bool
	answerCtx, stopAnswer := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopAnswer(nil)
	stopAfter := context.AfterFunc(ctx, func() {
		if provisional.Load() {
			stopAnswer(ctx.Err())
		} else {
			stopAnswer(sipgo.WaitAnswerForceCancelErr)
		}
	})
	defer stopAfter()
	err = dlg.WaitAnswer(answerCtx, sipgo.AnswerOptions{Username: d.opts.Username, Password: d.opts.Password, OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() {
			provisional.Store(true)
		}
		line := fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
		rep.Responses = append(rep.Responses, line)
		d.event("< %s", line)
		return nil
	}})
	rep.InviteAfter = time.Since(d.start)
	if err != nil {
		rep.Duration = time.Since(d.start)
		var de *sipgo.ErrDialogResponse
		switch {
		case ctx.Err() != nil:
			return false, fmt.Errorf("no answer within %s: %w", d.opts.Timeout, err)
		case errors.As(err, &de):
			rep.FinalStatus = de.Res.StatusCode
			d.setResult(de.Res.GetHeader("X-Deflect-Result"))
			return false, nil
		}
		return false, fmt.Errorf("wait for answer: %w", err)
	}
	rep.FinalStatus = dlg.InviteResponse.StatusCode
	rep.Answered = true
	d.mu.Lock()
	d.dlg = dlg
	d.mu.Unlock()
	return true, nil
}

// acknowledge reads the media of the 200 OK (or answers its offer, for a late offer) and sends
// the ACK; a 200 we cannot use is ACKed and hung up.
func (d *dialer) acknowledge(ctx context.Context, dlg *sipgo.DialogClientSession, rtpPort int) (media.Params, error) {
	if d.opts.LateOffer {
		answer, p, err := media.Negotiate(dlg.InviteResponse.Body(), d.local, rtpPort)
		if err != nil {
			_ = dlg.Ack(ctx)
			_ = dlg.Bye(context.Background())
			return p, fmt.Errorf("answer the gateway's offer: %w", err)
		}
		ack := sip.NewRequest(sip.ACK, ackTarget(dlg, d.target))
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(answer)
		if err := dlg.WriteAck(ctx, ack); err != nil {
			return p, fmt.Errorf("send ack: %w", err)
		}
		return p, nil
	}
	p, err := media.ParseAnswer(dlg.InviteResponse.Body())
	if err != nil {
		_ = dlg.Ack(ctx)
		_ = dlg.Bye(context.Background())
		return p, fmt.Errorf("read the gateway's answer: %w", err)
	}
	if err := dlg.Ack(ctx); err != nil {
		return p, fmt.Errorf("send ack: %w", err)
	}
	return p, nil
}

// converse runs the answered call: RTP both ways, the digits, until the gateway ends it, we
// hang up (opts.HangupAfter) or the timeout passes.
func (d *dialer) converse(ctx context.Context, dlg *sipgo.DialogClientSession, rtpConn *net.UDPConn, params media.Params, rep CallReport) (CallReport, error) {
	answered := time.Now()
	// Media: one goroutine receives, one sends silence and digits every 20 ms.
	recv := newRTPReceiver()
	go recv.run(rtpConn)
	snd := newRTPSender(rtpConn, params)
	mediaCtx, stopMedia := context.WithCancel(context.Background())
	defer stopMedia()
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); snd.run(mediaCtx) }()
	pressDone := make(chan struct{})
	go func() { defer close(pressDone); d.press(ctx, mediaCtx, dlg, snd, answered) }()

	var hangup <-chan time.Time
	if d.opts.HangupAfter > 0 {
		t := time.NewTimer(time.Until(answered.Add(d.opts.HangupAfter)))
		defer t.Stop()
		hangup = t.C
	}
	var endErr error
	select {
	case who := <-d.ended:
		rep.EndedBy = who
	case <-hangup:
		d.event("> BYE")
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := dlg.Bye(bctx)
		bcancel()
		rep.EndedBy = "caller"
		if err != nil {
			endErr = fmt.Errorf("hang up: %w", err)
		}
	case <-ctx.Done():
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = dlg.Bye(bctx)
		bcancel()
		endErr = fmt.Errorf("call did not end within %s", d.opts.Timeout)
	}
	stopMedia()
	<-sendDone
	<-pressDone
	_ = rtpConn.Close()
	rep.RTP = recv.stats()
	rep.Duration = time.Since(d.start)
	return rep, endErr
}

// press sends opts.Press, the first digit opts.PressAfter after the answer, then one every
// opts.PressGap, in RFC 4733 events or SIP INFO.
func (d *dialer) press(ctx, mediaCtx context.Context, dlg *sipgo.DialogClientSession, snd *rtpSender, answered time.Time) {
	for i, digit := range d.opts.Press {
		at := answered.Add(d.opts.PressAfter + time.Duration(i)*d.opts.PressGap)
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			return
		case <-mediaCtx.Done():
			return
		}
		if d.opts.PressVia == "info" {
			info := sip.NewRequest(sip.INFO, ackTarget(dlg, d.target))
			info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
			info.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", digit)))
			ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
			res, err := dlg.Do(ictx, info)
			icancel()
			if err != nil {
				d.event("! INFO %c: %v", digit, err)
				continue
			}
			d.event("> INFO %c < %d", digit, res.StatusCode)
		} else {
			if !snd.press(digit) {
				continue
			}
			d.event("> DTMF %c (RFC 4733)", digit)
		}
		d.mu.Lock()
		d.rep.DigitsSent += string(digit)
		d.mu.Unlock()
	}
}

// ackTarget is the remote target for in-dialog requests: the Contact of the 200 OK.
func ackTarget(d *sipgo.DialogClientSession, fallback sip.Uri) sip.Uri {
	if c := d.InviteResponse.Contact(); c != nil {
		return *c.Address.Clone()
	}
	return fallback
}

// callerURI turns --from into a From URI: a number becomes sip:NUMBER@local;user=phone.
func callerURI(from string, local netip.Addr) sip.Uri {
	var u sip.Uri
	l := strings.ToLower(from)
	if strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:") || strings.HasPrefix(l, "tel:") {
		if err := sip.ParseUri(from, &u); err == nil {
			return u
		}
	}
	u = sip.Uri{Scheme: "sip", User: from, Host: local.String(), UriParams: sip.NewParams()}
	if strings.HasPrefix(from, "+") {
		u.UriParams.Add("user", "phone")
	}
	return u
}

// ---- RTP receive -----------------------------------------------------------------------------

type rtpArrival struct {
	at     time.Time
	seq    uint16
	ts     uint32
	ssrc   uint32
	pt     uint8
	marker bool
}

// rtpReceiver records what arrives (bounded to ten minutes of packets).
type rtpReceiver struct {
	mu       sync.Mutex
	arrivals []rtpArrival
	total    int
}

const maxArrivals = 30000

func newRTPReceiver() *rtpReceiver { return &rtpReceiver{arrivals: make([]rtpArrival, 0, 1024)} }

func (r *rtpReceiver) run(c *net.UDPConn) {
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		now := time.Now()
		if _, err := h.Unmarshal(buf[:n]); err != nil || h.Version != 2 {
			continue
		}
		r.mu.Lock()
		r.total++
		if len(r.arrivals) < maxArrivals {
			r.arrivals = append(r.arrivals, rtpArrival{at: now, seq: h.SequenceNumber, ts: h.Timestamp, ssrc: h.SSRC, pt: h.PayloadType, marker: h.Marker})
		}
		r.mu.Unlock()
	}
}

func (r *rtpReceiver) stats() RTPStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rtpStats(r.arrivals, r.total)
}

func rtpStats(arr []rtpArrival, total int) RTPStats {
	st := RTPStats{Packets: total}
	ssrcs := map[uint32]bool{}
	var intervals []time.Duration
	var sum time.Duration
	var jitter float64 // in seconds
	for i, a := range arr {
		ssrcs[a.ssrc] = true
		if a.pt == 0 || a.pt == 8 {
			st.AudioPackets++
		}
		if a.marker {
			st.Markers++
		}
		if i == 0 {
			continue
		}
		p := arr[i-1]
		if p.ssrc != a.ssrc {
			continue
		}
		step := a.seq - p.seq
		if step != 1 {
			st.SeqErrors++
		}
		if (a.pt == 0 || a.pt == 8) && (p.pt == 0 || p.pt == 8) && a.ts-p.ts != uint32(step)*uint32(media.FrameSize) {
			st.TSErrors++
		}
		iv := a.at.Sub(p.at)
		// D = (arrival difference) - (timestamp difference), both in seconds at 8 kHz.
		d := iv.Seconds() - float64(int32(a.ts-p.ts))/8000
		jitter += (math.Abs(d) - jitter) / 16
		intervals = append(intervals, iv)
		sum += iv
		st.MaxInterval = max(st.MaxInterval, iv)
	}
	st.SSRCs = len(ssrcs)
	st.Jitter = time.Duration(jitter * float64(time.Second))
	if len(intervals) > 0 {
		st.MeanInterval = sum / time.Duration(len(intervals))
		devs := make([]time.Duration, len(intervals))
		for i, iv := range intervals {
			devs[i] = time.Duration(math.Abs(float64(iv - media.Ptime)))
		}
		slices.Sort(devs)
		st.P95Deviation = devs[min(len(devs)-1, len(devs)*95/100)]
		st.P99Deviation = devs[min(len(devs)-1, len(devs)*99/100)]
	}
	return st
}

// ---- RTP send: silence, and RFC 4733 events -------------------------------------------------

// rtpSender sends a 20 ms G.711 silence frame per tick, replaced by telephone-event packets
// while a digit is pressed: 5 updates with growing duration (the first with the marker bit),
// then the end packet three times, all carrying the event's start timestamp (RFC 4733 §2.5).
type rtpSender struct {
	conn   *net.UDPConn
	params media.Params
	remote netip.AddrPort
	hdr    rtp.Header
	digits chan rune
}

func newRTPSender(c *net.UDPConn, p media.Params) *rtpSender {
	pt := p.Codec.PT
	return &rtpSender{conn: c, params: p, remote: p.Remote, digits: make(chan rune, 16),
		hdr: rtp.Header{Version: 2, PayloadType: pt, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}}
}

// press queues a digit; false when the gateway offered no telephone-event or the key is unknown.
func (s *rtpSender) press(d rune) bool {
	if s.params.DTMFPT == 0 || dtmfEventCode(d) < 0 {
		return false
	}
	s.digits <- d
	return true
}

func dtmfEventCode(d rune) int {
	switch {
	case d >= '0' && d <= '9':
		return int(d - '0')
	case d == '*':
		return 10
	case d == '#':
		return 11
	case d >= 'A' && d <= 'D':
		return int(d-'A') + 12
	}
	return -1
}

func (s *rtpSender) run(ctx context.Context) {
	if !s.remote.IsValid() {
		return
	}
	dst := net.UDPAddrFromAddrPort(s.remote)
	silence := byte(0xFF) // μ-law zero
	if s.params.Codec.Name == "PCMA" {
		silence = 0xD5
	}
	frame := make([]byte, media.FrameSize)
	for i := range frame {
		frame[i] = silence
	}
	const updates, ends = 5, 3
	var (
		event   = -1
		evTS    uint32
		evTicks int
	)
	buf := make([]byte, 0, 12+media.FrameSize)
	t := time.NewTicker(media.Ptime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := s.hdr
		var payload []byte
		if event < 0 {
			select {
			case d := <-s.digits:
				event, evTS, evTicks = dtmfEventCode(d), s.hdr.Timestamp, 0
			default:
			}
		}
		if event >= 0 {
			evTicks++
			dur := min(evTicks, updates) * media.FrameSize
			end := evTicks > updates
			p := [4]byte{byte(event), 10, 0, 0}
			if end {
				p[1] |= 0x80
			}
			binary.BigEndian.PutUint16(p[2:], uint16(dur))
			h.PayloadType = s.params.DTMFPT
			h.Timestamp = evTS
			h.Marker = evTicks == 1
			payload = p[:]
			if evTicks >= updates+ends {
				event = -1
			}
		} else {
			payload = frame
		}
		b, err := h.MarshalTo(buf[:12])
		if err != nil {
			return
		}
		pkt := append(buf[:b], payload...)
		_, _ = s.conn.WriteToUDP(pkt, dst)
		s.hdr.SequenceNumber++
		s.hdr.Timestamp += media.FrameSize
	}
}
