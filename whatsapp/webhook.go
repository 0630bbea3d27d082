package whatsapp

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStream is the queue stream webhook events go to.
const DefaultStream = "wa:events"

// WebhookConfig configures the webhook receiver.
type WebhookConfig struct {
	AppSecret   string // signs X-Hub-Signature-256; empty rejects every POST
	VerifyToken string // answers Meta's subscription handshake; empty rejects it
	MaxBody     int64  // bytes; default 1 MiB
	Stream      string // default DefaultStream
}

// Webhook receives Meta's messages webhook: it verifies, parses and enqueues, and answers fast.
// Processing (with deduplication) happens in a Consumer reading the queue.
type Webhook struct {
	cfg WebhookConfig
	q   Queue
	log *slog.Logger
	m   *webhookMetrics
}

// NewWebhook returns the receiver to mount at /webhooks/whatsapp (GET handshake, POST events).
//
// It does not deduplicate: setting a "seen" key before the enqueue would lose the event for good
// when the enqueue then fails (Meta's redelivery would look like a duplicate). Duplicates are
// enqueued and the Consumer gives each event id exactly one handler run.
func NewWebhook(cfg WebhookConfig, q Queue, log *slog.Logger, reg prometheus.Registerer) *Webhook {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{cfg: cfg, q: q, log: log.With("component", "whatsapp-webhook"), m: newWebhookMetrics(reg)}
}

// ServeHTTP implements http.Handler.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.verify(w, r)
	case http.MethodPost:
		h.receive(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		h.fail(w, http.StatusMethodNotAllowed, "method")
	}
}

func (h *Webhook) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("hub.mode") != "subscribe" || h.cfg.VerifyToken == "" ||
		subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(h.cfg.VerifyToken)) != 1 {
		h.log.Warn("webhook verification refused", "mode", q.Get("hub.mode"))
		h.fail(w, http.StatusForbidden, "verify_forbidden")
		return
	}
	h.m.requests.WithLabelValues("verify_ok").Inc()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

func (h *Webhook) receive(w http.ResponseWriter, r *http.Request) {
	sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
	mac, err := hex.DecodeString(sig)
	if !ok || err != nil || len(mac) != sha256.Size || h.cfg.AppSecret == "" {
		h.log.Warn("webhook refused: missing or malformed signature")
		h.fail(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	if r.ContentLength > h.cfg.MaxBody {
		h.fail(w, http.StatusRequestEntityTooLarge, "too_large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, http.StatusRequestEntityTooLarge, "too_large")
			return
		}
		h.fail(w, http.StatusBadRequest, "read_error")
		return
	}
	if !h.validSignature(body, mac) {
		h.log.Warn("webhook refused: signature does not match the body")
		h.fail(w, http.StatusUnauthorized, "unauthorized")
		return
	}
	events, err := ParseWebhook(body)
	if err != nil {
		h.log.Warn("webhook refused: malformed JSON", "err", err)
		h.fail(w, http.StatusBadRequest, "bad_json")
		return
	}
	// The whole batch in one round trip to the store.
	payloads := make([][]byte, 0, len(events))
	for _, e := range events {
		payload, err := json.Marshal(e)
		if err != nil {
			h.log.Error("webhook event not encodable", "kind", e.Kind, "err", err)
			h.fail(w, http.StatusInternalServerError, "enqueue_error")
			return
		}
		payloads = append(payloads, payload)
	}
	if len(payloads) > 0 {
		if _, err := h.q.StreamAddBatch(r.Context(), h.cfg.Stream, payloads); err != nil {
			// 5xx makes Meta deliver the whole batch again; events already enqueued become
			// duplicates that the Consumer drops.
			for _, e := range events {
				h.m.events.WithLabelValues(e.Kind, "enqueue_error").Inc()
			}
			h.log.Error("webhook events not enqueued", "events", len(events), "err", err)
			h.fail(w, http.StatusInternalServerError, "enqueue_error")
			return
		}
	}
	for _, e := range events {
		h.m.events.WithLabelValues(e.Kind, "enqueued").Inc()
	}
	h.m.requests.WithLabelValues("ok").Inc()
	w.WriteHeader(http.StatusOK)
}

func (h *Webhook) validSignature(body, mac []byte) bool {
	m := hmac.New(sha256.New, []byte(h.cfg.AppSecret))
	m.Write(body)
	return hmac.Equal(m.Sum(nil), mac)
}

func (h *Webhook) fail(w http.ResponseWriter, code int, result string) {
	h.m.requests.WithLabelValues(result).Inc()
	http.Error(w, http.StatusText(code), code)
}

// Sign returns the X-Hub-Signature-256 value Meta would send for body: for the sandbox and tests.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
