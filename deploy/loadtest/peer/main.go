// Command peer is a minimal IVR on emiago/diago, written the way a new diago user would, used as
// the comparison peer in deflectd's load tests (deploy/loadtest/run.sh). It answers every INVITE,
// loops the offer prompt, reads RFC 4733 DTMF with a small decoder of its own, and on 1 or 2 plays
// a short prompt and hangs up with a BYE carrying X-Deflect-Result. It is its own Go module so the
// product never builds or imports it.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // only served with -pprof
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

type prompts struct {
	offer, accepted, declined []byte // whole WAV files (8 kHz mono 16-bit)
}

type stats struct {
	calls, deflected, declined, failed atomic.Int64
}

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:5070", "SIP udp listen host:port")
	offer := flag.String("offer", "", "offer prompt WAV (8 kHz mono s16), looped")
	accepted := flag.String("accepted", "", "prompt played after 1 (default: the offer prompt's first second)")
	declined := flag.String("declined", "", "prompt played after 2 (default: as -accepted)")
	rtpMin := flag.Int("rtp-min", 20000, "first RTP port")
	rtpMax := flag.Int("rtp-max", 39999, "last RTP port")
	maxCall := flag.Duration("max-call", 2*time.Minute, "hang up calls older than this")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback host:port")
	logLevel := flag.String("log-level", "warn", "debug|info|warn|error")
	flag.Parse()

	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "peer: bad -log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})).With("component", "peer")
	slog.SetDefault(log)

	p, err := loadPrompts(*offer, *accepted, *declined)
	if err != nil {
		log.Error("load prompts", "error", err)
		return 1
	}
	host, port, err := splitHostPort(*listen)
	if err != nil {
		log.Error("parse listen", "error", err)
		return 2
	}
	media.RTPPortStart, media.RTPPortEnd = *rtpMin, *rtpMax

	if *pprofAddr != "" {
		go func() { log.Warn("pprof stopped", "error", http.ListenAndServe(*pprofAddr, nil)) }()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ua, err := sipgo.NewUA(sipgo.WithUserAgent("diago-peer"))
	if err != nil {
		log.Error("create user agent", "error", err)
		return 1
	}
	dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: host, BindPort: port}))

	var st stats
	log.Warn("peer listening", "listen", *listen)
	err = dg.Serve(ctx, func(d *diago.DialogServerSession) {
		st.calls.Add(1)
		serveCall(d, p, *maxCall, &st, log)
	})
	log.Warn("peer stopped", "calls", st.calls.Load(), "deflected", st.deflected.Load(),
		"declined", st.declined.Load(), "failed", st.failed.Load())
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("serve", "error", err)
		return 1
	}
	return 0
}

// serveCall runs one call: answer, loop the offer, wait for 1/2 or the caller's BYE.
func serveCall(d *diago.DialogServerSession, p *prompts, maxCall time.Duration, st *stats, log *slog.Logger) {
	log = log.With("call_id", d.InviteRequest.CallID().Value())
	med, err := d.Answer(diago.AnswerOptions{})
	if err != nil {
		st.failed.Add(1)
		log.Warn("answer", "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(d.Context(), maxCall)
	defer cancel()

	pb, err := med.PlaybackControlCreate()
	if err != nil {
		st.failed.Add(1)
		log.Warn("create playback", "error", err)
		return
	}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stopped.Load() && ctx.Err() == nil {
			if _, err := pb.Play(bytes.NewReader(p.offer), "audio/wav"); err != nil {
				return // media closed: the caller hung up
			}
		}
	}()
	stopPlayback := func() {
		stopped.Store(true)
		pb.Stop()
		wg.Wait()
	}

	digits := make(chan rune, 1)
	go readDTMF(med, digits)

	var digit rune
	select {
	case <-ctx.Done():
		stopPlayback()
		return // caller hung up (or max-call): diago's serve wrapper hangs up if needed
	case digit = <-digits:
	}
	stopPlayback()

	result, prompt := "deflected", p.accepted
	if digit == '2' {
		result, prompt = "declined", p.declined
	}
	if short, err := med.PlaybackCreate(); err == nil {
		_, _ = short.Play(bytes.NewReader(prompt), "audio/wav")
	}
	if err := byeWithResult(ctx, d, result); err != nil {
		st.failed.Add(1)
		log.Warn("send bye", "error", err)
		return
	}
	if result == "deflected" {
		st.deflected.Add(1)
	} else {
		st.declined.Add(1)
	}
}

// readDTMF reads the call's RTP until it ends and sends the first 1 or 2 on out. diago's stock
// DTMF reader ignores an event whose first packet has duration 0, hence our own decoder.
func readDTMF(med *diago.DialogMedia, out chan<- rune) {
	var te uint8 = 255
	for _, c := range med.MediaSession().CommonCodecs() {
		if c.Matches(media.CodecTelephoneEvent8000) {
			te = c.PayloadTypeRecv()
		}
	}
	r, err := med.AudioReader()
	if err != nil {
		return
	}
	var dec dtmfDecoder
	buf := make([]byte, media.RTPBufSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			return // io.EOF when the media session closes
		}
		hdr := med.RTPPacketReader.PacketHeader
		if hdr.PayloadType != te {
			continue
		}
		if d, ok := dec.push(hdr.Timestamp, buf[:n]); ok && (d == '1' || d == '2') {
			select {
			case out <- d:
			default:
			}
			// Keep reading so the socket is drained until the call ends.
		}
	}
}

// byeWithResult hangs up with X-Deflect-Result. diago's Hangup cannot add headers, so the BYE is
// built with sipgo and sent in the dialog (CSeq, tags, Route set filled by sipgo).
func byeWithResult(ctx context.Context, d *diago.DialogServerSession, result string) error {
	inv := d.InviteRequest
	bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
	bye.SetTransport(inv.Transport())
	bye.AppendHeader(sip.NewHeader("X-Deflect-Result", result))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return d.DialogServerSession.WriteBye(ctx, bye)
}

func loadPrompts(offer, accepted, declined string) (*prompts, error) {
	if offer == "" {
		return nil, errors.New("-offer is required")
	}
	read := func(path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read prompt: %w", err)
		}
		if err := checkWAV(b); err != nil {
			return nil, fmt.Errorf("check prompt %s: %w", path, err)
		}
		return b, nil
	}
	p := &prompts{}
	var err error
	if p.offer, err = read(offer); err != nil {
		return nil, err
	}
	p.accepted = p.offer
	if accepted != "" {
		if p.accepted, err = read(accepted); err != nil {
			return nil, err
		}
	}
	p.declined = p.accepted
	if declined != "" {
		if p.declined, err = read(declined); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// checkWAV verifies the canonical header fields diago's WAV player requires: PCM, 8 kHz, mono,
// 16-bit. (diago checks too, but only once a call is up.)
func checkWAV(b []byte) error {
	if len(b) < 44 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return errors.New("not a RIFF/WAVE file")
	}
	le16 := func(o int) int { return int(b[o]) | int(b[o+1])<<8 }
	le32 := func(o int) int { return le16(o) | le16(o+2)<<16 }
	if le16(22) != 1 || le32(24) != 8000 || le16(34) != 16 {
		return fmt.Errorf("want 8000 Hz mono 16-bit PCM, got channels=%d rate=%d bits=%d", le16(22), le32(24), le16(34))
	}
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("parse %q: %w", hp, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("parse port %q: %w", p, err)
	}
	return host, port, nil
}
