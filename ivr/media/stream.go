package media

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// dtmfBuffer is how many key presses wait for the IVR before new ones are dropped.
const dtmfBuffer = 8

// readBuffer holds one received datagram. G.711 packets are 172 bytes; a longer datagram is
// truncated, which only loses audio we never listen to (headers and DTMF fit).
const readBuffer = 512

// Stats are a stream's counters.
type Stats struct {
	PacketsSent, BytesSent         uint64
	PacketsReceived, BytesReceived uint64
	DTMFDropped                    uint64
	Remote                         netip.AddrPort // where RTP goes now (after any symmetric switch)
	// LastReceived is when the peer's last RTP packet arrived (zero: none yet); the IVR can end
	// a call whose media stopped without a BYE.
	LastReceived time.Time
}

// Stream is one call's media: a UDP port, an RTP sender paced by a scheduler, a receiver
// decoding RFC 4733 key presses. Safe for concurrent use.
//
// While no prompt plays, the stream keeps sending G.711 silence frames: RTP flowing both ways
// keeps NAT bindings and SBC media timers alive, and lets symmetric RTP latch at the peer too.
type Stream struct {
	e    *Engine
	sch  *scheduler
	slot int // position in sch.wheel; guarded by sch.mu
	idx  int

	// What tick touches every 20 ms comes first and together, with the socket inline: at
	// thousands of streams a tick's cost is mostly cache misses.
	mu       sync.Mutex
	ci       codecIndex
	sends    bool
	marker   bool
	loop     bool  // repeat cur (hold tone)
	cur      *clip // playing; nil = silence
	pos      int   // byte offset into cur
	left     int   // frames left when looping; <0 = until stopped
	remote   netip.AddrPort
	hdr      rtp.Header
	sock     rtpSocket
	pktsSent atomic.Uint64
	buf      [12 + FrameSize]byte // outgoing packet; written only by the scheduler goroutine

	port    int
	started bool
	closed  bool
	params  Params
	done    chan struct{}

	dtmf chan rune
	wake func()      // SetWake; called on a digit and when a playback ends
	dec  DTMFDecoder // only the receiver touches it
	rcv  *receiver   // reads the socket (from Start on)

	pktsRecv, bytesRecv, dtmfDropped atomic.Uint64
	lastRecv                         atomic.Int64 // unix nanoseconds

	closeOnce sync.Once
}

func newStream(e *Engine, sock *rtpSocket, port int) *Stream {
	s := &Stream{e: e, sock: *sock, port: port, idx: -1, dtmf: make(chan rune, dtmfBuffer)}
	// Random SSRC, sequence and timestamp per stream (RFC 3550 §5.1).
	s.hdr = rtp.Header{Version: 2, SSRC: rand.Uint32(), SequenceNumber: uint16(rand.Uint32()), Timestamp: rand.Uint32()}
	return s
}

// LocalPort is the UDP port to put in SDP.
func (s *Stream) LocalPort() int { return s.port }

// Start begins sending to p.Remote (or, when it is unknown, to wherever the peer's RTP comes
// from) and receiving. Calling it again (re-INVITE) updates codec, DTMF payload type and remote.
func (s *Stream) Start(p Params) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.params = p
	s.ci = indexOf(p.Codec)
	s.hdr.PayloadType = p.Codec.PT
	s.sends = p.sends()
	if p.Remote.IsValid() && p.Remote.Port() != 0 {
		s.remote = netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())
	}
	first := !s.started
	s.started = true
	if first {
		s.sch, s.rcv = s.e.pick()
	}
	s.mu.Unlock()
	if first {
		s.sch.add(s)
		if err := s.rcv.add(s); err != nil {
			s.e.log.Warn("rtp stream receives nothing", "port", s.port, "error", err)
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed { // lost a race with Close: make sure the scheduler and receiver let go
			s.sch.remove(s)
			s.rcv.remove(s)
		}
	}
}

// SetWake registers f, called (from the engine's goroutines, so it must not block or call back
// into the stream) whenever a DTMF digit is queued or a playback's channel closes: a caller can
// then wait for media events without a goroutine of its own. Set it before Start.
func (s *Stream) SetWake(f func()) {
	s.mu.Lock()
	s.wake = f
	s.mu.Unlock()
}

// Play replaces the current playback with prompt name in lang (falling back to English when
// the language lacks it). The channel closes when the prompt finished or was stopped; for an
// unknown prompt it is closed already (and a warning logged). Playback advances from Start on,
// in real time, even while the peer's address is not known yet.
func (s *Stream) Play(lang, name string) <-chan struct{} {
	c := s.e.prompts.lookup(lang, name)
	if c == nil {
		c = s.e.prompts.lookup("en", name)
	}
	if c == nil {
		s.e.log.Warn("unknown prompt", "lang", lang, "prompt", name)
		s.StopPlayback()
		return s.e.closed
	}
	return s.play(c, false, 0)
}

// PlayTone plays the hold tone for d (d <= 0: until stopped or replaced).
func (s *Stream) PlayTone(d time.Duration) <-chan struct{} {
	left := -1
	if d > 0 {
		left = int((d + Ptime - 1) / Ptime)
	}
	return s.play(s.e.prompts.hold, true, left)
}

func (s *Stream) play(c *clip, loop bool, left int) <-chan struct{} {
	done := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
	if s.closed {
		close(done)
		return done
	}
	s.cur, s.pos, s.loop, s.left, s.done, s.marker = c, 0, loop, left, done, true
	return done
}

// StopPlayback stops the current prompt (its channel closes); silence follows.
func (s *Stream) StopPlayback() {
	s.mu.Lock()
	s.stopLocked()
	s.mu.Unlock()
}

func (s *Stream) stopLocked() {
	if s.done != nil {
		close(s.done)
		if s.wake != nil {
			s.wake()
		}
	}
	s.cur, s.done = nil, nil
}

// DTMF delivers key presses ('0'-'9', '*', '#', 'A'-'D') as soon as the first packet of an
// RFC 4733 event arrives. Buffered; presses nobody reads are dropped (counted in Stats). It is
// closed after Close.
func (s *Stream) DTMF() <-chan rune { return s.dtmf }

// Stats returns the stream's counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	remote := s.remote
	s.mu.Unlock()
	var last time.Time
	if ns := s.lastRecv.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	return Stats{LastReceived: last, PacketsSent: s.pktsSent.Load(), BytesSent: s.pktsSent.Load() * (12 + FrameSize), // every packet is a bare header and one frame
		PacketsReceived: s.pktsRecv.Load(), BytesReceived: s.bytesRecv.Load(),
		DTMFDropped: s.dtmfDropped.Load(), Remote: remote}
}

// Close stops sending and receiving and returns the port to the pool. Idempotent.
func (s *Stream) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.stopLocked()
		started := s.started
		s.mu.Unlock()
		if started {
			s.sch.remove(s) // after these two, neither the scheduler nor the receiver touches s
			s.rcv.remove(s)
		}
		_ = s.sock.close()
		close(s.dtmf)
		s.e.pool.release(s.port)
		s.e.forget(s)
	})
}

type tickResult uint8

const (
	tickIdle tickResult = iota
	tickSent
	tickError
)

// tick sends this stream's next 20 ms frame. Called by the scheduler with its lock held; the
// hot path: no allocation (the header marshals into s.buf, frames are slices of shared clips).
func (s *Stream) tick() tickResult {
	s.mu.Lock()
	payload := s.e.prompts.silence[s.ci][:]
	marker := false
	if c := s.cur; c != nil {
		enc := c.enc[s.ci]
		payload = enc[s.pos : s.pos+FrameSize]
		marker, s.marker = s.marker, false
		s.pos += FrameSize
		if s.loop && s.left > 0 {
			s.left--
		}
		switch {
		case s.loop && s.left == 0:
			s.stopLocked()
		case s.pos >= len(enc) && s.loop:
			s.pos = 0
		case s.pos >= len(enc):
			s.stopLocked()
		}
	}
	remote := s.remote
	if !s.sends || !remote.IsValid() {
		// Nothing to send to (yet): playback still advances so prompt timing stays predictable.
		s.mu.Unlock()
		return tickIdle
	}
	s.hdr.Marker = marker
	n, err := s.hdr.MarshalTo(s.buf[:])
	s.hdr.SequenceNumber++
	s.hdr.Timestamp += FrameSize
	s.mu.Unlock()
	if err != nil {
		return tickError
	}
	n += copy(s.buf[n:], payload)
	if err := s.sock.sendTo(s.buf[:n], remote); err != nil {
		return tickError
	}
	s.pktsSent.Add(1)
	return tickSent
}

// receive handles one datagram from the stream's socket; the receiver calls it (one goroutine
// for many streams), with h a header it reuses so parsing allocates nothing.
func (s *Stream) receive(h *rtp.Header, b []byte, from netip.AddrPort, now time.Time) {
	hl, err := h.Unmarshal(b)
	if err != nil || h.Version != 2 || (h.PayloadType >= 72 && h.PayloadType <= 76) {
		return // not RTP, or RTCP on the RTP port (rtcp-mux)
	}
	s.pktsRecv.Add(1)
	s.bytesRecv.Add(uint64(len(b)))
	s.lastRecv.Store(now.UnixNano())
	s.e.m.packetsReceived.Inc()
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())

	s.mu.Lock()
	p := s.params
	known := h.PayloadType == p.Codec.PT || (p.DTMFPT != 0 && h.PayloadType == p.DTMFPT) || h.PayloadType == 13
	switched := known && s.remote != from
	if switched {
		s.remote = from // symmetric RTP: answer where the caller's media really comes from
	}
	s.mu.Unlock()
	if switched {
		s.e.m.remoteSwitches.Inc()
		s.e.log.Debug("rtp remote switched", "port", s.port, "remote", from.String())
	}

	if p.DTMFPT == 0 || h.PayloadType != p.DTMFPT {
		return
	}
	payload := b[hl:]
	if h.Padding && len(payload) > 0 {
		if pad := int(payload[len(payload)-1]); pad <= len(payload) {
			payload = payload[:len(payload)-pad]
		}
	}
	if r, ok := s.dec.Decode(h.SSRC, h.Timestamp, payload, now); ok {
		s.e.m.dtmfDigits.Inc()
		select {
		case s.dtmf <- r:
			s.mu.Lock()
			wake := s.wake
			s.mu.Unlock()
			if wake != nil {
				wake()
			}
		default:
			s.dtmfDropped.Add(1)
			s.e.m.dtmfDropped.Inc()
		}
	}
}
