package ivr

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the IVR's Prometheus series; registered on the Registerer given to New.
type metrics struct {
	activeCalls prometheus.Gauge
	responses   *prometheus.CounterVec // final INVITE responses by code
	dtmf        *prometheus.CounterVec // digits by source: rfc4733, info
	outcomes    *prometheus.CounterVec // offered calls by result
	requests    *prometheus.CounterVec // SIP requests received by method
	dropped     *prometheus.CounterVec // messages dropped before parsing, by reason
	rejected    *prometheus.CounterVec // parsed messages answered instead of handled, by reason
	pikeBans    prometheus.Counter     // sources banned by sip.pike
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		activeCalls: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "active_calls",
			Help: "Calls between INVITE and the end of the dialog.",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "invite_responses_total",
			Help: "Final responses to INVITEs, by status code.",
		}, []string{"code"}),
		dtmf: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "dtmf_events_total",
			Help: "DTMF digits received, by source (rfc4733, info).",
		}, []string{"source"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "outcomes_total",
			Help: "Offered calls by outcome (deflected, declined, timeout, failed, abandoned).",
		}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "requests_total",
			Help: "SIP requests received, by method.",
		}, []string{"method"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "dropped_messages_total",
			Help: "SIP messages dropped unparsed: not-allowed (sip.allow_cidrs), pike (sip.pike), too-large (sip.max_message_size).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "rejected_messages_total",
			Help: "Parsed SIP messages refused before their handler: too-large (sip.max_message_size over TCP/TLS: 513; an ACK is not answered).",
		}, []string{"reason"}),
		pikeBans: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "ivr", Name: "pike_bans_total",
			Help: "Sources banned by the per-source rate limit (sip.pike).",
		}),
	}
	// Pre-create the reasons the dashboard's flood panel shows.
	for _, r := range []string{"not-allowed", "pike", "too-large"} {
		m.dropped.WithLabelValues(r)
	}
	m.rejected.WithLabelValues("too-large")
	// And the series of a call's life, at zero until the first call.
	for _, method := range []string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "NOTIFY"} {
		m.requests.WithLabelValues(method)
	}
	for _, code := range []string{"200", "480", "503"} {
		m.responses.WithLabelValues(code)
	}
	for _, src := range []string{"rfc4733", "info"} {
		m.dtmf.WithLabelValues(src)
	}
	for _, r := range []string{ResultDeflected, ResultDeclined, ResultTimeout, ResultFailed, ResultAbandoned} {
		m.outcomes.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.activeCalls, m.responses, m.dtmf, m.outcomes, m.requests, m.dropped, m.rejected, m.pikeBans)
	}
	return m
}

// trackPike exposes how many sources sip.pike tracks (bounded by its sharded map).
func (m *metrics) trackPike(reg prometheus.Registerer, p *pike) {
	if reg == nil || p == nil {
		return
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "deflectd", Subsystem: "ivr", Name: "pike_tracked_sources",
		Help: "Sources the per-source rate limit (sip.pike) tracks now.",
	}, func() float64 { return float64(p.sources()) }))
}

func (m *metrics) response(code int) { m.responses.WithLabelValues(strconv.Itoa(code)).Inc() }
