package whatsapp

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// clientMetrics are the Client's Prometheus collectors.
type clientMetrics struct {
	requests       *prometheus.CounterVec   // op, result (ok | Meta code | http_NNN | transport)
	latency        *prometheus.HistogramVec // op
	retries        *prometheus.CounterVec   // op
	configAlarms   *prometheus.CounterVec   // code
	errors         *prometheus.CounterVec   // code: one of the codes table's, or "other" (bounded)
	limiterWaits   *prometheus.CounterVec   // bucket
	limiterWait    *prometheus.HistogramVec // bucket
	limiterRejects *prometheus.CounterVec   // bucket
	limiterErrors  *prometheus.CounterVec   // bucket
}

func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	const ns, sub = "deflectd", "whatsapp"
	m := &clientMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "api_requests_total", Help: "Graph API requests by operation and result (ok, Meta error code, http_NNN, transport)."},
			[]string{"op", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "api_request_duration_seconds", Help: "Graph API request latency per attempt.",
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2, 5, 10}}, []string{"op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "api_retries_total", Help: "Graph API requests sent again after a retryable failure."}, []string{"op"}),
		configAlarms: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "config_alarms_total", Help: "Graph API errors that mean our configuration is wrong (token, template, parameters)."},
			[]string{"code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "errors_total", Help: "Graph API error answers by Meta error code (codes deflectd knows; the rest as other)."},
			[]string{"code"}),
		limiterWaits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "limiter_waits_total", Help: "Sends that had to wait for a rate-limit token."}, []string{"bucket"}),
		limiterWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub,
			Name: "limiter_wait_seconds", Help: "Time spent waiting for rate-limit tokens.",
			Buckets: []float64{.001, .01, .05, .1, .5, 1, 2, 5, 10}}, []string{"bucket"}),
		limiterRejects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "limiter_rejects_total", Help: "Sends refused because the rate-limit wait exceeded the caller's deadline."}, []string{"bucket"}),
		limiterErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "limiter_errors_total", Help: "Rate limiter backend failures (the send went ahead)."}, []string{"bucket"}),
	}
	m.requests = register(reg, m.requests)
	m.latency = register(reg, m.latency)
	m.retries = register(reg, m.retries)
	m.configAlarms = register(reg, m.configAlarms)
	m.errors = register(reg, m.errors)
	for code := range codes {
		m.errors.WithLabelValues(strconv.Itoa(code))
	}
	m.errors.WithLabelValues("other")
	m.limiterWaits = register(reg, m.limiterWaits)
	m.limiterWait = register(reg, m.limiterWait)
	m.limiterRejects = register(reg, m.limiterRejects)
	m.limiterErrors = register(reg, m.limiterErrors)
	// The buckets are known at start: their series exist at 0 from the first scrape, so that
	// dashboards and alerts see "no waits" rather than "no data".
	for _, b := range []string{"throughput", "pair"} {
		m.limiterWaits.WithLabelValues(b)
		m.limiterWait.WithLabelValues(b)
		m.limiterRejects.WithLabelValues(b)
		m.limiterErrors.WithLabelValues(b)
	}
	for _, op := range []string{"template", "text", "buttons", "list", "call_button", "media", "mark_read"} {
		m.requests.WithLabelValues(op, "ok")
		m.latency.WithLabelValues(op)
		m.retries.WithLabelValues(op)
	}
	return m
}

// webhookMetrics are the webhook receiver's and consumer's collectors.
type webhookMetrics struct {
	requests *prometheus.CounterVec // result
	events   *prometheus.CounterVec // kind, result
}

func newWebhookMetrics(reg prometheus.Registerer) *webhookMetrics {
	const ns, sub = "deflectd", "whatsapp"
	m := &webhookMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "webhook_requests_total", Help: "Webhook HTTP requests by result."}, []string{"result"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub,
			Name: "webhook_events_total", Help: "Webhook events by kind and result (enqueued, enqueue_error, processed, duplicate, handler_error, dropped)."},
			[]string{"kind", "result"}),
	}
	m.requests = register(reg, m.requests)
	m.events = register(reg, m.events)
	// At zero from the start, like the client's series.
	for _, r := range []string{"ok", "verify_ok", "unauthorized", "bad_json", "too_large", "enqueue_error"} {
		m.requests.WithLabelValues(r)
	}
	for _, k := range []string{KindMessage, KindStatus, KindTemplate, KindAccount} {
		for _, r := range []string{"enqueued", "processed", "duplicate", "handler_error"} {
			m.events.WithLabelValues(k, r)
		}
	}
	return m
}

// NewConsumerMetrics returns collectors for Consumer.Metrics, registered with reg (nil: none).
// The webhook and its consumers may share one registry: collectors already registered are reused.
func NewConsumerMetrics(reg prometheus.Registerer) *ConsumerMetrics {
	return &ConsumerMetrics{m: newWebhookMetrics(reg)}
}

// ConsumerMetrics counts processed events; see NewConsumerMetrics.
type ConsumerMetrics struct{ m *webhookMetrics }

func (cm *ConsumerMetrics) event(kind, result string) {
	if cm != nil {
		cm.m.events.WithLabelValues(kind, result).Inc()
	}
}

// register registers c, reusing an identical collector registered before (several clients or
// webhooks on one registry), so wiring never panics on metrics.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
