// Package metasim places a WhatsApp call the way Meta's Business Calling API delivers one to a
// SIP-enabled business number with SDES media: an INVITE over TLS from the customer's WhatsApp
// id to the business number, answering a digest challenge with the number's SIP password,
// x-wa-meta-* headers (the call button's payload among them), an RTP/SAVP offer with a=crypto
// and G.711, 20 ms audio frames, and a BYE with x-wa-meta-call-duration when the customer
// hangs up. The sandbox uses it to play Meta, tests and `deflectd call --whatsapp` too.
package metasim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/ivr/media"
	"github.com/deflectd/deflectd/ivr/voice"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

// Call is one WhatsApp call to place.
type Call struct {
	Target   netip.AddrPort // the business's voice.listen (TLS)
	TLS      *tls.Config    // how to trust the business's certificate
	Business string         // the business number (Request-URI user)
	WAID     string         // the customer's WhatsApp id (From user)
	Name     string         // the customer's profile name (x-wa-meta-display-name)
	Payload  string         // the call button's payload ("" = the customer called without a button)
	User     string         // digest user (Meta uses the business number)
	Password string         // the number's SIP password; "" = never answer a challenge
	Duration time.Duration  // the customer hangs up after this long answered
	MediaIP  netip.Addr     // where the customer's audio socket binds
	Timeout  time.Duration  // how long to wait for the answer (0: 30 s)
}

// Report is what happened.
type Report struct {
	Status   int           `json:"status"` // final response to the INVITE
	Reason   string        `json:"reason,omitempty"`
	Answered bool          `json:"answered"`
	Talk     time.Duration `json:"-"`
	TalkMS   int64         `json:"talk_ms"`
	EndedBy  string        `json:"ended_by,omitempty"` // customer | business
	Sent     int64         `json:"packets_sent"`
	Received int64         `json:"packets_received"` // SRTP packets that authenticated and decrypted
	Codec    string        `json:"codec,omitempty"`
}

// Place calls and returns when the call is over (or ctx ends).
func Place(ctx context.Context, c Call, log *slog.Logger) (Report, error) {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if !c.MediaIP.IsValid() {
		c.MediaIP = c.Target.Addr()
	}
	ua, dc, err := newAgent(c, log)
	if err != nil {
		return Report{}, err
	}
	defer ua.Close()

	sock, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.MediaIP, 0)))
	if err != nil {
		return Report{}, fmt.Errorf("sandbox media socket: %w", err)
	}
	defer sock.Close()
	key, err := voice.NewCrypto(1, "AES_CM_128_HMAC_SHA1_80")
	if err != nil {
		return Report{}, err
	}
	offer := voice.Describe(c.MediaIP, sock.LocalAddr().(*net.UDPAddr).Port,
		[]media.Codec{media.PCMU, media.PCMA}, media.DefaultDTMFPT, &key)

	to := sip.Uri{Scheme: "sip", User: c.Business, Host: c.Target.Addr().String(), Port: int(c.Target.Port()),
		UriParams: params("transport", "tls")}
	hdrs := []sip.Header{
		&sip.FromHeader{DisplayName: c.Name, Address: sip.Uri{Scheme: "sip", User: "+" + c.WAID, Host: "wa.meta.vc"},
			Params: params("tag", strconv.FormatInt(time.Now().UnixNano(), 36))},
		sip.NewHeader("Content-Type", "application/sdp"),
		sip.NewHeader("x-wa-meta-display-name", c.Name),
	}
	if c.Payload != "" {
		hdrs = append(hdrs, sip.NewHeader("x-wa-meta-cta-payload", c.Payload))
	}
	rctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	d, err := dc.Invite(rctx, to, offer, hdrs...)
	if err != nil {
		return Report{}, fmt.Errorf("send invite: %w", err)
	}
	defer d.Close()
	err = d.WaitAnswer(rctx, sipgo.AnswerOptions{Username: c.User, Password: c.Password})
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return Report{Status: de.Res.StatusCode, Reason: de.Res.Reason}, nil
	}
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		// Our own give-up (Timeout): WaitAnswer sent the CANCEL, as a customer hanging up.
		return Report{Status: 487, Reason: "Request Terminated (the customer hung up)"}, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("wait for the answer: %w", err)
	}
	rep := Report{Status: d.InviteResponse.StatusCode, Reason: d.InviteResponse.Reason, Answered: true}
	ans, err := voice.ParseOffer(d.InviteResponse.Body(), true)
	if err != nil {
		_ = d.Ack(ctx)
		_ = d.Bye(ctx)
		return rep, fmt.Errorf("business answer: %w", err)
	}
	rep.Codec = ans.Codec.Name
	if err := d.Ack(ctx); err != nil {
		return rep, fmt.Errorf("ack: %w", err)
	}
	answered := time.Now()
	sent, recv, err := talk(ctx, d, sock, key, *ans.Crypto, ans, c.Duration)
	rep.Sent, rep.Received = sent, recv
	rep.Talk = time.Since(answered)
	rep.TalkMS = rep.Talk.Milliseconds()
	if err != nil {
		return rep, err
	}
	if d.LoadState() == sip.DialogStateEnded {
		rep.EndedBy = "business"
		return rep, nil
	}
	rep.EndedBy = "customer"
	bye := sip.NewRequest(sip.BYE, d.InviteResponse.Contact().Address)
	bye.AppendHeader(sip.NewHeader("x-wa-meta-call-duration", strconv.Itoa(int(rep.Talk.Seconds()))))
	bctx, bcancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer bcancel()
	if err := d.WriteBye(bctx, bye); err != nil {
		return rep, fmt.Errorf("bye: %w", err)
	}
	return rep, nil
}

// newAgent is the customer's SIP stack: a client for the INVITE and a server on the same agent
// for the business's BYE.
func newAgent(c Call, log *slog.Logger) (*sipgo.UserAgent, *sipgo.DialogClientCache, error) {
	sipLog := ivr.SIPLogger(log)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("WhatsApp-sandbox"), sipgo.WithUserAgenTLSConfig(c.TLS),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)))
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox sip agent: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog))
	if err == nil {
		var srv *sipgo.Server
		if srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog)); err == nil {
			// Contact without host and port: sipgo fills in the TLS connection's own address, so
			// the business's BYE comes back on the connection this INVITE opened (as with Meta).
			dc := sipgo.NewDialogClientCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: c.WAID,
				UriParams: params("transport", "tls")}})
			srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
				if err := dc.ReadBye(req, tx); err != nil {
					_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
				}
			})
			return ua, dc, nil
		}
	}
	ua.Close()
	return nil, nil, fmt.Errorf("sandbox sip client: %w", err)
}

// talk sends a 440 Hz tone in 20 ms SRTP frames and counts what comes back, until dur passes,
// the business hangs up or ctx ends.
func talk(ctx context.Context, d *sipgo.DialogClientSession, sock *net.UDPConn, ours, theirs voice.Crypto,
	ans voice.Offer, dur time.Duration) (sent, recv int64, err error) {
	enc, err := ours.Context()
	if err != nil {
		return 0, 0, err
	}
	dec, err := theirs.Context()
	if err != nil {
		return 0, 0, err
	}
	var received atomic.Int64
	go func() {
		buf := make([]byte, 1500)
		var out []byte
		for {
			n, err := sock.Read(buf)
			if err != nil {
				return
			}
			var h rtp.Header
			if out, err = dec.DecryptRTP(out[:0], buf[:n], &h); err == nil {
				received.Add(1)
			}
		}
	}()
	frame := tone(ans.Codec)
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ans.Codec.PT, SSRC: 0x5a5a0001}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.After(dur)
	var raw, wire []byte
	for {
		select {
		case <-ctx.Done():
			return sent, received.Load(), ctx.Err()
		case <-d.Context().Done():
			return sent, received.Load(), nil
		case <-end:
			time.Sleep(60 * time.Millisecond) // the last echoes
			return sent, received.Load(), nil
		case <-tick.C:
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		pkt.Payload = frame[int(sent)%len(frame)]
		if raw, err = pkt.Marshal(); err != nil {
			return sent, received.Load(), fmt.Errorf("rtp marshal: %w", err)
		}
		if wire, err = enc.EncryptRTP(wire[:0], raw, nil); err != nil {
			return sent, received.Load(), fmt.Errorf("srtp encrypt: %w", err)
		}
		if ans.Remote.IsValid() {
			if _, err := sock.WriteToUDPAddrPort(wire, ans.Remote); err == nil {
				sent++
			}
		}
	}
}

// tone is one second of 440 Hz as 50 frames of 160 G.711 samples.
func tone(c media.Codec) [][]byte {
	frames := make([][]byte, 50)
	for f := range frames {
		b := make([]byte, 160)
		for i := range b {
			n := f*160 + i
			v := int16(8000 * math.Sin(2*math.Pi*440*float64(n)/8000))
			if c.Name == "PCMA" {
				b[i] = g711.EncodeAlawFrame(v)
			} else {
				b[i] = g711.EncodeUlawFrame(v)
			}
		}
		frames[f] = b
	}
	return frames
}

func params(k, v string) sip.HeaderParams {
	p := sip.NewParams()
	p.Add(k, v)
	return p
}
