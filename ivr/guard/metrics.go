package guard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	dropped  *prometheus.CounterVec // silent drops by reason
	rejected *prometheus.CounterVec // responses instead of handling, by reason
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "sip_guard", Name: "dropped_total",
			Help: "SIP requests dropped without a response, by reason (scanner).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "sip_guard", Name: "rejected_total",
			Help: "SIP requests answered by the guard instead of the IVR, by reason (malformed, bad-version, bad-extension).",
		}, []string{"reason"}),
	}
	// Pre-create the labels dashboards and alerts refer to.
	for _, r := range []string{"scanner"} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{"malformed", "bad-version", "bad-extension"} {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.dropped, m.rejected)
	}
	return m
}
