package lookup

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the presence chain's Prometheus series. They exist (and count) even when no
// Registerer is given, so code paths never check for nil.
type metrics struct {
	lookups        *prometheus.CounterVec   // source, result
	lookupSeconds  prometheus.Histogram     // whole Status call
	cache          *prometheus.CounterVec   // result: hit|miss (learned/cached facts in the store)
	sourceErrors   *prometheus.CounterVec   // source, reason
	checkerSeconds *prometheus.HistogramVec // outcome
	checkerErrors  *prometheus.CounterVec   // reason
	breakerState   prometheus.Gauge
	learned        *prometheus.CounterVec // status, prior: how good earlier answers were
	imported       *prometheus.CounterVec // result: stored|invalid
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	fast := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	m := &metrics{
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_lookups_total",
			Help: "Presence lookups by the source that answered (store, static, checker, none) and the result (yes, no, unknown).",
		}, []string{"source", "result"}),
		lookupSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "deflectd_presence_lookup_duration_seconds",
			Help:    "Time of a whole presence lookup (all sources, inside the budget).",
			Buckets: fast,
		}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_cache_total",
			Help: "Reads of stored presence facts (learned, imported, cached checker answers): hit or miss. Hit ratio = hit / (hit + miss).",
		}, []string{"result"}),
		sourceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_source_errors_total",
			Help: "Presence sources that failed or ran out of time (answer treated as unknown).",
		}, []string{"source", "reason"}),
		checkerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "deflectd_presence_checker_duration_seconds",
			Help:    "External HTTP presence checker latency by outcome (yes, no, not_found, not_found_cached: a remembered 404 not asked again, error, timeout, breaker_open).",
			Buckets: fast,
		}, []string{"outcome"}),
		checkerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_checker_errors_total",
			Help: "External HTTP presence checker errors by reason (timeout, transport, status, decode, breaker_open).",
		}, []string{"reason"}),
		breakerState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deflectd_presence_checker_breaker_state",
			Help: "Circuit breaker around the HTTP checker: 0 closed, 1 half-open, 2 open.",
		}),
		learned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_learned_total",
			Help: "Facts learned from WhatsApp outcomes (status yes|no) by what was known before (prior yes|no|unknown): prior=status means the earlier answer was right.",
		}, []string{"status", "prior"}),
		imported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_imported_total",
			Help: "Rows of presence imports by result (stored, invalid).",
		}, []string{"result"}),
	}
	// Every series whose labels are known exists from the start (at zero), so a dashboard reads
	// "none yet" rather than "no data", and rates are defined before the first event.
	for _, src := range []string{"store", "static", "checker", "none"} {
		for _, st := range []string{Yes.String(), No.String(), Unknown.String()} {
			m.lookups.WithLabelValues(src, st)
		}
	}
	for _, r := range []string{"hit", "miss"} {
		m.cache.WithLabelValues(r)
	}
	for _, st := range []string{Yes.String(), No.String()} {
		for _, prior := range []string{Yes.String(), No.String(), Unknown.String()} {
			m.learned.WithLabelValues(st, prior)
		}
	}
	for _, o := range []string{"yes", "no", "not_found", "not_found_cached", "error", "timeout", "breaker_open"} {
		m.checkerSeconds.WithLabelValues(o)
	}
	for _, r := range []string{"transport", "status", "decode", "timeout", "breaker_open"} {
		m.checkerErrors.WithLabelValues(r)
	}
	for _, r := range []string{"stored", "invalid"} {
		m.imported.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.lookups, m.lookupSeconds, m.cache, m.sourceErrors,
		m.checkerSeconds, m.checkerErrors, m.breakerState, m.learned, m.imported} {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("register presence metrics: %w", err)
	}
	return m, nil
}
