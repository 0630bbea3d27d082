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
	var rep CallReport
	start := time.Now()
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
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Events come from the dialog goroutine and from sipgo's request handlers: serialise them so
	// OnEvent never runs concurrently with itself.
	var eventMu sync.Mutex
	event := func(format string, a ...any) {
		if opts.OnEvent != nil {
			line := fmt.Sprintf(format, a...)
			eventMu.Lock()
			defer eventMu.Unlock()
			opts.OnEvent(line)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	var target sip.Uri
	if err := sip.ParseUri(opts.Target, &target); err != nil {
		return rep, fmt.Errorf("parse target %q: %w", opts.Target, err)
	}
	transport := strings.ToLower(opts.Transport)
	if t, ok := target.UriParams.Get("transport"); ok && t != "" {
		transport = strings.ToLower(t)
	}
	if transport == "" {
		transport = "udp"
	}
	if transport != "udp" && transport != "tcp" {
		return rep, fmt.Errorf("dial: transport %q is not udp or tcp", transport)
	}
	if transport == "tcp" {
		if target.UriParams == nil {
			target.UriParams = sip.NewParams()
		}
		target.UriParams.Add("transport", "tcp")
	}
	port := target.Port
	if port == 0 {
		port = 5060
	}
	targetIP, err := netip.ParseAddr(target.Host)
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", target.Host)
		if lerr != nil || len(ips) == 0 {
			return rep, fmt.Errorf("resolve %s: %w", target.Host, errors.Join(err, lerr))
		}
		targetIP = ips[0]
	}
	local := opts.LocalIP
	if !local.IsValid() {
		local = outboundIP(targetIP)
	}

	// RTP socket first: its port goes in the offer.
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return rep, fmt.Errorf("listen rtp: %w", err)
	}
	defer rtpConn.Close()
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port

	// SIP socket: our Contact, and (UDP) where our requests leave from.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("deflectd-call"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slog.New(slog.DiscardHandler)),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {})),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slog.New(slog.DiscardHandler))))
	if err != nil {
		return rep, fmt.Errorf("new user agent: %w", err)
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return rep, fmt.Errorf("new sip server: %w", err)
	}
	var sipAddr netip.AddrPort
	var clientOpts []sipgo.ClientOption
	switch transport {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			return rep, fmt.Errorf("listen sip: %w", err)
		}
		defer c.Close()
		sipAddr = c.LocalAddr().(*net.UDPAddr).AddrPort()
		go func() { _ = srv.ServeUDP(c) }()
		// Requests leave from the listening socket once sipgo has pooled it.
		for i := 0; ; i++ {
			if conn, _ := ua.TransportLayer().GetConnection("udp", sipAddr.String()); conn != nil {
				break
			}
			if i == 200 {
				return rep, errors.New("listen sip: udp socket not ready")
			}
			time.Sleep(5 * time.Millisecond)
		}
		clientOpts = append(clientOpts, sipgo.WithClientConnectionAddr(sipAddr.String()))
	case "tcp":
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err != nil {
			return rep, fmt.Errorf("listen sip: %w", err)
		}
		defer l.Close()
		sipAddr = l.Addr().(*net.TCPAddr).AddrPort()
		go func() { _ = srv.ServeTCP(l) }()
	}
	client, err := sipgo.NewClient(ua, clientOpts...)
	if err != nil {
		return rep, fmt.Errorf("new sip client: %w", err)
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "caller", Host: local.String(), Port: int(sipAddr.Port())}}
	if transport == "tcp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", "tcp")
	}
	dua := sipgo.DialogUA{Client: client, ContactHDR: contact}

	// The dialog is known only once answered; in-dialog requests wait for it.
	var (
		mu       sync.Mutex
		dlg      *sipgo.DialogClientSession
		ended    = make(chan string, 1) // who ended the call
		endOnce  sync.Once
		referred = make(chan struct{}, 1)
	)
	endWith := func(who string) { endOnce.Do(func() { ended <- who }) }
	setResult := func(h sip.Header) {
		if h != nil {
			mu.Lock()
			rep.Result = h.Value()
			mu.Unlock()
		}
	}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		event("< BYE")
		setResult(req.GetHeader("X-Deflect-Result"))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case <-referred:
			endWith("refer")
		default:
			endWith("gateway")
		}
	})
	srv.OnRefer(func(req *sip.Request, tx sip.ServerTransaction) {
		event("< REFER")
		setResult(req.GetHeader("X-Deflect-Result"))
		if h := req.GetHeader("Refer-To"); h != nil {
			mu.Lock()
			rep.ReferTo = h.Value()
			mu.Unlock()
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, opts.ReferStatus, "", nil))
		event("> %d to REFER", opts.ReferStatus)
		if opts.ReferStatus >= 300 || opts.ReferNotify == "-" {
			return
		}
		select {
		case referred <- struct{}{}:
		default:
		}
		mu.Lock()
		d := dlg
		mu.Unlock()
		if d == nil {
			return
		}
		go func() {
			n := sip.NewRequest(sip.NOTIFY, target)
			n.AppendHeader(sip.NewHeader("Event", "refer"))
			n.AppendHeader(sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
			n.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
			n.SetBody([]byte(opts.ReferNotify + "\r\n"))
			nctx, ncancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer ncancel()
			if res, err := d.Do(nctx, n); err == nil {
				event("> NOTIFY (%s) < %d", opts.ReferNotify, res.StatusCode)
			}
		}()
	})
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})

	from := callerURI(opts.From, local)
	var offer []byte
	if !opts.LateOffer {
		offer = media.Offer(local, rtpPort)
	}
	inv := sip.NewRequest(sip.INVITE, target)
	inv.SetTransport(strings.ToUpper(transport))
	fromParams := sip.NewParams()
	fromParams.Add("tag", sip.GenerateTagN(16))
	inv.AppendHeader(&sip.FromHeader{Address: from, Params: fromParams})
	inv.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}})
	inv.AppendHeader(sip.NewHeader("User-Agent", "deflectd-call"))
	for _, h := range opts.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return rep, fmt.Errorf("header %q is not Name: value", h)
		}
		inv.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	if offer != nil {
		inv.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		inv.SetBody(offer)
	}

	event("> INVITE %s", opts.Target)
	d, err := dua.WriteInvite(ctx, inv)
	if err != nil {
		return rep, fmt.Errorf("send invite: %w", err)
	}
	rep.CallID = callID(inv)
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
	err = d.WaitAnswer(answerCtx, sipgo.AnswerOptions{Username: opts.Username, Password: opts.Password, OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() {
			provisional.Store(true)
		}
		line := fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
		rep.Responses = append(rep.Responses, line)
		event("< %s", line)
		return nil
	}})
	rep.InviteAfter = time.Since(start)
	if err != nil && ctx.Err() != nil {
		rep.Duration = time.Since(start)
		return rep, fmt.Errorf("no answer within %s: %w", opts.Timeout, err)
	}
	if err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			rep.FinalStatus = de.Res.StatusCode
			setResult(de.Res.GetHeader("X-Deflect-Result"))
			rep.Duration = time.Since(start)
			return rep, nil
		}
		rep.Duration = time.Since(start)
		return rep, fmt.Errorf("wait for answer: %w", err)
	}
	rep.FinalStatus = d.InviteResponse.StatusCode
	rep.Answered = true
	mu.Lock()
	dlg = d
	mu.Unlock()

	var params media.Params
	if opts.LateOffer {
		answer, p, err := media.Negotiate(d.InviteResponse.Body(), local, rtpPort)
		if err != nil {
			_ = d.Ack(ctx)
			_ = d.Bye(context.Background())
			return rep, fmt.Errorf("answer the gateway's offer: %w", err)
		}
		params = p
		ack := sip.NewRequest(sip.ACK, ackTarget(d, target))
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(answer)
		if err := d.WriteAck(ctx, ack); err != nil {
			return rep, fmt.Errorf("send ack: %w", err)
		}
	} else {
		p, err := media.ParseAnswer(d.InviteResponse.Body())
		if err != nil {
			_ = d.Ack(ctx)
			_ = d.Bye(context.Background())
			return rep, fmt.Errorf("read the gateway's answer: %w", err)
		}
		params = p
		if err := d.Ack(ctx); err != nil {
			return rep, fmt.Errorf("send ack: %w", err)
		}
	}
	event("> ACK")
	answered := time.Now()

	// Media: one goroutine receives, one sends silence and digits every 20 ms.
	recv := newRTPReceiver()
	go recv.run(rtpConn)
	snd := newRTPSender(rtpConn, params)
	mediaCtx, stopMedia := context.WithCancel(context.Background())
	defer stopMedia()
	sendDone := make(chan struct{})
	go func() { defer close(sendDone); snd.run(mediaCtx) }()

	// Digits.
	pressDone := make(chan struct{})
	go func() {
		defer close(pressDone)
		for i, digit := range opts.Press {
			at := answered.Add(opts.PressAfter + time.Duration(i)*opts.PressGap)
			select {
			case <-time.After(time.Until(at)):
			case <-ctx.Done():
				return
			case <-mediaCtx.Done():
				return
			}
			if opts.PressVia == "info" {
				info := sip.NewRequest(sip.INFO, ackTarget(d, target))
				info.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
				info.SetBody([]byte(fmt.Sprintf("Signal=%c\r\nDuration=160\r\n", digit)))
				ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
				res, err := d.Do(ictx, info)
				icancel()
				if err != nil {
					event("! INFO %c: %v", digit, err)
					continue
				}
				event("> INFO %c < %d", digit, res.StatusCode)
			} else {
				if !snd.press(digit) {
					continue
				}
				event("> DTMF %c (RFC 4733)", digit)
			}
			mu.Lock()
			rep.DigitsSent += string(digit)
			mu.Unlock()
		}
	}()

	var hangup <-chan time.Time
	if opts.HangupAfter > 0 {
		t := time.NewTimer(time.Until(answered.Add(opts.HangupAfter)))
		defer t.Stop()
		hangup = t.C
	}
	var endErr error
	select {
	case who := <-ended:
		rep.EndedBy = who
	case <-hangup:
		event("> BYE")
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := d.Bye(bctx)
		bcancel()
		rep.EndedBy = "caller"
		if err != nil {
			endErr = fmt.Errorf("hang up: %w", err)
		}
	case <-ctx.Done():
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.Bye(bctx)
		bcancel()
		endErr = fmt.Errorf("call did not end within %s", opts.Timeout)
	}
	stopMedia()
	<-sendDone
	<-pressDone
	_ = rtpConn.Close()
	rep.RTP = recv.stats()
	rep.Duration = time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	return rep, endErr
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
