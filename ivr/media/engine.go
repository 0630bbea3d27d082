package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ptime is the packetisation interval: every stream sends one 160-byte G.711 frame per Ptime.
const Ptime = 20 * time.Millisecond

// EngineConfig configures the media engine.
type EngineConfig struct {
	// PortMin..PortMax is the RTP port pool (rtp.port_min/port_max); only even ports are used,
	// as RTP convention leaves the odd one to RTCP. Both 0: the OS picks a port (tests).
	PortMin, PortMax int
	// BindIP is the address RTP sockets bind to; the zero Addr binds all addresses.
	BindIP netip.Addr
	// Schedulers is the number of pacing goroutines; 0 = GOMAXPROCS.
	Schedulers int
}

// Engine owns the port pool and the pacing schedulers; Streams are its calls' media.
type Engine struct {
	cfg     EngineConfig
	prompts *Prompts
	log     *slog.Logger
	m       *metrics
	pool    *portPool
	scheds  []*scheduler
	recvs   []*receiver   // recvs[i] reads the streams scheds[i] sends
	closed  chan struct{} // shared, already closed: Play of an unknown prompt returns it

	mu      sync.Mutex
	streams map[*Stream]struct{}
	done    bool
}

// NewEngine starts the schedulers. reg may be nil (no metrics exported).
func NewEngine(cfg EngineConfig, prompts *Prompts, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if prompts == nil {
		return nil, errors.New("new media engine: prompts are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool, err := newPortPool(cfg.PortMin, cfg.PortMax)
	if err != nil {
		return nil, fmt.Errorf("new media engine: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new media engine: %w", err)
	}
	n := cfg.Schedulers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	e := &Engine{cfg: cfg, prompts: prompts, log: log.With("component", "media"), m: m, pool: pool,
		closed: make(chan struct{}), streams: map[*Stream]struct{}{}}
	close(e.closed)
	for range n {
		r, err := newReceiver()
		if err != nil {
			e.stopWorkers()
			return nil, fmt.Errorf("new media engine: %w", err)
		}
		s := newScheduler(m)
		e.scheds, e.recvs = append(e.scheds, s), append(e.recvs, r)
		go s.run()
	}
	return e, nil
}

// Open binds a UDP port from the pool for a new call. ErrNoPorts when the pool is exhausted.
func (e *Engine) Open() (*Stream, error) {
	e.mu.Lock()
	done := e.done
	e.mu.Unlock()
	if done {
		return nil, errors.New("open rtp stream: engine closed")
	}
	conn, port, err := e.pool.bind(e.cfg.BindIP)
	if err != nil {
		if errors.Is(err, ErrNoPorts) {
			e.m.portsExhausted.Inc()
		}
		return nil, fmt.Errorf("open rtp stream: %w", err)
	}
	s := newStream(e, conn, port)
	e.mu.Lock()
	e.streams[s] = struct{}{}
	e.mu.Unlock()
	e.m.streams.Inc()
	return s, nil
}

// Close stops the schedulers and closes every open stream.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		return nil
	}
	e.done = true
	open := make([]*Stream, 0, len(e.streams))
	for s := range e.streams {
		open = append(open, s)
	}
	e.mu.Unlock()
	for _, s := range open {
		s.Close()
	}
	e.stopWorkers()
	return nil
}

func (e *Engine) stopWorkers() {
	for _, s := range e.scheds {
		s.stop()
	}
	for _, r := range e.recvs {
		r.stop()
	}
}

func (e *Engine) forget(s *Stream) {
	e.mu.Lock()
	delete(e.streams, s)
	e.mu.Unlock()
	e.m.streams.Dec()
}

// pick chooses the least loaded scheduler, so streams spread evenly over the cores, and the
// receiver paired with it.
func (e *Engine) pick() (*scheduler, *receiver) {
	best := 0
	for i, s := range e.scheds {
		if s.load() < e.scheds[best].load() {
			best = i
		}
	}
	return e.scheds[best], e.recvs[best]
}

// portPool hands out even ports first-in first-out, so a just-freed port is reused last and
// stray packets of an ended call rarely reach the next one.
type portPool struct {
	mu        sync.Mutex
	free      []int
	ephemeral bool
}

func newPortPool(min, max int) (*portPool, error) {
	if min == 0 && max == 0 {
		return &portPool{ephemeral: true}, nil
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("bad rtp port range %d..%d", min, max)
	}
	p := &portPool{}
	for port := min + min%2; port <= max; port += 2 {
		p.free = append(p.free, port)
	}
	if len(p.free) == 0 {
		return nil, fmt.Errorf("rtp port range %d..%d has no even port", min, max)
	}
	return p, nil
}

// bind takes ports from the pool until one binds; ports busy elsewhere go back to the end.
func (p *portPool) bind(ip netip.Addr) (*rtpSocket, int, error) {
	if p.ephemeral {
		c, port, err := listenRTP(ip, 0)
		if err != nil {
			return nil, 0, fmt.Errorf("bind rtp port: %w", err)
		}
		return c, port, nil
	}
	p.mu.Lock()
	tries := len(p.free)
	p.mu.Unlock()
	var lastErr error
	for range tries {
		p.mu.Lock()
		if len(p.free) == 0 {
			p.mu.Unlock()
			break
		}
		port := p.free[0]
		p.free = p.free[1:]
		p.mu.Unlock()
		c, _, err := listenRTP(ip, port)
		if err == nil {
			return c, port, nil
		}
		p.release(port)
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EACCES) {
			// Out of file descriptors, a bad BindIP…: no other port will do better.
			return nil, 0, fmt.Errorf("bind rtp port: %w", err)
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w (last bind error: %v)", ErrNoPorts, lastErr)
	}
	return nil, 0, ErrNoPorts
}

func (p *portPool) release(port int) {
	if p.ephemeral {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, port)
	p.mu.Unlock()
}

type metrics struct {
	streams         prometheus.Gauge
	packetsSent     prometheus.Counter
	packetsReceived prometheus.Counter
	sendErrors      prometheus.Counter
	portsExhausted  prometheus.Counter
	dtmfDigits      prometheus.Counter
	dtmfDropped     prometheus.Counter
	remoteSwitches  prometheus.Counter
	tickLag         prometheus.Histogram
	skipped         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "rtp", Name: name, Help: help})
	}
	m := &metrics{
		streams: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "rtp",
			Name: "streams", Help: "Open RTP streams (calls holding a port)."}),
		packetsSent:     c("packets_sent_total", "RTP packets sent."),
		packetsReceived: c("packets_received_total", "RTP packets received."),
		sendErrors:      c("send_errors_total", "RTP packets the socket refused."),
		portsExhausted:  c("ports_exhausted_total", "Stream opens refused because the port pool was empty."),
		dtmfDigits:      c("dtmf_digits_total", "RFC 4733 key presses decoded."),
		dtmfDropped:     c("dtmf_dropped_total", "Key presses dropped because nobody read them."),
		remoteSwitches:  c("remote_switches_total", "Symmetric RTP: sends redirected to where the peer's RTP comes from."),
		skipped:         c("scheduler_skipped_periods_total", "20 ms periods a stalled scheduler skipped instead of bursting (per scheduler, not per stream)."),
		tickLag: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "deflectd", Subsystem: "rtp",
			Name: "scheduler_lag_seconds", Help: "How late a pacing tick started after its deadline.",
			Buckets: []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1}}),
	}
	if reg == nil {
		return m, nil
	}
	for _, col := range []prometheus.Collector{m.streams, m.packetsSent, m.packetsReceived, m.sendErrors,
		m.portsExhausted, m.dtmfDigits, m.dtmfDropped, m.remoteSwitches, m.tickLag, m.skipped} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("register rtp metrics: %w", err)
		}
	}
	return m, nil
}
