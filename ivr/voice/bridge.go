package voice

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/deflectd/deflectd/ivr/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
)

// payloadHeaders are where Meta's INVITE may carry the call button's payload. Meta documents
// its SIP headers as x-wa-meta-*; the payload one is taken by name as the Calling API's
// webhooks name the field (cta_payload). Unverified against a real Meta INVITE.
var payloadHeaders = []string{"x-wa-meta-cta-payload", "x-wa-meta-payload"}

// bridge is one WhatsApp call: Meta's dialog (we are its UAS) and ours to the PBX (UAC).
type bridge struct {
	s      *Server
	log    *slog.Logger
	req    *sip.Request
	tx     sip.ServerTransaction
	dlg    *sipgo.DialogServerSession
	offer  Offer
	callID string
	waID   string

	stopOnce sync.Once
	stop     chan struct{}
	stopWhy  string

	// The queue leg, once its INVITE is out: for the queue's re-INVITEs.
	pbxCallID string
	pbxSDP    []byte // our description toward the queue
	relay     *relay
}

func (s *Server) newBridge(req *sip.Request, tx sip.ServerTransaction, dlg *sipgo.DialogServerSession, offer Offer, log *slog.Logger) *bridge {
	wa := ""
	if f := req.From(); f != nil {
		wa = strings.TrimPrefix(f.Address.User, "+")
	}
	return &bridge{s: s, log: log, req: req, tx: tx, dlg: dlg, offer: offer,
		callID: req.CallID().Value(), waID: wa, stop: make(chan struct{})}
}

// end asks the call to finish (shutdown); the bridge hangs up both legs.
func (b *bridge) end(why string) {
	b.stopOnce.Do(func() { b.stopWhy = why; close(b.stop) })
}

// resolve finds the deflection the call button named; any failure is logged and the call is
// bridged without context (the customer still reaches the queue).
func (b *bridge) resolve() CallContext {
	payload := ""
	for _, h := range payloadHeaders {
		if payload = metaHeader(b.req, h); payload != "" {
			break
		}
	}
	cc, err := b.s.res.ResolveCall(context.Background(), payload, b.waID)
	if err != nil && payload == "" {
		b.s.m.context.WithLabelValues("none").Inc()
		b.log.Info("whatsapp call without a call button payload from a customer with no recent deflection: bridged without context", "err", err)
		return CallContext{WAID: b.waID}
	}
	if err != nil {
		b.s.m.context.WithLabelValues("invalid").Inc()
		b.log.Warn("whatsapp call button payload not accepted: bridged without context", "err", err)
		return CallContext{WAID: b.waID}
	}
	if payload == "" {
		b.s.m.context.WithLabelValues("by-number").Inc()
	} else {
		b.s.m.context.WithLabelValues("found").Inc()
	}
	if cc.WAID == "" {
		cc.WAID = b.waID
	}
	return cc
}

func (b *bridge) run() {
	start := time.Now()
	cc := b.resolve()
	b.log = b.log.With("session_id", cc.SessionID)
	rec := CallRecord{CallID: b.callID, WAID: b.waID, SessionID: cc.SessionID, Queue: cc.Queue, Start: start}
	defer func() {
		b.s.m.calls.WithLabelValues(rec.Result).Inc()
		if rec.Talk > 0 {
			b.s.m.talk.Observe(rec.Talk.Seconds())
		}
		b.log.Info("whatsapp call ended", "result", rec.Result, "ended_by", rec.EndedBy,
			"talk_seconds", int(rec.Talk.Seconds()), "queue", rec.Queue)
		b.s.res.RecordCall(context.Background(), rec)
	}()

	r, err := newRelay(b.s.cfg.MediaIP, b.s.cfg.RTPPortMin, b.s.cfg.RTPPortMax)
	if err != nil {
		b.log.Error("whatsapp call: no media ports", "err", err)
		rec.Result, rec.EndedBy = ResultFailed, "deflectd"
		_ = b.dlg.Respond(503, "Service Unavailable", nil)
		return
	}
	defer func() {
		r.close()
		b.s.m.packets.WithLabelValues("to-queue").Add(float64(r.fromMeta.Load()))
		b.s.m.packets.WithLabelValues("to-whatsapp").Add(float64(r.fromPBX.Load()))
		b.s.m.dropped.Add(float64(r.dropped.Load()))
	}()

	pbxDlg, result, endedBy := b.ring(cc, r)
	if pbxDlg == nil {
		rec.Result, rec.EndedBy = result, endedBy
		return
	}
	defer pbxDlg.Close()
	rec.Result = ResultAnswered
	answered := time.Now()
	rec.EndedBy = b.talk(pbxDlg, r)
	rec.Talk = time.Since(answered)
}

// ring calls the queue and answers Meta once the queue answered. It returns the queue's
// dialog, or nil with the result when the call never got bridged.
func (b *bridge) ring(cc CallContext, r *relay) (*sipgo.DialogClientSession, string, string) {
	cfg := b.s.cfg
	ctx, cancel := context.WithTimeout(context.Background(), cfg.AnswerTimeout)
	defer cancel()
	customerGone := make(chan struct{})
	go func() {
		select {
		case <-b.tx.Done(): // CANCEL from Meta (or the transaction died)
			close(customerGone)
			cancel()
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()

	dtmf := uint8(0)
	if b.offer.DTMFPT != 0 {
		dtmf = media.DefaultDTMFPT
	}
	sdpOffer := Describe(cfg.MediaIP, port(r.pbx), []media.Codec{b.offer.Codec}, dtmf, nil)
	pbxDlg, err := b.s.pbx.Invite(ctx, cfg.PBXTarget, sdpOffer, b.headers(cc)...)
	if err == nil {
		b.s.mu.Lock()
		b.pbxCallID, b.pbxSDP, b.relay = pbxDlg.InviteRequest.CallID().Value(), sdpOffer, r
		b.s.byPBX[b.pbxCallID] = b
		b.s.mu.Unlock()
		err = pbxDlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
			if res.StatusCode == 180 || res.StatusCode == 183 {
				_ = b.dlg.Respond(180, "Ringing", nil)
			}
			return nil
		}})
	}
	if err != nil {
		if pbxDlg != nil {
			pbxDlg.Close()
		}
		res, why := b.refuse(err, customerGone)
		return nil, res, why
	}
	ans, err := ParseOffer(pbxDlg.InviteResponse.Body(), false)
	if err == nil {
		err = pbxDlg.Ack(context.Background())
	}
	if err == nil {
		select {
		case <-customerGone:
			err = errCustomerGone
		default:
		}
	}
	if err != nil {
		b.hangup(pbxDlg, nil)
		pbxDlg.Close()
		res, why := b.refuse(err, customerGone)
		return nil, res, why
	}

	ourKey, err := NewCrypto(1, b.offer.Crypto.Suite)
	if err == nil {
		err = r.start(context.Background(), b.offer.Remote, ans.Remote, *b.offer.Crypto, ourKey,
			ptMap(b.offer, ans), ptMap(ans, b.offer))
	}
	if err == nil {
		err = b.dlg.RespondSDP(Describe(cfg.MediaIP, port(r.meta), []media.Codec{b.offer.Codec}, b.offer.DTMFPT, &ourKey))
	}
	if err != nil {
		b.log.Warn("whatsapp call: answering failed", "err", err)
		b.hangup(pbxDlg, nil)
		pbxDlg.Close()
		return nil, ResultFailed, "deflectd"
	}
	return pbxDlg, "", ""
}

// reoffer takes a re-INVITE's offer from the queue: the relay sends to its (new) address, and
// the answer is our description as it was (same port, same codec; RFC 3264 §8: an unchanged
// answer). An offer without a usable G.711 stream is refused.
func (b *bridge) reoffer(body []byte) ([]byte, error) {
	b.s.mu.Lock()
	r, ours := b.relay, b.pbxSDP
	b.s.mu.Unlock()
	if r == nil || len(body) == 0 {
		return ours, nil // an offerless re-INVITE (session refresh): our description again
	}
	o, err := ParseOffer(body, false)
	if err != nil {
		return nil, err
	}
	if o.Codec.Name != b.offer.Codec.Name {
		return nil, fmt.Errorf("the queue switched to %s: the WhatsApp leg speaks %s", o.Codec.Name, b.offer.Codec.Name)
	}
	if o.Remote.IsValid() {
		r.pbxRemote.Store(&o.Remote)
	}
	return ours, nil
}

var errCustomerGone = errors.New("the customer hung up while the queue answered")

// refuse answers Meta after the queue leg failed and says what happened.
func (b *bridge) refuse(err error, customerGone <-chan struct{}) (string, string) {
	select {
	case <-customerGone:
		return ResultCancelled, "customer" // the transaction layer already answered 487
	default:
	}
	select {
	case <-b.stop:
		_ = b.dlg.Respond(503, "Service Unavailable", nil)
		return ResultFailed, b.stopWhy
	default:
	}
	var de *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &de) && (de.Res.StatusCode == 486 || de.Res.StatusCode == 600):
		_ = b.dlg.Respond(486, "Busy Here", nil)
		return ResultBusy, "queue"
	case errors.As(err, &de) && de.Res.StatusCode == 480:
		_ = b.dlg.Respond(480, "Temporarily Unavailable", nil)
		return ResultNoAnswer, "queue"
	case errors.Is(err, context.DeadlineExceeded):
		b.log.Warn("whatsapp call: the queue did not answer in time", "timeout", b.s.cfg.AnswerTimeout)
		_ = b.dlg.Respond(480, "Temporarily Unavailable", nil)
		return ResultNoAnswer, "timeout"
	}
	b.log.Warn("whatsapp call: the queue leg failed", "err", err)
	_ = b.dlg.Respond(502, "Bad Gateway", nil)
	return ResultFailed, "queue"
}

// talk waits for either side to hang up (or the limits) and hangs up the other.
func (b *bridge) talk(pbxDlg *sipgo.DialogClientSession, r *relay) string {
	var limit <-chan time.Time
	if b.s.cfg.MaxDuration > 0 {
		t := time.NewTimer(b.s.cfg.MaxDuration)
		defer t.Stop()
		limit = t.C
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-b.dlg.Context().Done():
			b.hangup(pbxDlg, nil)
			return "customer"
		case <-pbxDlg.Context().Done():
			b.hangup(nil, b.dlg)
			return "queue"
		case <-limit:
			b.log.Warn("whatsapp call reached voice.max_call_duration")
			b.hangup(pbxDlg, b.dlg)
			return "timeout"
		case <-b.stop:
			b.hangup(pbxDlg, b.dlg)
			return b.stopWhy
		case <-tick.C:
			if to := b.s.cfg.MediaTimeout; to > 0 && r.idle() > to {
				b.log.Warn("whatsapp call: no audio either way", "for", to)
				b.hangup(pbxDlg, b.dlg)
				return "media-timeout"
			}
		}
	}
}

// hangup sends BYE on the legs given, bounded in time.
func (b *bridge) hangup(pbxDlg *sipgo.DialogClientSession, metaDlg *sipgo.DialogServerSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if pbxDlg != nil && pbxDlg.LoadState() != sip.DialogStateEnded {
		if err := pbxDlg.Bye(ctx); err != nil {
			b.log.Debug("bye to the queue", "err", err)
		}
	}
	if metaDlg != nil && metaDlg.LoadState() != sip.DialogStateEnded {
		if err := metaDlg.Bye(ctx); err != nil {
			b.log.Debug("bye to whatsapp", "err", err)
		}
	}
}

// ptMap renumbers from's payload types to to's for the codec and telephone-event.
func ptMap(from, to Offer) map[uint8]uint8 {
	m := map[uint8]uint8{}
	if from.Codec.PT != to.Codec.PT {
		m[from.Codec.PT] = to.Codec.PT
	}
	if from.DTMFPT != 0 && to.DTMFPT != 0 && from.DTMFPT != to.DTMFPT {
		m[from.DTMFPT] = to.DTMFPT
	}
	return m
}

// headers are the queue INVITE's: the customer as the caller, and the deflection's context
// under the names the IVR receives them (so one dialplan reads both).
func (b *bridge) headers(cc CallContext) []sip.Header {
	host := b.s.pbxAdr.Addr().String()
	user := "whatsapp"
	if cc.WAID != "" {
		user = "+" + cc.WAID
	}
	from := &sip.FromHeader{DisplayName: "WhatsApp", Address: sip.Uri{Scheme: "sip", User: user, Host: host},
		Params: tagParams()}
	hs := []sip.Header{from, sip.NewHeader("Content-Type", "application/sdp"),
		sip.NewHeader("X-Deflect-Source", "whatsapp-call")}
	add := func(name, v string) {
		if v = clean(v); v != "" {
			hs = append(hs, sip.NewHeader(name, v))
		}
	}
	add("X-Deflect-Session", cc.SessionID)
	add("X-Queue", cc.Queue)
	add("X-Customer-Id", cc.CustomerID)
	add("X-Language", cc.Language)
	for _, k := range slices.Sorted(maps.Keys(cc.Context)) {
		add("X-Context-"+k, cc.Context[k])
	}
	add("User-to-User", cc.UserToUser)
	conv := cmp.Or(cc.Conversation, cc.WAID)
	if conv != "" && b.s.cfg.ConsoleURL != "" {
		add("X-WhatsApp-Conversation", strings.TrimRight(b.s.cfg.ConsoleURL, "/")+"/console/?conversation="+url.QueryEscape(conv))
	}
	return hs
}

// clean keeps a header value on one line (values come from the PBX's headers or the API).
func clean(v string) string {
	return strings.TrimSpace(strings.NewReplacer("\r", " ", "\n", " ").Replace(v))
}

func tagParams() sip.HeaderParams {
	p := sip.NewParams()
	p.Add("tag", uuid.NewString()[:8])
	return p
}
