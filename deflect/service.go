package deflect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptrace"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/errgroup"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/observed"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/lookup"
)

// Options wires a Service. Store, Sender and Config are required.
type Options struct {
	Config   configs.Config
	Store    Store
	Sender   Sender
	Presence lookup.Presence // nil: presence is always unknown
	Learner  PresenceLearner // nil: a StoreLearner over Store when it has presence facts
	Chats    ChatCounter     // nil: chat capacity is never reached
	// Budget admits offers at the rate templates can be sent (nil: every eligible caller is
	// offered).
	Budget *SendBudget
	// Stats records outcomes for the reports (nil: none).
	Stats    *stats.Recorder
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// Instance names this process in sessions (which instance holds the call).
	Instance string
	// StoreTimeout bounds every store call (default 1 s).
	StoreTimeout time.Duration
	// Breaker tunes the circuit breaker around Sender; zero values take defaults (open after 5
	// consecutive API failures, half-open after 30 s).
	Breaker gobreaker.Settings
	Now     func() time.Time
}

// Service is the deflection engine. It implements ivr.Decider.
type Service struct {
	cfg      configs.Config
	policy   *Policy
	params   []*template.Template
	st       Store
	sender   Sender
	breaker  *gobreaker.CircuitBreaker[Sent]
	presence lookup.Presence
	learner  PresenceLearner
	chats    ChatCounter
	budget   *SendBudget
	stats    *stats.Recorder
	exp      *Experiment
	hub      *hub
	m        *metrics
	log      *slog.Logger
	instance string
	timeout  time.Duration
	now      func() time.Time
}

var _ ivr.Decider = (*Service)(nil)

// New builds a Service; call Run to start listening for message statuses.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Sender == nil {
		return nil, errors.New("new deflect service: store and sender are required")
	}
	pol, err := NewPolicy(o.Config.Deflect)
	if err != nil {
		return nil, fmt.Errorf("new deflect service: %w", err)
	}
	s := &Service{
		cfg: o.Config, policy: pol, st: o.Store, sender: o.Sender, presence: o.Presence,
		learner: o.Learner, chats: o.Chats, budget: o.Budget, stats: o.Stats, exp: NewExperiment(o.Config.Deflect), log: o.Logger, instance: o.Instance,
		timeout: o.StoreTimeout, now: o.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "deflect")
	if s.timeout <= 0 {
		s.timeout = time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.learner == nil {
		if pf, ok := o.Store.(store.PresenceFacts); ok {
			p := o.Config.Lookup.Presence
			s.learner = StoreLearner{Facts: pf, YesTTL: p.YesTTL, NoTTL: p.NoTTL, Now: s.now}
		}
	}
	for i, src := range o.Config.Deflect.Template.Params {
		// missingkey=zero: an absent X-Context-<Name> renders empty instead of "<no value>".
		t, err := template.New(fmt.Sprintf("param%d", i+1)).Option("missingkey=zero").Parse(src)
		if err != nil {
			return nil, fmt.Errorf("parse deflect.template.params[%d]: %w", i, err)
		}
		s.params = append(s.params, t)
	}
	bs := o.Breaker
	if bs.Name == "" {
		bs.Name = "whatsapp-send"
	}
	if bs.Timeout == 0 {
		bs.Timeout = 30 * time.Second
	}
	if bs.ReadyToTrip == nil {
		bs.ReadyToTrip = func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 }
	}
	// A recipient-level error (not on WhatsApp, window closed) means the API works.
	bs.IsSuccessful = func(err error) bool { return err == nil || recipientError(err) }
	graphState := observed.NewBreakerStateGauge(o.Registry, "graph_api") // deflectd_breaker_state{breaker="graph_api"}
	bs.OnStateChange = func(name string, from, to gobreaker.State) {
		graphState.Set(float64(to)) // closed 0, half-open 1, open 2
		s.log.Warn("whatsapp circuit breaker changed state", "breaker", name, "from", from.String(), "to", to.String())
	}
	s.breaker = gobreaker.NewCircuitBreaker[Sent](bs)
	s.hub = newHub(o.Store, s.log)
	s.m = newMetrics(o.Registry, s.exp.Names())
	return s, nil
}

// Run listens for message statuses from every instance until ctx ends.
func (s *Service) Run(ctx context.Context) { s.hub.run(ctx) }

// Listening reports whether the status subscription is live (readiness).
func (s *Service) Listening() bool { return s.hub.Ready() }

// WhatsAppAvailable reports whether the circuit breaker lets sends through.
func (s *Service) WhatsAppAvailable() bool { return s.breaker.State() != gobreaker.StateOpen }

// storeCtx bounds one store call. Detached from the call's cancellation so that a caller
// hanging up does not lose the record of what happened.
func (s *Service) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
}

// Eligibility is the answer of Check.
type Eligibility struct {
	Eligible bool
	Reason   string
	Language string
}

// Check runs the whole policy for a number without creating a session or recording an offer
// (the pre-qualify API). wait is in seconds, -1 when unknown.
func (s *Service) Check(ctx context.Context, n lookup.Number, queue string, wait int) (Eligibility, error) {
	v, _ := s.exp.Assign(n.E164)
	reason, _, err := s.evaluate(ctx, n, queue, wait, v.MinWait, s.now())
	if err != nil {
		return Eligibility{}, err
	}
	lang := s.LanguageFor(n.Region)
	if reason == "" {
		reason = s.platformReason(ctx, &store.Session{Variant: v.Name, Language: lang})
	}
	return Eligibility{Eligible: reason == "", Reason: reason, Language: lang}, nil
}

// platformReason is Meta's side of a decision, for a caller the policy left eligible: the
// account's standing, then the deflection template of the caller's language.
func (s *Service) platformReason(ctx context.Context, sess *store.Session) string {
	if r := s.accountReason(ctx); r != "" {
		return r
	}
	if !s.templateUsable(ctx, s.templateName(sess), s.templateLanguage(sess.Language)) {
		return ReasonTemplateUnavailable
	}
	return ""
}

// LanguageFor is the language the IVR picks for a caller from region when no X-Language came.
func (s *Service) LanguageFor(region string) string {
	if l, ok := s.cfg.IVR.RegionLanguages[region]; ok {
		return l
	}
	return s.cfg.IVR.DefaultLanguage
}

// evaluate gathers the facts the policy needs and applies it. The number's own rules go first
// (no store round trip for a landline); the stored facts are then read concurrently, so that a
// Redis-backed decision costs one round trip of latency, not four. prior is what presence said
// ("" when a rule of the number's own refused it first).
func (s *Service) evaluate(ctx context.Context, n lookup.Number, queue string, wait int, minWait time.Duration, now time.Time) (reason, prior string, err error) {
	if r := s.policy.Static(n, queue, wait, minWait, now); r != "" {
		return r, "", nil
	}
	f := Facts{Number: n, Queue: queue, WaitEstimate: wait, MinWait: minWait, Now: now, WhatsAppDown: !s.WhatsAppAvailable(), Presence: lookup.Unknown}
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var g errgroup.Group
	g.Go(func() error {
		opt, err := s.st.GetOpt(sctx, n.E164)
		switch {
		case err == nil:
			f.OptedOut = opt.OptOut
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("get opt-out: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		offers, err := s.st.OffersSince(sctx, n.E164, now.Add(-s.policy.OfferWindow()))
		if err != nil {
			return fmt.Errorf("get offers: %w", err)
		}
		f.Offers = offers
		return nil
	})
	if s.chats != nil && s.policy.NeedsChatCount() {
		g.Go(func() error {
			count, err := s.chats.OpenAgentChats(sctx)
			if err != nil {
				return fmt.Errorf("count open agent chats: %w", err)
			}
			f.OpenAgentChats = count
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", "", err
	}
	// Presence last, and only for a caller the other facts leave eligible: an opted-out or
	// cooling-down caller costs no lookup (an external checker may be paid per query). Checked
	// as if present: any reason then is one presence cannot change.
	asIfPresent := f
	asIfPresent.Presence = lookup.Yes
	if r := s.policy.Check(asIfPresent); r != "" {
		return r, "", nil
	}
	if s.presence != nil {
		// Presence sources honour their own budget; a failure is "unknown", not a refusal.
		if a, err := s.presence.Status(ctx, n.E164); err != nil {
			s.log.Warn("presence lookup failed; treating as unknown", "err", err)
		} else {
			f.Presence = a.Status
		}
	}
	return s.policy.Check(f), f.Presence.String(), nil
}

// Decide creates the session, applies the policy and records the offer. An error means the
// store is unusable: the IVR answers 503 so the PBX keeps the caller.
func (s *Service) Decide(ctx context.Context, c *ivr.CallInfo) (Decision, error) {
	now := s.now()
	sess := &store.Session{
		ID: NewSessionID(), CallID: c.CallID,
		CallerRaw: c.CallerRaw, Caller: c.Caller.E164, Region: c.Caller.Region, NumberType: string(c.Caller.Type),
		Queue: c.Queue, WaitEstimate: c.WaitEstimate, CustomerID: c.CustomerID, Language: c.Language,
		Context: c.Context, UserToUser: c.UserToUser, ReturnTo: c.ReturnTo, Instance: s.instance,
		State: StateNew, Steps: map[string]time.Time{StepInvite: now},
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.Deflect.SessionTTL),
	}
	if sess.Language == "" {
		sess.Language = s.LanguageFor(c.Caller.Region)
	}
	if sess.Context == nil {
		sess.Context = map[string]string{}
	}
	log := s.log.With("call_id", c.CallID, "session_id", sess.ID)
	// A caller deflected in the last 72 h is calling again: counted whatever happens next.
	s.stats.Called(ctx, sess.Caller)

	variant, _ := s.exp.Assign(sess.Caller)
	sess.Variant = variant.Name
	reason, prior, err := s.evaluate(ctx, c.Caller, c.Queue, c.WaitEstimate, variant.MinWait, now)
	if err != nil {
		s.m.decisions.WithLabelValues("error", "store-unavailable").Inc()
		log.Error("decide: cannot read policy facts", "err", err)
		return Decision{}, fmt.Errorf("decide: %w", err)
	}
	if reason == "" {
		reason = s.platformReason(ctx, sess)
	}
	if reason == "" && s.budget != nil {
		sctx, cancel := context.WithTimeout(ctx, s.timeout)
		if !s.budget.Admit(sctx) {
			reason = ReasonWhatsAppBusy
		}
		cancel()
	}
	sess.Steps[StepDecided] = s.now()
	sess.PresencePrior = prior // scored against the delivery outcome (deflectd_presence_offer_outcomes_total)
	if reason != "" {
		sess.State, sess.Outcome, sess.Reason = StateEnded, outcome(OutcomeIneligible, reason), reason
		sess.Steps[StepEnded] = sess.Steps[StepDecided]
	} else {
		sess.State = StateOffered
	}

	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.st.CreateSession(sctx, sess); err != nil {
		if reason != "" {
			// The verdict stands without its record: a 480 keeps the caller in queue just as well.
			log.Warn("decide: session not stored", "err", err, "reason", reason)
			s.m.decisions.WithLabelValues("ineligible", reason).Inc()
			return Decision{Offer: false, Reason: reason, SessionID: sess.ID, Language: sess.Language}, nil
		}
		s.m.decisions.WithLabelValues("error", "store-unavailable").Inc()
		log.Error("decide: create session", "err", err)
		return Decision{}, fmt.Errorf("decide: create session: %w", err)
	}
	if reason != "" {
		s.m.decisions.WithLabelValues("ineligible", reason).Inc()
		s.stats.Count(ctx, stats.SessionDims(sess), stats.Ineligible, 1)
		log.Info("not offered", "reason", reason)
		return Decision{Offer: false, Reason: reason, SessionID: sess.ID, Language: sess.Language}, nil
	}
	if err := s.st.RecordOffer(sctx, sess.Caller, now, s.policy.OfferWindow()); err != nil {
		s.m.decisions.WithLabelValues("error", "store-unavailable").Inc()
		log.Error("decide: record offer", "err", err)
		s.end(ctx, sess.ID, outcome(OutcomeFailed, "store-unavailable"), "store-unavailable", nil)
		return Decision{}, fmt.Errorf("decide: record offer: %w", err)
	}
	s.m.decisions.WithLabelValues("offer", "").Inc()
	s.m.offers.Inc()
	s.stats.Count(ctx, stats.SessionDims(sess), stats.Offered, 1)
	s.m.experiment(sess.Variant, "offered")
	log.Info("offered", "queue", c.Queue, "language", sess.Language, "variant", sess.Variant)
	return Decision{Offer: true, SessionID: sess.ID, Language: sess.Language, Variant: sess.Variant,
		OfferRepeats: variant.OfferRepeats}, nil
}

// Decision is ivr.Decision (an alias keeps the engine's signatures readable).
type Decision = ivr.Decision

// Accept sends the template and waits for its status while the caller hears a hold tone.
func (s *Service) Accept(ctx context.Context, sessionID string) ivr.AcceptResult {
	return s.accept(ctx, sessionID, true)
}

// accept sends the session's template; with waitStatus it also waits (up to the confirmation
// budget) for the message's first status, else the Graph API's acceptance is the answer.
func (s *Service) accept(ctx context.Context, sessionID string, waitStatus bool) ivr.AcceptResult {
	start := time.Now() // the IVR calls Accept right after the key press: the DTMF→send clock starts here
	log := s.log.With("session_id", sessionID)
	s.m.accepts.Inc()
	fail := func(reason string, err error) ivr.AcceptResult {
		log.Warn("not deflected", "reason", reason, "err", err)
		s.m.sends.WithLabelValues("error", reason).Inc()
		s.update(ctx, sessionID, func(x *store.Session) {
			x.Reason = reason
			x.Steps[StepFailed] = s.now()
		})
		return ivr.AcceptResult{Deflected: false, Reason: reason}
	}

	sctx, cancel := s.storeCtx(ctx)
	sess, err := s.st.UpdateSession(sctx, sessionID, func(x *store.Session) error {
		if x.State != StateOffered {
			return fmt.Errorf("session is %s, not offered", x.State)
		}
		x.State = StateSending
		stamp(x, StepAccepted, s.now())
		return nil
	})
	cancel()
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			return fail("store-unavailable", err)
		}
		return fail("session-error", err)
	}
	log = log.With("call_id", sess.CallID)
	s.stats.Count(ctx, stats.SessionDims(sess), stats.Accepted, 1)
	s.m.experiment(sess.Variant, "accepted")

	tpl, err := s.render(sess)
	if err != nil {
		return fail("template-params", err)
	}
	if !s.WhatsAppAvailable() {
		return fail(ReasonWhatsAppUnavailable, gobreaker.ErrOpenState)
	}
	// The send gets the whole confirmation budget; whatever is left after it is for the status.
	deadline := time.Now().Add(s.cfg.Deflect.ConfirmTimeout) // a real-clock deadline, whatever s.now is
	sendCtx, cancelSend := context.WithDeadline(ctx, deadline)
	var wrote sync.Once // the first attempt's request on the wire, not its retries
	sendCtx = httptrace.WithClientTrace(sendCtx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		wrote.Do(func() { s.m.dtmfToSend.Observe(time.Since(start).Seconds()) })
	}})
	sent, err := s.breaker.Execute(func() (Sent, error) { return s.sender.SendTemplate(sendCtx, tpl) })
	cancelSend()
	if err != nil {
		reason := sendReason(err)
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			reason = ReasonWhatsAppUnavailable
		}
		if reason == ReasonNotOnWhatsApp {
			s.learn(ctx, sess.Caller, false)
			s.m.countOffer(sess.PresencePrior, offerFailed) // rejected at send: no status will follow
		}
		s.observe(sess, "failed")
		return fail(reason, err)
	}
	s.m.sends.WithLabelValues("ok", "").Inc()
	s.stats.Count(ctx, stats.SessionDims(sess), stats.Sent, 1)
	s.stats.CountSentToday(ctx)
	log = log.With("wa_msg_id", sent.MessageID)
	s.update(ctx, sessionID, func(x *store.Session) {
		x.State = StateConfirming
		x.WAMessageID, x.WAID = sent.MessageID, sent.WAID
		stamp(x, StepSent, s.now())
	})
	if !waitStatus {
		s.observe(sess, "deflected")
		s.seed(ctx, sess, sent, "")
		log.Info("deflected", "status", "accepted by the Graph API")
		return ivr.AcceptResult{Deflected: true}
	}

	waitCtx, cancelWait := context.WithDeadline(ctx, deadline)
	u, got := s.hub.wait(waitCtx, sent.MessageID)
	cancelWait()
	switch {
	case !got && ctx.Err() != nil:
		// The caller hung up; Finish records abandoned. The message is out, so seed anyway.
		s.seed(ctx, sess, sent, "")
		return ivr.AcceptResult{Deflected: false, Reason: "hangup"}
	case !got:
		if s.cfg.Deflect.OnNoStatus == "failed" {
			s.observe(sess, "failed")
			return fail("no-status", nil)
		}
		log.Info("no status in time; treating as sent")
		u = StatusUpdate{MessageID: sent.MessageID, Status: ""}
	case u.Status == StatusFailed:
		// Presence is not learned here: OnStatus, which published this status, learns from it
		// (once, on whichever instance took the webhook).
		reason := failedReason(u.ErrorCode)
		s.observe(sess, "failed")
		// The webhook handler may have run before the message id was stored: record it here too.
		s.recordStatus(ctx, sessionID, u, nil)
		return fail(reason, fmt.Errorf("status failed: %d %s", u.ErrorCode, u.ErrorTitle))
	}
	s.recordStatus(ctx, sessionID, u, func(x *store.Session) { stamp(x, StepConfirmed, s.now()) }) // see above
	s.observe(sess, "deflected")
	s.seed(ctx, sess, sent, u.Status)
	log.Info("deflected", "status", u.Status)
	return ivr.AcceptResult{Deflected: true}
}

// failedReason maps a failed status's error code to a reason code.
func failedReason(code int) string {
	switch code {
	case 131026:
		return ReasonNotOnWhatsApp
	case 131047:
		return "window-closed"
	case 131048:
		return "spam-limit"
	case 130429, 131056:
		return "rate-limited"
	case 132000, 132001:
		return "config-error"
	case 0:
		return "message-failed"
	}
	return fmt.Sprintf("wa-%d", code)
}

func (s *Service) observe(sess *store.Session, result string) {
	if t, ok := sess.Steps[StepDecided]; ok {
		s.m.confirm.WithLabelValues(result).Observe(s.now().Sub(t).Seconds())
	}
}

// render builds the template message for a session.
func (s *Service) render(sess *store.Session) (Template, error) {
	tc := s.cfg.Deflect.Template
	t := Template{To: sess.Caller, Name: s.templateName(sess), Language: s.templateLanguage(sess.Language)}
	for _, p := range s.params {
		var b bytes.Buffer
		if err := p.Execute(&b, sess); err != nil {
			return Template{}, fmt.Errorf("render %s: %w", p.Name(), err)
		}
		v := strings.TrimSpace(b.String())
		if v == "" {
			v = "-" // Meta rejects empty body parameters; a dash keeps the message sendable.
		}
		t.BodyParams = append(t.BodyParams, v)
	}
	for _, choice := range tc.Buttons {
		t.QuickReplyPayloads = append(t.QuickReplyPayloads, ButtonPayload(sess.ID, choice))
	}
	return t, nil
}

// templateName is the session's template: its experiment variant's, else deflect.template.name.
func (s *Service) templateName(sess *store.Session) string {
	if v, ok := s.exp.Variant(sess.Variant); ok && v.Template != "" {
		return v.Template
	}
	return s.cfg.Deflect.Template.Name
}

// templateLanguage maps a session language (BCP 47) to the template's language code: exact
// match, then the base language ("en-GB" → "en"), then the default language's template (an
// approved template in another language beats no message at all).
func (s *Service) templateLanguage(lang string) string {
	m := s.cfg.Deflect.Template.Languages
	if v, ok := m[lang]; ok {
		return v
	}
	if base, _, found := strings.Cut(lang, "-"); found {
		if v, ok := m[base]; ok {
			return v
		}
	}
	if v, ok := m[s.cfg.IVR.DefaultLanguage]; ok {
		return v
	}
	if lang == "" {
		return s.cfg.IVR.DefaultLanguage
	}
	return lang
}

// Finish records how the call ended.
func (s *Service) Finish(ctx context.Context, sessionID string, o ivr.Outcome) {
	var out, reason string
	switch o.Result {
	case OutcomeDeflected, OutcomeDeclined, OutcomeTimeout, OutcomeAbandoned:
		out, reason = o.Result, o.Reason
	case OutcomeFailed:
		reason = o.Reason
		out = outcome(OutcomeFailed, reason)
	default:
		reason = o.Result
		out = outcome(OutcomeFailed, reason)
	}
	s.m.outcomes.WithLabelValues(o.Result, metricReason(o.Result, reason)).Inc()
	s.end(ctx, sessionID, out, reason, o.Path)
	s.countFinish(ctx, sessionID, o.Result)
	if o.Result == OutcomeDeflected && len(o.Path) > 0 {
		s.conversationPath(ctx, sessionID, o.Path)
	}
	s.log.Info("call finished", "session_id", sessionID, "outcome", out)
}

// countFinish records a call's end in the statistics: a deflection (with the queue time it
// saved, and for calls back), or a return to the queue by result.
func (s *Service) countFinish(ctx context.Context, sessionID, result string) {
	if s.stats == nil {
		return
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	sess, err := s.st.GetSession(sctx, sessionID)
	if err != nil {
		return
	}
	d := stats.SessionDims(sess)
	switch result {
	case OutcomeDeflected:
		s.stats.Deflect(sctx, sess.ID, sess.Caller, d, sess.WaitEstimate)
		s.m.experiment(sess.Variant, "deflected")
	case OutcomeDeclined, OutcomeTimeout, OutcomeFailed:
		s.stats.CountOnce(sctx, sess.ID, d, stats.Returned)
		s.stats.CountOnce(sctx, sess.ID, d, stats.Returned+":"+result)
	}
}

// metricReason keeps the outcome metric's reason label bounded: only failures carry one.
func metricReason(result, reason string) string {
	if result != OutcomeFailed {
		return ""
	}
	return reason
}

func (s *Service) end(ctx context.Context, id, out, reason string, path []string) {
	s.update(ctx, id, func(x *store.Session) {
		x.State, x.Outcome = StateEnded, out
		if reason != "" {
			x.Reason = reason
		}
		if path != nil {
			x.IVRPath = path
		}
		stamp(x, StepEnded, s.now())
	})
}

// update applies fn to the session with a bounded, cancellation-proof store call; failures are
// logged (the call itself has already been handled by then) and returned for callers that must
// know whether fn's last run was committed.
func (s *Service) update(ctx context.Context, id string, fn func(*store.Session)) error {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	_, err := s.st.UpdateSession(sctx, id, func(x *store.Session) error {
		if x.Steps == nil {
			x.Steps = map[string]time.Time{}
		}
		fn(x)
		x.UpdatedAt = s.now()
		return nil
	})
	if err != nil {
		s.log.Error("update session", "session_id", id, "err", err)
	}
	return err
}

// recordStatus merges the waited-for status into the session (with more, when not nil) and
// counts the offer's delivery outcome if this update settled it.
func (s *Service) recordStatus(ctx context.Context, id string, u StatusUpdate, more func(*store.Session)) {
	var prior, settled string
	err := s.update(ctx, id, func(x *store.Session) {
		prior, settled = x.PresencePrior, applyStatus(x, u.Status, u.ErrorCode)
		if more != nil {
			more(x)
		}
	})
	if err == nil {
		s.m.countOffer(prior, settled)
	}
}

// stamp records the first time a step happened (UpdateSession may retry fn).
func stamp(x *store.Session, step string, at time.Time) {
	if x.Steps == nil {
		x.Steps = map[string]time.Time{}
	}
	if _, ok := x.Steps[step]; !ok {
		x.Steps[step] = at
	}
}

func (s *Service) learn(ctx context.Context, e164 string, yes bool) {
	if s.learner == nil || e164 == "" {
		return
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	if err := s.learner.Learn(sctx, e164, yes, "learned"); err != nil {
		s.log.Warn("learn presence", "yes", yes, "err", err)
	}
}
