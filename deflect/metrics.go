package deflect

import "github.com/prometheus/client_golang/prometheus"

// metrics are the engine's Prometheus series. Labels are bounded: results and reason codes only.
type metrics struct {
	decisions *prometheus.CounterVec // result (offer|ineligible|error), reason
	offers    prometheus.Counter
	accepts   prometheus.Counter
	sends     *prometheus.CounterVec // result (ok|error), reason
	statuses  *prometheus.CounterVec // status
	outcomes  *prometheus.CounterVec // outcome, reason
	confirm   *prometheus.HistogramVec
	// dtmfToSend: Accept's entry (right after the key press) → the Graph API request written.
	dtmfToSend prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "decisions_total",
			Help: "Eligibility decisions at INVITE, by result and reason code.",
		}, []string{"result", "reason"}),
		offers: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "offers_total",
			Help: "Calls offered the switch to WhatsApp.",
		}),
		accepts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "accepts_total",
			Help: "Offers accepted by the caller (pressed 1).",
		}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "sends_total",
			Help: "Template sends for accepted offers, by result and reason code.",
		}, []string{"result", "reason"}),
		statuses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "statuses_total",
			Help: "Message status webhooks applied to sessions, by status.",
		}, []string{"status"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "outcomes_total",
			Help: "Offered calls by final outcome and reason code.",
		}, []string{"outcome", "reason"}),
		confirm: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "answer_to_confirmation_seconds",
			Help:    "From the decision to answer to the confirmation (or failure) of the WhatsApp message, by result.",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 60},
		}, []string{"result"}),
		dtmfToSend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "deflectd", Name: "dtmf_to_send_seconds",
			Help:    "From accepting the offer (the caller pressed 1) to the Graph API request written (first attempt).",
			Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.offers, m.accepts, m.sends, m.statuses, m.outcomes, m.confirm, m.dtmfToSend)
	}
	return m
}
