package deflect

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

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
	// offerOutcomes: prior (presence at Decide: yes|unknown), result (delivered|failed).
	offerOutcomes *prometheus.CounterVec
	// experiments: variant (the configured names only: bounded), event (offered, accepted, deflected).
	experiments *prometheus.CounterVec
	// reconciled: sessions of dead instances ended by this one, by outcome.
	reconciled *prometheus.CounterVec
	// billable: messages Meta bills (pricing.billable of their status), by pricing category.
	billable *prometheus.CounterVec
	// templateState: template webhooks applied, by whether the template is usable after them.
	templateState *prometheus.CounterVec
	// The business number's standing: flagged for quality (0/1), messaging limit (0 = none known).
	qualityFlagged, messagingLimit prometheus.Gauge
	// accountRestricted: 1 while the business account may not start conversations (0/1).
	accountRestricted prometheus.Gauge
	// quality: the number's quality_rating, 1 for the current one and 0 for the others.
	quality *prometheus.GaugeVec
}

// QualityRatings are deflectd_whatsapp_quality's rating label values (Meta's NA and anything
// else it may add read as UNKNOWN, so the series stay four).
var QualityRatings = []string{"GREEN", "YELLOW", "RED", "UNKNOWN"}

func newMetrics(reg prometheus.Registerer, variants []string) *metrics {
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
		offerOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deflectd_presence_offer_outcomes_total",
			Help: "Offers whose WhatsApp message was later confirmed delivered (delivered or read status) or failed " +
				"as not on WhatsApp (131026), once per session, by what presence said when the call was offered " +
				"(prior yes|unknown): how good the presence guesses are.",
		}, []string{"prior", "result"}),
		experiments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "experiment_total",
			Help: "Offer experiment by variant (deflect.experiments) and event: offered, accepted, deflected.",
		}, []string{"variant", "event"}),
		reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deflectd", Subsystem: "deflect", Name: "reconciled_total",
			Help: "Sessions a dead instance left behind, ended by this one, by outcome (abandoned, or deflected when the message was delivered).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{OutcomeAbandoned, OutcomeDeflected} {
		m.reconciled.WithLabelValues(o)
	}
	m.billable = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "deflectd", Subsystem: "whatsapp", Name: "billable_messages_total",
		Help: "Messages Meta bills (the pricing object of their status webhook, once per message), by pricing category.",
	}, []string{"category"})
	for _, c := range []string{"utility", "marketing", "authentication", "authentication_international", "service", "other"} {
		m.billable.WithLabelValues(c)
	}
	m.templateState = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "deflectd", Subsystem: "whatsapp", Name: "template_updates_total",
		Help: "Template status and category webhooks applied, by whether the template is usable for deflection after them (approved and UTILITY).",
	}, []string{"state"})
	for _, st := range []string{"usable", "unusable"} {
		m.templateState.WithLabelValues(st)
	}
	m.qualityFlagged = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "quality_flagged",
		Help: "1 while Meta has flagged the business number for quality (phone_number_quality_update FLAGGED), else 0."})
	m.messagingLimit = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "messaging_limit",
		Help: "Business-initiated conversations the number may open per 24 h (Meta's tier; 0 = unlimited or not known)."})
	m.accountRestricted = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "account_restricted",
		Help: "1 while Meta has disabled or deleted the business account or restricted its business-initiated messaging (callers are not offered), else 0."})
	m.quality = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "quality",
		Help: "The business number's quality rating (GET phone number quality_rating): 1 for the current rating, 0 for the others; UNKNOWN until Meta has been asked."},
		[]string{"rating"})
	// Every rating's series exists from the start; the rating is not known yet, which is 1 on UNKNOWN.
	m.setQuality("")
	for _, v := range variants {
		for _, e := range []string{"offered", "accepted", "deflected"} {
			m.experiments.WithLabelValues(v, e)
		}
	}
	// Every series whose labels are known at start exists from the start (at zero): a dashboard
	// panel or an alert on a rate has something to read before the first event of its kind.
	m.decisions.WithLabelValues("offer", "")
	m.decisions.WithLabelValues("error", "store-unavailable")
	for _, r := range []string{ReasonInvalidNumber, ReasonNotMobile, ReasonRegion, ReasonQueue,
		ReasonWaitTooShort, ReasonWaitUnknown, ReasonClosed, ReasonOptedOut, ReasonChatCapacity,
		ReasonCooldown, ReasonDailyLimit, ReasonNotOnWhatsApp, ReasonPresenceUnknown,
		ReasonWhatsAppUnavailable, ReasonWhatsAppBusy, ReasonTemplateUnavailable, ReasonMessagingLimit,
		ReasonAccountRestricted} {
		m.decisions.WithLabelValues("ineligible", r)
	}
	m.sends.WithLabelValues("ok", "")
	for _, st := range []string{StatusSent, StatusDelivered, StatusRead, StatusFailed} {
		m.statuses.WithLabelValues(st)
	}
	for _, o := range []string{OutcomeDeflected, OutcomeDeclined, OutcomeTimeout, OutcomeAbandoned} {
		m.outcomes.WithLabelValues(o, "")
	}
	for _, r := range []string{"deflected", "failed"} {
		m.confirm.WithLabelValues(r)
	}
	// Both results exist from the start, so a ratio is defined before the first failure.
	for _, prior := range []string{lookup.Yes.String(), lookup.Unknown.String()} {
		for _, result := range []string{offerDelivered, offerFailed} {
			m.offerOutcomes.WithLabelValues(prior, result)
		}
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.offers, m.accepts, m.sends, m.statuses, m.outcomes, m.confirm, m.dtmfToSend, m.offerOutcomes, m.experiments, m.reconciled, m.billable, m.templateState, m.qualityFlagged, m.messagingLimit, m.accountRestricted, m.quality)
	}
	return m
}

// Delivery outcomes of an offer, as deflectd_presence_offer_outcomes_total's result label.
const (
	offerDelivered = "delivered"
	offerFailed    = "failed"
)

// offerOutcome is what a status says about the recipient being on WhatsApp: delivered/read →
// delivered, failed with 131026 → failed; anything else (sent, other failures) says nothing.
func offerOutcome(status string, errorCode int) string {
	switch {
	case status == StatusDelivered || status == StatusRead:
		return offerDelivered
	case status == StatusFailed && errorCode == 131026:
		return offerFailed
	}
	return ""
}

// outcomeKnown reports whether a session's stored WhatsApp status already settled its delivery
// outcome (counted then, or a failure that says nothing about presence).
func outcomeKnown(waStatus string) bool {
	return waStatus == StatusDelivered || waStatus == StatusRead || waStatus == StatusFailed
}

// applyStatus merges a status into a session inside a store update and returns the delivery
// outcome to count: non-empty only on the update that first settles it. UpdateSession may run
// fn again after a conflict (another instance applied a status meanwhile), so the caller counts
// the value of the committed run only: exactly once across instances.
func applyStatus(x *store.Session, status string, errorCode int) string {
	counted := ""
	if !outcomeKnown(x.WAStatus) {
		counted = offerOutcome(status, errorCode)
	}
	x.WAStatus = mergeStatus(x.WAStatus, status)
	return counted
}

// countOffer records a settled delivery outcome against the session's presence prior.
func (m *metrics) countOffer(prior, result string) {
	if result == "" {
		return
	}
	if prior == "" {
		prior = lookup.Unknown.String()
	}
	m.offerOutcomes.WithLabelValues(prior, result).Inc()
}

// experiment counts an event of the caller's variant (none without an experiment).
func (m *metrics) experiment(variant, event string) {
	if variant != "" {
		m.experiments.WithLabelValues(variant, event).Inc()
	}
}

// setAccount shows the business number's standing.
func (m *metrics) setAccount(flagged bool, limit int) {
	v := 0.0
	if flagged {
		v = 1
	}
	m.qualityFlagged.Set(v)
	m.messagingLimit.Set(float64(limit))
}

// setRestricted shows whether the business account may start conversations.
func (m *metrics) setRestricted(restricted bool) {
	v := 0.0
	if restricted {
		v = 1
	}
	m.accountRestricted.Set(v)
}

// setQuality shows the number's quality rating (QualityRating of Meta's value).
func (m *metrics) setQuality(rating string) {
	rating = QualityRating(rating)
	for _, r := range QualityRatings {
		v := 0.0
		if r == rating {
			v = 1
		}
		m.quality.WithLabelValues(r).Set(v)
	}
}

// QualityRating is Meta's quality_rating as one of QualityRatings.
func QualityRating(r string) string {
	r = strings.ToUpper(strings.TrimSpace(r))
	if slices.Contains(QualityRatings, r) {
		return r
	}
	return "UNKNOWN"
}
