package guard

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	dropped  *prometheus.CounterVec // silent drops by reason
	rejected *prometheus.CounterVec // responses instead of handling, by reason
	bans     *prometheus.CounterVec // sources banned, by reason
}

func newMetrics(reg prometheus.Registerer, g *Guard) *metrics {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "sip_guard", Name: "dropped_total",
			Help: "SIP requests dropped without a response, by reason (not-allowed, banned, flood, scanner).",
		}, []string{"reason"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "sip_guard", Name: "rejected_total",
			Help: "SIP requests answered by the guard instead of the IVR, by reason (too-large, malformed, bad-version, bad-extension, auth-challenge, auth-stale, auth-failed).",
		}, []string{"reason"}),
		bans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "sip_guard", Name: "bans_total",
			Help: "Sources banned by the per-source rate limit (sip.pike), by reason.",
		}, []string{"reason"}),
	}
	tracked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "deflectd", Subsystem: "sip_guard", Name: "tracked_sources",
		Help: "Sources the rate limit tracks now (bounded by its sharded map).",
	}, func() float64 {
		if g.pike == nil {
			return 0
		}
		return float64(g.pike.sources())
	})
	// Pre-create the labels dashboards and alerts refer to.
	for _, r := range []string{"not-allowed", "banned", "flood", "scanner"} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{"too-large", "malformed", "bad-version", "bad-extension", "auth-challenge", "auth-failed"} {
		m.rejected.WithLabelValues(r)
	}
	m.bans.WithLabelValues("flood")
	if reg != nil {
		reg.MustRegister(m.dropped, m.rejected, m.bans, tracked)
	}
	return m
}
