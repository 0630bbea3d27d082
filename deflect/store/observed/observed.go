// Package observed decorates a store.Store with Prometheus metrics (latency and errors per
// operation) and a circuit breaker: after a run of backend failures (store.ErrUnavailable) every
// call fails at once with store.ErrUnavailable, without a round trip to Redis, until a cool-down
// has passed and a probe call succeeds. Callers already treat ErrUnavailable as "not now" (the
// engine answers 503 at INVITE and ends calls in progress with reason=store-unavailable), so
// they need no change to get fail-fast behaviour while Redis is down.
package observed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/deflectd/deflectd/deflect/store"
)

// Options tunes the breaker; zero values take the defaults.
type Options struct {
	// Failures is how many consecutive ErrUnavailable results open the breaker (default 5).
	Failures int
	// Cooldown is how long the breaker stays open before letting one probe through (default 5 s).
	Cooldown time.Duration
	Logger   *slog.Logger
}

// Error kinds in deflectd_store_errors_total. Only unavailable counts against the breaker:
// conflict and other mean the backend answered. A not-found is an answer, not an error (every
// first-time caller has no opt-out record): it is counted in deflectd_store_not_found_total.
const (
	KindUnavailable = "unavailable"
	KindConflict    = "conflict"
	KindOther       = "other"
	KindBreakerOpen = "breaker_open" // rejected by the open breaker, no round trip
)

// BreakerStateHelp is the help text of deflectd_breaker_state. Every breaker in the process
// registers its own gauge under that name with a const label breaker=<name>; the registry only
// accepts that when the help texts are identical, so other packages use this constant.
const BreakerStateHelp = "Circuit breaker state by breaker: 0 closed, 1 half-open, 2 open."

// NewBreakerStateGauge returns deflectd_breaker_state{breaker=name}, registered with reg when
// reg is non-nil. gobreaker's State values are the gauge values (closed 0, half-open 1, open 2).
func NewBreakerStateGauge(reg prometheus.Registerer, name string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "deflectd", Name: "breaker_state", Help: BreakerStateHelp,
		ConstLabels: prometheus.Labels{"breaker": name},
	})
	if reg != nil {
		reg.MustRegister(g)
	}
	return g
}

// Observed is the decorated store.
type Observed struct {
	s       store.Store
	name    string
	cb      *gobreaker.CircuitBreaker[struct{}]
	seconds *prometheus.HistogramVec
	errs    *prometheus.CounterVec
	misses  *prometheus.CounterVec
	state   prometheus.Gauge
	log     *slog.Logger
	// latency is each operation's histogram child, resolved once: WithLabelValues on every
	// call would hash the label and take a lock for nothing.
	latency map[string]prometheus.Observer
}

var _ store.Store = (*Observed)(nil)

// errBackend and errIgnored are what the breaker sees instead of the real error: a failure of
// the backend, or a result that must not count either way (the caller gave up).
var (
	errBackend = errors.New("backend unavailable")
	errIgnored = errors.New("caller cancelled")
)

// Wrap decorates s. name labels the breaker gauge (deflectd_breaker_state{breaker=name}) and the
// log lines. Metrics are registered with reg when it is non-nil.
func Wrap(s store.Store, name string, reg prometheus.Registerer, o Options) *Observed {
	if o.Failures <= 0 {
		o.Failures = 5
	}
	if o.Cooldown <= 0 {
		o.Cooldown = 5 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Observed{
		s:    s,
		name: name,
		log:  log.With("component", "store", "breaker", name),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "deflectd", Subsystem: "store", Name: "operation_seconds",
			Help:    "Store call latency by operation (blocking stream reads and calls rejected by the breaker are not observed).",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1},
		}, []string{"op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "store", Name: "errors_total",
			Help: "Store call errors by operation and kind (unavailable, conflict, other, breaker_open).",
		}, []string{"op", "kind"}),
		misses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "store", Name: "not_found_total",
			Help: "Store reads that found nothing, by operation (an answer, not an error).",
		}, []string{"op"}),
		state: NewBreakerStateGauge(nil, name),
	}
	failures := uint32(o.Failures)
	w.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     o.Cooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errIgnored) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			w.state.Set(float64(to))
			w.log.Warn("store circuit breaker changed state", "from", from.String(), "to", to.String())
		},
	})
	// The op label values, one per store method.
	ops := []string{
		"create_session", "get_session", "update_session", "find_session_by_message", "list_sessions",
		"set_once", "record_offer", "offers_since", "set_opt", "get_opt",
		"set_presence", "get_presence", "delete_presence", "take", "publish", "subscribe",
		"stream_add", "stream_add_batch", "stream_read", "stream_ack", "stream_claim",
		"put_doc", "get_doc", "delete_doc", "list_docs", "incr_counters", "get_counters", "ping",
	}
	w.latency = make(map[string]prometheus.Observer, len(ops))
	for _, op := range ops {
		w.latency[op] = w.seconds.WithLabelValues(op)
		// The error series exist from the start (at zero), so a dashboard's error-rate panel
		// and an alert on it have a series to read before the first failure.
		w.errs.WithLabelValues(op, KindUnavailable)
	}
	if reg != nil {
		reg.MustRegister(w.seconds, w.errs, w.misses, w.state)
	}
	return w
}

// Unwrap returns the decorated store.
func (w *Observed) Unwrap() store.Store { return w.s }

// Open reports whether the breaker is open (calls fail at once). Half-open counts as not open:
// a probe may go through.
func (w *Observed) Open() bool { return w.cb.State() == gobreaker.StateOpen }

// State is the breaker's state: "closed", "half-open" or "open".
func (w *Observed) State() string { return w.cb.State().String() }

// do runs one store call through the breaker and the metrics. observe=false skips the latency
// histogram (blocking reads, whose duration is mostly waiting). skip tells errors that are not
// the store's (UpdateSession's fn aborting) so they are neither counted nor held against Redis.
func (w *Observed) do(ctx context.Context, op string, observe bool, call func() error, skip func(error) bool) error {
	var err error
	start := time.Now()
	_, berr := w.cb.Execute(func() (struct{}, error) {
		err = call()
		switch {
		case err == nil, skip != nil && skip(err):
			return struct{}{}, nil
		case ctx.Err() != nil:
			return struct{}{}, errIgnored
		case errors.Is(err, store.ErrUnavailable):
			return struct{}{}, errBackend
		}
		return struct{}{}, nil // the backend answered: not found, conflict, bad input
	})
	if errors.Is(berr, gobreaker.ErrOpenState) || errors.Is(berr, gobreaker.ErrTooManyRequests) {
		w.errs.WithLabelValues(op, KindBreakerOpen).Inc()
		return fmt.Errorf("%s %s: %w: circuit breaker %s", w.name, op, store.ErrUnavailable, w.cb.State())
	}
	if observe {
		w.latency[op].Observe(time.Since(start).Seconds())
	}
	switch {
	case err == nil || (skip != nil && skip(err)):
	case errors.Is(err, store.ErrNotFound):
		w.misses.WithLabelValues(op).Inc()
	default:
		w.errs.WithLabelValues(op, kind(err)).Inc()
	}
	return err
}

func kind(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return KindUnavailable
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrExists):
		return KindConflict
	}
	return KindOther
}

// Sessions.

func (w *Observed) CreateSession(ctx context.Context, s *store.Session) error {
	return w.do(ctx, "create_session", true, func() error { return w.s.CreateSession(ctx, s) }, nil)
}

func (w *Observed) GetSession(ctx context.Context, id string) (out *store.Session, err error) {
	err = w.do(ctx, "get_session", true, func() error { out, err = w.s.GetSession(ctx, id); return err }, nil)
	return out, err
}

func (w *Observed) UpdateSession(ctx context.Context, id string, fn func(*store.Session) error) (out *store.Session, err error) {
	// fn's own error aborts the update: that is the caller's decision, not a store failure.
	var fnErr error
	wrapped := func(s *store.Session) error { fnErr = fn(s); return fnErr }
	skip := func(err error) bool { return fnErr != nil && errors.Is(err, fnErr) }
	err = w.do(ctx, "update_session", true, func() error { out, err = w.s.UpdateSession(ctx, id, wrapped); return err }, skip)
	return out, err
}

func (w *Observed) FindSessionByMessage(ctx context.Context, msgID string) (out *store.Session, err error) {
	err = w.do(ctx, "find_session_by_message", true, func() error { out, err = w.s.FindSessionByMessage(ctx, msgID); return err }, nil)
	return out, err
}

func (w *Observed) ListSessions(ctx context.Context, f store.SessionFilter) (out []*store.Session, err error) {
	err = w.do(ctx, "list_sessions", true, func() error { out, err = w.s.ListSessions(ctx, f); return err }, nil)
	return out, err
}

// Once.

func (w *Observed) SetOnce(ctx context.Context, key string, ttl time.Duration) (first bool, err error) {
	err = w.do(ctx, "set_once", true, func() error { first, err = w.s.SetOnce(ctx, key, ttl); return err }, nil)
	return first, err
}

// Offers.

func (w *Observed) RecordOffer(ctx context.Context, e164 string, at time.Time, keep time.Duration) error {
	return w.do(ctx, "record_offer", true, func() error { return w.s.RecordOffer(ctx, e164, at, keep) }, nil)
}

func (w *Observed) OffersSince(ctx context.Context, e164 string, since time.Time) (out []time.Time, err error) {
	err = w.do(ctx, "offers_since", true, func() error { out, err = w.s.OffersSince(ctx, e164, since); return err }, nil)
	return out, err
}

// OptOuts.

func (w *Observed) SetOpt(ctx context.Context, r store.OptRecord) error {
	return w.do(ctx, "set_opt", true, func() error { return w.s.SetOpt(ctx, r) }, nil)
}

func (w *Observed) GetOpt(ctx context.Context, e164 string) (out store.OptRecord, err error) {
	err = w.do(ctx, "get_opt", true, func() error { out, err = w.s.GetOpt(ctx, e164); return err }, nil)
	return out, err
}

// PresenceFacts.

func (w *Observed) SetPresence(ctx context.Context, f store.PresenceFact) error {
	return w.do(ctx, "set_presence", true, func() error { return w.s.SetPresence(ctx, f) }, nil)
}

func (w *Observed) GetPresence(ctx context.Context, e164 string) (out store.PresenceFact, err error) {
	err = w.do(ctx, "get_presence", true, func() error { out, err = w.s.GetPresence(ctx, e164); return err }, nil)
	return out, err
}

func (w *Observed) DeletePresence(ctx context.Context, e164 string) error {
	return w.do(ctx, "delete_presence", true, func() error { return w.s.DeletePresence(ctx, e164) }, nil)
}

// Limiter.

func (w *Observed) Take(ctx context.Context, key string, rate float64, burst int) (ok bool, wait time.Duration, err error) {
	err = w.do(ctx, "take", true, func() error { ok, wait, err = w.s.Take(ctx, key, rate, burst); return err }, nil)
	return ok, wait, err
}

// Events.

func (w *Observed) Publish(ctx context.Context, channel string, payload []byte) error {
	return w.do(ctx, "publish", true, func() error { return w.s.Publish(ctx, channel, payload) }, nil)
}

// Subscribe is observed up to the subscription being set up; what happens to the channel
// afterwards (it closes when the backend goes away) is the subscriber's to handle.
func (w *Observed) Subscribe(ctx context.Context, channel string) (out <-chan []byte, err error) {
	err = w.do(ctx, "subscribe", true, func() error { out, err = w.s.Subscribe(ctx, channel); return err }, nil)
	return out, err
}

// Streams.

func (w *Observed) StreamAdd(ctx context.Context, stream string, payload []byte) (id string, err error) {
	err = w.do(ctx, "stream_add", true, func() error { id, err = w.s.StreamAdd(ctx, stream, payload); return err }, nil)
	return id, err
}

// StreamRead with block > 0 mostly waits, so its duration is not observed. While the breaker is
// half-open it does not wait: a probe that blocked for seconds would hold every other call back
// (half-open lets one call through at a time), and "waiting up to block" allows returning early.
func (w *Observed) StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) (out []store.StreamMessage, err error) {
	if block > 0 && w.cb.State() == gobreaker.StateHalfOpen {
		block = 0
	}
	err = w.do(ctx, "stream_read", block <= 0, func() error {
		out, err = w.s.StreamRead(ctx, stream, group, consumer, count, block)
		return err
	}, nil)
	return out, err
}

func (w *Observed) StreamAck(ctx context.Context, stream, group string, ids ...string) error {
	return w.do(ctx, "stream_ack", true, func() error { return w.s.StreamAck(ctx, stream, group, ids...) }, nil)
}

func (w *Observed) StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) (out []store.StreamMessage, err error) {
	err = w.do(ctx, "stream_claim", true, func() error {
		out, err = w.s.StreamClaim(ctx, stream, group, consumer, minIdle, count)
		return err
	}, nil)
	return out, err
}

// Docs.

func (w *Observed) PutDoc(ctx context.Context, coll, id string, data []byte, version int64, ttl time.Duration) (v int64, err error) {
	err = w.do(ctx, "put_doc", true, func() error { v, err = w.s.PutDoc(ctx, coll, id, data, version, ttl); return err }, nil)
	return v, err
}

func (w *Observed) GetDoc(ctx context.Context, coll, id string) (d store.Doc, err error) {
	err = w.do(ctx, "get_doc", true, func() error { d, err = w.s.GetDoc(ctx, coll, id); return err }, nil)
	return d, err
}

func (w *Observed) DeleteDoc(ctx context.Context, coll, id string) error {
	return w.do(ctx, "delete_doc", true, func() error { return w.s.DeleteDoc(ctx, coll, id) }, nil)
}

func (w *Observed) ListDocs(ctx context.Context, coll string) (out []store.Doc, err error) {
	err = w.do(ctx, "list_docs", true, func() error { out, err = w.s.ListDocs(ctx, coll); return err }, nil)
	return out, err
}

// Ping goes through the breaker like any call: /readyz then reports an open breaker at once.
func (w *Observed) Ping(ctx context.Context) error {
	return w.do(ctx, "ping", true, func() error { return w.s.Ping(ctx) }, nil)
}

// Close closes the decorated store; it is not a backend call worth a breaker.
func (w *Observed) Close() error { return w.s.Close() }

func (w *Observed) IncrCounters(ctx context.Context, key string, deltas map[string]int64, ttl time.Duration) error {
	return w.do(ctx, "incr_counters", true, func() error { return w.s.IncrCounters(ctx, key, deltas, ttl) }, nil)
}

func (w *Observed) GetCounters(ctx context.Context, key string) (out map[string]int64, err error) {
	err = w.do(ctx, "get_counters", true, func() error { out, err = w.s.GetCounters(ctx, key); return err }, nil)
	return out, err
}

func (w *Observed) StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) (ids []string, err error) {
	err = w.do(ctx, "stream_add_batch", true, func() error { ids, err = w.s.StreamAddBatch(ctx, stream, payloads); return err }, nil)
	return ids, err
}
