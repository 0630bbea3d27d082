package voice

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	active  prometheus.Gauge
	calls   *prometheus.CounterVec // by result
	context *prometheus.CounterVec // by how the call button payload resolved
	talk    prometheus.Histogram
	packets *prometheus.CounterVec // relayed, by direction
	dropped prometheus.Counter
}

// callResults are every result label, created at zero so dashboards see the series at start.
var callResults = []string{ResultAnswered, ResultBusy, ResultNoAnswer, ResultCancelled, ResultFailed,
	"forbidden", "unauthorized", "unsupported-media"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "active_calls", Help: "WhatsApp calls being set up or bridged to the queue."}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "calls_total", Help: "WhatsApp calls by result: answered, busy, no-answer, cancelled, failed (bridged or not), forbidden (voice.allow), unauthorized (digest), unsupported-media."},
			[]string{"result"}),
		context: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "call_context_total", Help: "WhatsApp calls by how their deflection was found: found (the call button payload), by-number (no payload: the caller's latest deflection), none, invalid (forged, expired, forwarded or unknown session)."},
			[]string{"outcome"}),
		talk: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "talk_seconds", Help: "Answered WhatsApp calls: time bridged to the queue.",
			Buckets: []float64{10, 30, 60, 120, 300, 600, 1200, 2400, 3600}}),
		packets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "rtp_packets_total", Help: "Audio packets relayed, by direction: to-queue (SRTP from WhatsApp decrypted), to-whatsapp."},
			[]string{"direction"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "voice",
			Name: "rtp_dropped_total", Help: "Media packets dropped: failed SRTP authentication, not RTP, or RTCP (not relayed)."}),
	}
	for _, r := range callResults {
		m.calls.WithLabelValues(r)
	}
	for _, o := range []string{"found", "by-number", "none", "invalid"} {
		m.context.WithLabelValues(o)
	}
	m.packets.WithLabelValues("to-queue")
	m.packets.WithLabelValues("to-whatsapp")
	for _, c := range []prometheus.Collector{m.active, m.calls, m.context, m.talk, m.packets, m.dropped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register voice metrics: %w", err)
		}
	}
	return m, nil
}
