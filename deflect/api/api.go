// Package api is deflectd's HTTP edge on gin: health, readiness and metrics, the WhatsApp
// webhook (a plain http.Handler mounted as is), the sandbox Graph API when it is in use, and the
// bearer-token REST API under /api/v1 documented by the embedded OpenAPI file.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

//go:embed openapi.yaml
var openapiYAML []byte

// OpenAPI returns the embedded OpenAPI 3 document.
func OpenAPI() []byte { return openapiYAML }

// Engine answers the pre-qualify question (deflect.Service).
type Engine interface {
	Check(ctx context.Context, n lookup.Number, queue string, wait int) (deflect.Eligibility, error)
}

// Sessions reads sessions for the results API (the store).
type Sessions interface {
	GetSession(ctx context.Context, id string) (*store.Session, error)
	ListSessions(ctx context.Context, f store.SessionFilter) ([]*store.Session, error)
}

// Pinger is the store's health check.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Options wires the HTTP edge. Nil parts leave their routes out (or answer 503 for the API).
type Options struct {
	API          configs.APIConfig
	MaxBodyBytes int64  // request body limit for /api/v1; default 1 MiB
	Region       string // default region for numbers without a country code

	Engine Engine
	// Deflector runs POST /api/v1/deflections and Idempotency keeps its Idempotency-Key
	// answers (both nil: the route answers 503).
	Deflector   Deflector
	Idempotency IdempotencyStore
	Sessions    Sessions
	Presence    PresenceAdmin
	// Stats serves the funnel and outcome reports (a nil Source answers 503).
	Stats StatsOptions
	// Templates manages the WhatsApp templates (nil: the routes answer 503).
	Templates TemplateAdmin

	Webhook  http.Handler // /webhooks/whatsapp
	Sandbox  http.Handler // /sandbox/graph/... and /_sandbox/... when whatsapp.provider is sandbox
	Gatherer prometheus.Gatherer
	Store    Pinger
	// Draining reports whether the process is shutting down (readyz answers 503).
	Draining func() bool
	// SIPServing reports whether the SIP listeners are serving; readyz answers 503 when false
	// (nil: not checked). A func rather than the ivr server, so that api stays off ivr.
	SIPServing func() bool
	// StoreBreakerOpen reports whether the circuit breaker around the store is open; readyz
	// then answers 503 at once, saying so, without pinging (nil: not checked).
	StoreBreakerOpen func() bool
	// Degraded lists what works less than fully while the gateway is ready (e.g. a paused
	// deflection template: callers of that language are not offered); readyz prints it.
	Degraded func(ctx context.Context) []string
	Logger   *slog.Logger
	// Timeout bounds each API handler's store and engine calls (default 3 s).
	Timeout time.Duration
}

type server struct {
	o      Options
	tokens []token
	log    *slog.Logger
}

// newServer applies Options' defaults; New and RegisterInbox share it.
func newServer(o Options) *server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Region == "" {
		o.Region = "SA"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &server{o: o, tokens: tokensOf(o.API), log: log.With("component", "api")}
}

// New returns the HTTP handler.
func New(o Options) http.Handler {
	s := newServer(o)
	o = s.o

	// gin's mode is process-wide; deflectd never wants its debug route dump on stdout.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "no such endpoint") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method not allowed") })

	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
	r.GET("/readyz", s.readyz)
	if o.Gatherer != nil {
		r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(o.Gatherer, promhttp.HandlerOpts{})))
	}
	if o.Webhook != nil {
		r.GET("/webhooks/whatsapp", gin.WrapH(o.Webhook))
		r.POST("/webhooks/whatsapp", gin.WrapH(o.Webhook))
	}
	if o.Sandbox != nil {
		// The sandbox routes on the end of the path, so it needs no prefix stripping.
		r.Any("/sandbox/graph/*path", gin.WrapH(o.Sandbox))
		r.Any("/_sandbox/*path", gin.WrapH(o.Sandbox))
	}

	v1 := r.Group("/api/v1", s.limitBody)
	v1.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml; charset=utf-8", openapiYAML) })
	v1.GET("/eligibility", s.auth(ScopePBX), s.eligibility)
	v1.POST("/deflections", s.auth(ScopePBX), s.deflect)
	v1.GET("/sessions", s.auth(ScopeAgent), s.listSessions)
	v1.GET("/stats/funnel", s.auth(ScopeAdmin), s.statsFunnel)
	v1.GET("/stats/outcomes", s.auth(ScopeAdmin), s.statsOutcomes)
	v1.GET("/sessions/:id", s.auth(ScopeAgent), s.getSession)
	v1.GET("/presence/:number", s.auth(ScopeAdmin), s.getPresence)
	v1.PUT("/presence/:number", s.auth(ScopeAdmin), s.putPresence)
	v1.DELETE("/presence/:number", s.auth(ScopeAdmin), s.deletePresence)
	v1.POST("/presence", s.auth(ScopeAdmin), s.importPresence)
	s.templatesRoutes(v1)
	return r
}

func (s *server) readyz(c *gin.Context) {
	if s.o.Draining != nil && s.o.Draining() {
		c.String(http.StatusServiceUnavailable, "draining\n")
		return
	}
	if s.o.SIPServing != nil && !s.o.SIPServing() {
		c.String(http.StatusServiceUnavailable, "sip not serving\n")
		return
	}
	if s.o.StoreBreakerOpen != nil && s.o.StoreBreakerOpen() {
		c.String(http.StatusServiceUnavailable, "store unavailable: circuit breaker open\n")
		return
	}
	if s.o.Store != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), time.Second)
		defer cancel()
		if err := s.o.Store.Ping(ctx); err != nil {
			s.log.Warn("not ready: store ping failed", "err", err)
			c.String(http.StatusServiceUnavailable, "store unavailable\n")
			return
		}
	}
	var notes string
	if s.o.Degraded != nil {
		for _, d := range s.o.Degraded(c.Request.Context()) {
			notes += d + "\n"
		}
	}
	c.String(http.StatusOK, "ready\n"+notes)
}

// limitBody caps request bodies; a larger one fails the JSON decode with 413.
func (s *server) limitBody(c *gin.Context) {
	if c.Request.Body != nil {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.o.MaxBodyBytes)
	}
	c.Next()
}

// fail answers {"error": msg}.
func fail(c *gin.Context, code int, msg string) {
	c.AbortWithStatusJSON(code, gin.H{"error": msg})
}

// bindJSON decodes the body, answering 413 or 400 itself when it cannot.
func bindJSON(c *gin.Context, v any) bool {
	if err := c.ShouldBindJSON(v); err != nil {
		failBody(c, "JSON", err)
		return false
	}
	return true
}

// failBody answers a body that could not be read: 413 past the size limit, else 400.
func failBody(c *gin.Context, kind string, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		fail(c, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	fail(c, http.StatusBadRequest, "invalid "+kind+" body: "+err.Error())
}

func (s *server) ctx(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), s.o.Timeout)
}

// storeError maps a store error to an HTTP answer.
func (s *server) storeError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(c, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("store unavailable", "path", c.FullPath(), "err", err)
		fail(c, http.StatusServiceUnavailable, "store unavailable")
	default:
		s.log.Error("api request failed", "path", c.FullPath(), "err", err)
		fail(c, http.StatusInternalServerError, "internal error")
	}
}
