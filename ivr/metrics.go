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
	}
	if reg != nil {
		reg.MustRegister(m.activeCalls, m.responses, m.dtmf, m.outcomes, m.requests, m.dropped)
	}
	return m
}

func (m *metrics) response(code int) { m.responses.WithLabelValues(strconv.Itoa(code)).Inc() }
