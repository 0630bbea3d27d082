// Package sandbox is an HTTP fake of Meta's WhatsApp Cloud API that behaves like Meta's: the
// POST /{version}/{phone_number_id}/messages endpoint with bearer-token check, body validation,
// a template registry, the 24-hour customer-service window, throughput and pair rate limits and
// injectable failures, plus signed status webhooks (sent → delivered → read, or failed) and a
// simulated customer that sends inbound message webhooks.
//
// It deliberately does not import package whatsapp: it is an independent witness of Meta's wire
// format, written from Meta's documentation, against which the real client is tested.
package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/deflectd/deflectd/configs"
)

// Failure is an injected error for the next Count sends (HTTP API: POST /_sandbox/fail).
// Code is a Graph error code (131026, 130429, 131056, 190, ...) or a plain HTTP status
// (500, 503) that Meta would answer with its generic server error codes.
type Failure struct {
	Code  int `json:"code"`
	Count int `json:"count"`
	// Async reports the failure as Meta does for undeliverable messages: the send is accepted
	// (200 with a wamid) and a "failed" status webhook carries the code. Nil means the default:
	// asynchronous for 131026, 131049, 131050 and 130472, synchronous for everything else.
	Async *bool `json:"async,omitempty"`
}

func (f Failure) async() bool {
	if f.Async != nil {
		return *f.Async
	}
	switch f.Code {
	case 131026, 131049, 131050, 130472:
		return true
	}
	return false
}

// DefaultBusinessAccountID is the sandbox's WABA id when none is configured.
const DefaultBusinessAccountID = "100000000000000"

// Config shapes a sandbox. Zero values get the defaults noted.
type Config struct {
	PhoneNumberID      string
	DisplayPhoneNumber string // metadata.display_phone_number; default 15550100001
	BusinessAccountID  string // entry[].id (the WABA id); default 100000000000000
	AccessToken        string
	AppSecret          string // signs webhooks
	// Definitions are approved at start (deflectd's templates, as if pushed earlier); Templates
	// are approved too, with placeholder text of their shape, replacing a definition's language.
	Definitions     []configs.TemplateDefinition
	Templates       []configs.TemplateDef
	ReviewDelay     time.Duration // a submitted or edited template is reviewed after this
	NotOnWhatsApp   []string      // numbers (E.164, '+' optional) whose sends fail with 131026
	StatusDelay     time.Duration
	WebhookURL      string // empty = statuses are recorded but no webhook is posted
	Throughput      float64
	ThroughputBurst int // default ceil(Throughput)
	PairPeriod      time.Duration
	PairBurst       int // default 1 when PairPeriod is set
	Latency         time.Duration
	// RateLimitStatus is the HTTP status of 130429 and 131056 answers; default 400, as Meta's
	// error-code table lists them. Set 429 to check that a client keys on the code, not the status.
	RateLimitStatus int
	FailNext        []Failure
	// AsyncWindowErrors reports 131047 (outside the 24-hour window) the way the Cloud API often
	// does in production: accepted, then a failed status webhook. Default: synchronous 400.
	AsyncWindowErrors bool
	Window            time.Duration // customer-service window; default 24h
	MaxPerRecipient   int           // outbound and inbound messages kept per number; default 100
	MaxRecipients     int           // numbers kept; the least recently active is forgotten; default 10000
	MaxPending        int           // scheduled status webhooks; beyond it new ones are dropped; default 100000
	WebhookRetries    int           // extra attempts after a non-2xx or transport error; default 3
	WebhookBackoff    time.Duration // first retry delay, doubled each time; default 200ms
	WebhookWorkers    int           // concurrent webhook senders; default 4
	WebhookTimeout    time.Duration // per attempt; default 5s
	HTTPClient        *http.Client  // for webhooks; default a client with WebhookTimeout
	// Now is the clock for the window and the rate limits (not for webhook delays); default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.DisplayPhoneNumber == "" {
		c.DisplayPhoneNumber = "15550100001"
	}
	if c.BusinessAccountID == "" {
		c.BusinessAccountID = DefaultBusinessAccountID
	}
	if c.ThroughputBurst <= 0 && c.Throughput > 0 {
		c.ThroughputBurst = int(math.Ceil(c.Throughput))
	}
	if c.PairBurst <= 0 {
		c.PairBurst = 1
	}
	if c.RateLimitStatus == 0 {
		c.RateLimitStatus = http.StatusBadRequest
	}
	if c.Window <= 0 {
		c.Window = 24 * time.Hour
	}
	if c.MaxPerRecipient <= 0 {
		c.MaxPerRecipient = 100
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 10000
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 100000
	}
	if c.WebhookRetries < 0 {
		c.WebhookRetries = 0
	} else if c.WebhookRetries == 0 {
		c.WebhookRetries = 3
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = 200 * time.Millisecond
	}
	if c.WebhookWorkers <= 0 {
		c.WebhookWorkers = 4
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = 5 * time.Second
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.WebhookTimeout}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// FromConfig builds a sandbox Config from deflectd's configuration. An empty
// whatsapp.sandbox.webhook_url means deflectd's own receiver: {http.public_url or
// http://<http.listen>}/webhooks/whatsapp, with an unspecified listen host reached on loopback.
func FromConfig(c configs.Config) Config {
	w := c.WhatsApp
	var defs []configs.TemplateDefinition
	if w.Sandbox.SeedTemplates {
		defs, _ = configs.LoadTemplates(w.TemplatesFile) // validated with the configuration
	}
	return Config{
		BusinessAccountID: w.BusinessAccountID,
		Definitions:       defs,
		PhoneNumberID:     w.PhoneNumberID,
		AccessToken:       w.AccessToken.Reveal(),
		AppSecret:         w.AppSecret.Reveal(),
		Templates:         w.Sandbox.Templates,
		ReviewDelay:       w.Sandbox.ReviewDelay,
		NotOnWhatsApp:     w.Sandbox.NotOnWhatsApp,
		StatusDelay:       w.Sandbox.StatusDelay,
		WebhookURL:        webhookURL(c),
		Throughput:        w.Throughput,
		PairPeriod:        w.PairPeriod,
		PairBurst:         w.PairBurst,
		Latency:           w.Sandbox.Latency,
	}
}

func webhookURL(c configs.Config) string {
	if u := c.WhatsApp.Sandbox.WebhookURL; u != "" {
		return u
	}
	base := strings.TrimRight(c.HTTP.PublicURL, "/")
	if base == "" {
		host, port, err := net.SplitHostPort(c.HTTP.Listen)
		if err != nil {
			return ""
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, port)
	}
	return base + "/webhooks/whatsapp"
}

// Outbound is one message the business sent, as "the phone" received it.
type Outbound struct {
	ID string `json:"id"` // wamid
	To string `json:"to"` // wa_id, or the business-scoped user id of a message sent by recipient
	// Recipient is the business-scoped user id the message was addressed to with Meta's
	// "recipient" field (no "to"); empty for a message sent to a phone number.
	Recipient string          `json:"recipient,omitempty"`
	Type      string          `json:"type"`
	Body      json.RawMessage `json:"body"` // the full request body as sent
	At        time.Time       `json:"at"`
	Statuses  []Status        `json:"statuses"`
}

// Status is one status the sandbox reached for an outbound message.
type Status struct {
	Status string    `json:"status"` // sent|delivered|read|failed
	At     time.Time `json:"at"`
	Error  int       `json:"error,omitempty"` // for failed
	// Delivered is true once the webhook receiver acknowledged this status with a 2xx.
	Delivered bool `json:"webhook_delivered"`
}

// Inbound is one message the simulated customer sent.
type Inbound struct {
	ID   string    `json:"id"`
	From string    `json:"from"`
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	// ReadByBusiness is set when the business marked it read.
	ReadByBusiness bool `json:"read_by_business"`
}

type conversation struct {
	id      string
	expires time.Time
}

// phone is everything the sandbox knows about one WhatsApp user.
type phone struct {
	waID        string
	name        string
	userID      string // the customer's business-scoped user id, when they have one (SetUserID)
	lastInbound time.Time
	lastActive  time.Time
	out         []*Outbound
	in          []*Inbound
	convs       map[string]conversation // by pricing category
}

// Sandbox is the fake Graph API. It is safe for concurrent use.
type Sandbox struct {
	cfg   Config
	log   *slog.Logger
	ids   *idGen
	tpl   templateStore
	notOn map[string]bool
	rate  *rate.Limiter // nil = unlimited

	mu       sync.Mutex
	phones   map[string]*phone
	byID     map[string]*Outbound
	inByID   map[string]*Inbound
	pairs    map[string]*rate.Limiter
	users    map[string]string // business-scoped user id -> wa_id, of customers given one
	failures []Failure
	// media: uploads and customers' files by media id, oldest first in mediaOrder
	media      map[string]*mediaFile
	mediaOrder []string
	num        numberState // quality rating and messaging limit tier (GET /{phone_number_id})

	q scheduler

	caller VoiceCaller // nil: WhatsApp calls are off
}

// New builds a sandbox. Call Start to run status progression and webhooks, Close to stop them.
func New(cfg Config, log *slog.Logger) *Sandbox {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		cfg:      cfg,
		log:      log.With("component", "whatsapp-sandbox"),
		ids:      newIDGen(),
		notOn:    make(map[string]bool, len(cfg.NotOnWhatsApp)),
		phones:   make(map[string]*phone),
		byID:     make(map[string]*Outbound),
		inByID:   make(map[string]*Inbound),
		pairs:    make(map[string]*rate.Limiter),
		users:    make(map[string]string),
		failures: slices.Clone(cfg.FailNext),
	}
	s.seedTemplates()
	for _, n := range cfg.NotOnWhatsApp {
		if d, err := normalizeNumber(n); err == nil {
			s.notOn[d] = true
		}
	}
	if cfg.Throughput > 0 {
		s.rate = rate.NewLimiter(rate.Limit(cfg.Throughput), cfg.ThroughputBurst)
	}
	s.q.init(cfg.MaxPending)
	return s
}

// Handler serves the Graph API ({prefix}/{version?}/{phone_number_id}/messages) and the sandbox
// control API ({prefix}/_sandbox/...). It routes on the end of the path, so it can be mounted
// under any prefix with or without http.StripPrefix.
func (s *Sandbox) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start runs the status progression and webhook senders until ctx ends or Close is called.
// Calling it again does nothing.
func (s *Sandbox) Start(ctx context.Context) {
	s.q.start(ctx, s.cfg.WebhookWorkers, s.process)
}

// Close stops the webhook senders and waits for them. Scheduled statuses not yet sent are dropped.
func (s *Sandbox) Close() { s.stopReviews(); s.q.stop() }

// Sent returns what the phone with this number received, oldest first (at most MaxPerRecipient).
func (s *Sandbox) Sent(to string) []Outbound {
	waID, err := customerID(to)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phones[waID]
	if p == nil {
		return nil
	}
	return copyOut(p.out)
}

// All returns every outbound message kept, grouped by recipient.
func (s *Sandbox) All() []Outbound {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []Outbound
	for _, p := range s.phones {
		all = append(all, copyOut(p.out)...)
	}
	slices.SortFunc(all, func(a, b Outbound) int { return a.At.Compare(b.At) })
	return all
}

// Message returns one outbound message by wamid.
func (s *Sandbox) Message(id string) (Outbound, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.byID[id]
	if o == nil {
		return Outbound{}, false
	}
	return copyOut([]*Outbound{o})[0], true
}

// Received returns what the simulated customer with this number sent, oldest first.
func (s *Sandbox) Received(from string) []Inbound {
	waID, err := customerID(from)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phones[waID]
	if p == nil {
		return nil
	}
	out := make([]Inbound, len(p.in))
	for i, in := range p.in {
		out[i] = *in
	}
	return out
}

func copyOut(src []*Outbound) []Outbound {
	out := make([]Outbound, len(src))
	for i, o := range src {
		out[i] = *o
		out[i].Body = slices.Clone(o.Body)
		out[i].Statuses = slices.Clone(o.Statuses)
	}
	return out
}

// InjectFailure makes the next n sends fail with code (see Failure for the defaults).
func (s *Sandbox) InjectFailure(code, n int) { s.InjectFailures(Failure{Code: code, Count: n}) }

// InjectFailures queues failures; they are consumed in order, each for its Count sends.
func (s *Sandbox) InjectFailures(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fs {
		if f.Count > 0 {
			s.failures = append(s.failures, f)
		}
	}
}

// Reset forgets every message, window, pending injected failure and rate-limit state.
func (s *Sandbox) Reset() {
	s.mu.Lock()
	s.phones = make(map[string]*phone)
	s.byID = make(map[string]*Outbound)
	s.inByID = make(map[string]*Inbound)
	s.pairs = make(map[string]*rate.Limiter)
	s.users = make(map[string]string)
	s.failures = nil
	if s.cfg.Throughput > 0 {
		s.rate = rate.NewLimiter(rate.Limit(s.cfg.Throughput), s.cfg.ThroughputBurst)
	}
	s.mu.Unlock()
	s.q.clear()
}

// SetProfileName sets the WhatsApp profile name the simulated customer shows in contacts[].
func (s *Sandbox) SetProfileName(waID, name string) {
	d, err := customerID(waID)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phoneLocked(d).name = name
}

// SetUserID gives the customer with this phone number a business-scoped user id: their
// webhooks then carry it (contacts[].user_id, messages[].from_user_id) next to the number, as
// Meta's do since BSUIDs were introduced, and a message sent by "recipient" to that id reaches
// the same customer's window. Messages from the id itself (CustomerText with the id) come
// without the number, as from a customer with a username.
func (s *Sandbox) SetUserID(number, userID string) error {
	d, err := normalizeNumber(number)
	if err != nil {
		return fmt.Errorf("set user id: %w", err)
	}
	if !bsuidRE.MatchString(userID) {
		return fmt.Errorf("set user id: %q is not a business-scoped user id (CC.digits)", userID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phoneLocked(d).userID = userID
	s.users[userID] = d
	return nil
}

// TemplateInfo is a template as GET /_sandbox/templates lists it.
type TemplateInfo struct {
	Name       string   `json:"name"`
	Languages  []string `json:"languages"`
	BodyParams int      `json:"body_params"`
	Buttons    int      `json:"buttons"`
}

// Templates lists the registry, sorted by name.
func (s *Sandbox) Templates() []TemplateInfo {
	s.tpl.mu.Lock()
	byName := map[string]*TemplateInfo{}
	for _, t := range s.tpl.byKey {
		info := byName[t.Name]
		if info == nil {
			info = &TemplateInfo{Name: t.Name}
			info.BodyParams, info.Buttons = t.shape()
			byName[t.Name] = info
		}
		info.Languages = append(info.Languages, t.Language)
	}
	s.tpl.mu.Unlock()
	out := make([]TemplateInfo, 0, len(byName))
	for _, info := range byName {
		slices.Sort(info.Languages)
		out = append(out, *info)
	}
	slices.SortFunc(out, func(a, b TemplateInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// phoneLocked returns the state for waID, creating it and evicting the least recently active
// number when over MaxRecipients. s.mu must be held.
func (s *Sandbox) phoneLocked(waID string) *phone {
	if p := s.phones[waID]; p != nil {
		return p
	}
	if len(s.phones) >= s.cfg.MaxRecipients {
		var oldest *phone
		for _, p := range s.phones {
			if oldest == nil || p.lastActive.Before(oldest.lastActive) {
				oldest = p
			}
		}
		if oldest != nil {
			s.forgetLocked(oldest)
		}
	}
	p := &phone{waID: waID, name: "Sandbox Customer", convs: map[string]conversation{}, lastActive: s.cfg.Now()}
	s.phones[waID] = p
	return p
}

func (s *Sandbox) forgetLocked(p *phone) {
	for _, o := range p.out {
		delete(s.byID, o.ID)
	}
	for _, in := range p.in {
		delete(s.inByID, in.ID)
	}
	delete(s.phones, p.waID)
}

func (s *Sandbox) addOutboundLocked(p *phone, o *Outbound) {
	p.out = append(p.out, o)
	s.byID[o.ID] = o
	if over := len(p.out) - s.cfg.MaxPerRecipient; over > 0 {
		for _, old := range p.out[:over] {
			delete(s.byID, old.ID)
		}
		p.out = slices.Clone(p.out[over:])
	}
	p.lastActive = s.cfg.Now()
}

func (s *Sandbox) addInboundLocked(p *phone, in *Inbound) {
	p.in = append(p.in, in)
	s.inByID[in.ID] = in
	if over := len(p.in) - s.cfg.MaxPerRecipient; over > 0 {
		for _, old := range p.in[:over] {
			delete(s.inByID, old.ID)
		}
		p.in = slices.Clone(p.in[over:])
	}
	p.lastActive = s.cfg.Now()
}

// windowOpenLocked reports whether the customer messaged within the service window.
func (s *Sandbox) windowOpenLocked(waID string, now time.Time) bool {
	open := func(id string) bool {
		p := s.phones[id]
		return p != nil && !p.lastInbound.IsZero() && now.Sub(p.lastInbound) < s.cfg.Window
	}
	switch {
	case open(waID):
		return true
	case s.users[waID] != "": // one user, written to by business-scoped user id
		return open(s.users[waID])
	case s.phones[waID] != nil && s.phones[waID].userID != "":
		return open(s.phones[waID].userID)
	}
	return false
}

// conversationLocked returns the open conversation of this category with the number, opening
// one (24 h, like Meta's) when none is open.
func (s *Sandbox) conversationLocked(p *phone, category string, now time.Time) conversation {
	if c, ok := p.convs[category]; ok && now.Before(c.expires) {
		return c
	}
	c := conversation{id: s.ids.conversationID(), expires: now.Add(24 * time.Hour)}
	p.convs[category] = c
	return c
}

// takeFailureLocked consumes one injected failure, if any.
func (s *Sandbox) takeFailureLocked() (Failure, bool) {
	if len(s.failures) == 0 {
		return Failure{}, false
	}
	f := s.failures[0]
	s.failures[0].Count--
	if s.failures[0].Count <= 0 {
		s.failures = s.failures[1:]
	}
	return f, true
}

// allowLocked applies the throughput and pair limits: 130429 for the phone number's
// throughput, 131056 for too many messages to one recipient. Tokens are only spent when both pass.
func (s *Sandbox) allowLocked(waID string, now time.Time) *apiError {
	var rr *rate.Reservation
	if s.rate != nil {
		rr = s.rate.ReserveN(now, 1)
		if !rr.OK() || rr.DelayFrom(now) > 0 {
			rr.CancelAt(now)
			return &apiError{code: 130429, http: s.cfg.RateLimitStatus}
		}
	}
	if s.cfg.PairPeriod > 0 {
		lim := s.pairs[waID]
		if lim == nil {
			if len(s.pairs) >= s.cfg.MaxRecipients {
				for k, l := range s.pairs { // idle limiters are full again: forgetting them changes nothing
					if l.TokensAt(now) >= float64(s.cfg.PairBurst) {
						delete(s.pairs, k)
					}
				}
			}
			lim = rate.NewLimiter(rate.Every(s.cfg.PairPeriod), s.cfg.PairBurst)
			s.pairs[waID] = lim
		}
		if !lim.AllowN(now, 1) {
			if rr != nil {
				rr.CancelAt(now)
			}
			return &apiError{code: 131056, http: s.cfg.RateLimitStatus}
		}
	}
	return nil
}
