// Command rtpprobe places a few calls of its own (sipgo, UDP, loopback) at a SIP IVR under load,
// receives the prompt's RTP, and prints the pacing jitter (p50/p99/max deviation of each packet's
// arrival from its RTP-timestamp schedule), RFC 3550 jitter and loss from sequence numbers. Arrival
// times come from the kernel (SO_TIMESTAMPNS), so the probe's own scheduling under load does not
// count against the gateway. Used by deploy/loadtest/run.sh on a sample of calls.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

type config struct {
	target  string
	calls   int
	hold    time.Duration
	spread  time.Duration
	from    string // E.164 prefix; the call index is appended
	timeout time.Duration
}

type callResult struct {
	s        *stream
	err      error
	earlyBye bool
	setup    time.Duration // INVITE sent → 200 OK
	firstRTP time.Duration // 200 OK → first RTP packet
}

func main() {
	os.Exit(run())
}

func run() int {
	var c config
	flag.StringVar(&c.target, "target", "127.0.0.1:5060", "gateway SIP udp host:port")
	flag.IntVar(&c.calls, "calls", 10, "calls to place")
	flag.DurationVar(&c.hold, "hold", 8*time.Second, "how long each call listens before hanging up")
	flag.DurationVar(&c.spread, "spread", time.Second, "start the calls evenly over this time")
	flag.StringVar(&c.from, "from", "+96659000", "caller number prefix (a 4-digit call index is appended)")
	flag.DurationVar(&c.timeout, "answer-timeout", 10*time.Second, "give up on a call not answered by then")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("component", "rtpprobe")
	sip.SetDefaultLogger(log)

	ctx, cancel := context.WithTimeout(context.Background(), c.spread+c.timeout+c.hold+15*time.Second)
	defer cancel()

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("rtpprobe"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		log.Error("create user agent", "error", err)
		return 1
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		log.Error("create server", "error", err)
		return 1
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Error("listen sip", "error", err)
		return 1
	}
	laddr := pc.LocalAddr().(*net.UDPAddr)
	go func() { _ = srv.ServeUDP(pc) }()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientAddr(laddr.String()))
	if err != nil {
		log.Error("create client", "error", err)
		return 1
	}
	contact := sip.ContactHeader{Address: sip.Uri{User: "rtpprobe", Host: laddr.IP.String(), Port: laddr.Port}}
	dialogs := sipgo.NewDialogClientCache(cli, contact)
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := dialogs.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	})

	results := make([]callResult, c.calls)
	var wg sync.WaitGroup
	for i := range c.calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.calls > 1 {
				time.Sleep(c.spread * time.Duration(i) / time.Duration(c.calls-1))
			}
			results[i] = probeCall(ctx, c, dialogs, i)
		}()
	}
	wg.Wait()

	var ss []*stream
	failed, early := 0, 0
	var setups, firsts []float64
	for i, r := range results {
		if r.err != nil {
			failed++
			log.Warn("call failed", "call", i, "error", r.err)
		}
		if r.earlyBye {
			early++
		}
		if r.s != nil {
			ss = append(ss, r.s)
		}
		if r.setup > 0 {
			setups = append(setups, r.setup.Seconds())
		}
		if r.firstRTP > 0 {
			firsts = append(firsts, r.firstRTP.Seconds())
		}
	}
	sum := summarize(ss)
	lossPct := 0.0
	if sum.Packets+sum.Lost > 0 {
		lossPct = 100 * float64(sum.Lost) / float64(sum.Packets+sum.Lost)
	}
	slices.Sort(setups)
	slices.Sort(firsts)
	fmt.Printf("rtpprobe calls=%d failed=%d early_bye=%d streams=%d packets=%d lost=%d loss_pct=%.3f dups=%d "+
		"jitter_p50_ms=%.3f jitter_p99_ms=%.3f jitter_max_ms=%.3f rfc3550_jitter_ms=%.3f "+
		"setup_p50_ms=%.1f setup_p99_ms=%.1f first_rtp_p50_ms=%.1f first_rtp_p99_ms=%.1f\n",
		c.calls, failed, early, sum.Streams, sum.Packets, sum.Lost, lossPct, sum.Dups,
		sum.P50, sum.P99, sum.Max, sum.MeanRFC3550Jitter,
		percentile(setups, 50)*1000, percentile(setups, 99)*1000, percentile(firsts, 50)*1000, percentile(firsts, 99)*1000)
	if failed > 0 || sum.Streams < c.calls {
		return 1
	}
	return 0
}

// probeCall places one call, receives RTP for c.hold and hangs up.
func probeCall(ctx context.Context, c config, dialogs *sipgo.DialogClientCache, i int) callResult {
	var res callResult
	conn, err := listenRTP()
	if err != nil {
		res.err = err
		return res
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port

	host, p, err := net.SplitHostPort(c.target)
	if err != nil {
		res.err = fmt.Errorf("parse target: %w", err)
		return res
	}
	tport, _ := strconv.Atoi(p)
	caller := c.from + fmt.Sprintf("%04d", i)
	recipient := sip.Uri{User: "queue", Host: host, Port: tport}
	offer := fmt.Sprintf("v=0\r\no=rtpprobe %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n", time.Now().UnixNano(), port)

	from := &sip.FromHeader{Address: sip.Uri{User: caller, Host: "127.0.0.1"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	hdrs := []sip.Header{
		from,
		sip.NewHeader("Content-Type", "application/sdp"),
		sip.NewHeader("X-Queue", "rtpprobe"),
		sip.NewHeader("X-Wait-Estimate", "600"),
	}
	start := time.Now()
	d, err := dialogs.Invite(ctx, recipient, []byte(offer), hdrs...)
	if err != nil {
		res.err = fmt.Errorf("send invite: %w", err)
		return res
	}
	defer d.Close()
	actx, acancel := context.WithTimeout(ctx, c.timeout)
	err = d.WaitAnswer(actx, sipgo.AnswerOptions{})
	acancel()
	if err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			if h := de.Res.GetHeader("X-Deflect-Result"); h != nil {
				err = fmt.Errorf("%w (X-Deflect-Result: %s)", err, h.Value())
			}
		}
		res.err = fmt.Errorf("wait answer: %w", err)
		return res
	}
	answered := time.Now()
	res.setup = answered.Sub(start)
	if err := d.Ack(ctx); err != nil {
		res.err = fmt.Errorf("send ack: %w", err)
		return res
	}
	clock, err := answerClock(d.InviteResponse.Body())
	if err != nil {
		res.err = err
		_ = d.Bye(ctx)
		return res
	}

	s := newStream(clock)
	res.s = s
	deadline := answered.Add(c.hold)
	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	var h rtp.Header
	for {
		if d.Context().Err() != nil {
			res.earlyBye = true
			res.err = errors.New("gateway hung up during the hold")
			return res
		}
		_ = conn.SetReadDeadline(minTime(deadline, time.Now().Add(200*time.Millisecond)))
		n, at, err := readRTP(conn, buf, oob)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Now().Before(deadline) {
					continue
				}
				break
			}
			res.err = fmt.Errorf("read rtp: %w", err)
			return res
		}
		if _, err := h.Unmarshal(buf[:n]); err != nil || h.PayloadType > 8 {
			continue // not audio (e.g. telephone-event or comfort noise)
		}
		if s.packets == 0 {
			res.firstRTP = at.Sub(answered)
		}
		s.add(&h, at)
	}
	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	defer bcancel()
	if err := d.Bye(bctx); err != nil {
		res.err = fmt.Errorf("send bye: %w", err)
	}
	if s.packets == 0 && res.err == nil {
		res.err = errors.New("no RTP received")
	}
	return res
}

// answerClock checks the SDP answer has an audio stream and returns its clock rate.
func answerClock(body []byte) (float64, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return 0, fmt.Errorf("parse sdp answer: %w", err)
	}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value > 0 {
			return 8000, nil // G.711 and telephone-event are 8 kHz
		}
	}
	return 0, errors.New("sdp answer has no audio stream")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
