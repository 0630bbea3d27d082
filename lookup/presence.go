package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup/redact"
)

// Sources of a presence answer (Answer.Source, Fact.Source).
const (
	SourceLearned  = "learned"      // from WhatsApp outcomes (Learn); callers may refine it, e.g. "learned:131026"
	SourceImport   = "import"       // bulk import (ImportCSV, ImportRows)
	SourceOverride = "override"     // an operator's Override (API PUT)
	SourceStatic   = "static"       // lookup.presence.allow/deny and list_file
	SourceChecker  = "http-checker" // the external checker (live or cached in the store)
)

// Fact is what the presence chain keeps about a number in a shared store.
type Fact struct {
	E164    string
	Status  string // yes|no
	Source  string
	Since   time.Time
	Expires time.Time
}

// ErrNoFact is what Facts return when nothing (unexpired) is known about a number.
var ErrNoFact = errors.New("no presence fact")

// Facts is the storage the presence chain needs, declared here so that lookup depends on no
// store package; the engine adapts its store to it (deflect.PresenceFacts). Errors other than
// ErrNoFact are the store's, wrapped as they came (an unavailable backend stays recognisable).
type Facts interface {
	GetPresence(ctx context.Context, e164 string) (Fact, error)
	SetPresence(ctx context.Context, f Fact) error
	DeletePresence(ctx context.Context, e164 string) error
}

var _ Presence = (*Chain)(nil)

// Chain is the Presence implementation: it asks, in order and inside one latency budget
// (lookup.presence.budget),
//
//  1. facts in the store — learned from WhatsApp outcomes, imported, overridden, or cached
//     checker answers — bounded by lookup.presence.store_timeout;
//  2. the static allow/deny list (config and list_file, reloaded when the file changes);
//  3. the external HTTP checker (lookup.presence.http.url, if set) bounded by
//     lookup.presence.http.timeout, behind a circuit breaker; its yes/no answers are cached in
//     the store with positive/negative TTLs.
//
// The first source that knows answers. When none knows, or the budget is spent, the answer is
// Unknown: Status never blocks a call setup past the budget.
//
// For the API (GET/PUT/DELETE /api/v1/presence/{number}, POST /api/v1/presence): Inspect,
// Override, Forget and ImportRows. For the engine: Status and Learn.
type Chain struct {
	cfg     configs.PresenceConfig
	region  string
	facts   Facts // may be nil: no learned facts, no cache
	checker *checker
	m       *metrics
	log     *slog.Logger

	static atomic.Pointer[staticList]

	// list_file watching
	listMu    sync.Mutex // serialises reloads and guards listMtime/listSize
	listMtime time.Time
	listSize  int64
	stop      chan struct{}
	stopOnce  sync.Once
	bg        sync.WaitGroup // watcher and cache writes
}

// Option tunes a Chain.
type Option func(*Chain)

// WithLogger sets the logger (default: slog.Default()). Numbers are logged masked.
func WithLogger(l *slog.Logger) Option {
	return func(c *Chain) { c.log = l }
}

// NewPresence builds the chain from cfg.Presence (cfg.DefaultRegion reads national numbers in
// the lists and imports). facts may be nil (static list and checker only). Metrics are
// registered with reg when it is not nil. When cfg.Presence.ListFile is set, a goroutine polls
// it for changes until Close.
func NewPresence(cfg configs.LookupConfig, facts Facts, reg prometheus.Registerer, opts ...Option) (*Chain, error) {
	p := cfg.Presence
	if p.Budget <= 0 {
		return nil, errors.New("new presence: lookup.presence.budget must be positive")
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("new presence: %w", err)
	}
	c := &Chain{
		cfg:    p,
		region: cfg.DefaultRegion,
		facts:  facts,
		m:      m,
		log:    slog.Default(),
		stop:   make(chan struct{}),
	}
	for _, opt := range opts {
		opt(c)
	}
	c.log = c.log.With("component", "presence")
	if p.HTTP.URL != "" {
		if c.checker, err = newChecker(p.HTTP, m); err != nil {
			return nil, fmt.Errorf("new presence: %w", err)
		}
	}
	l, mtime, size, err := loadStatic(p.Allow, p.Deny, p.ListFile, c.region)
	if err != nil {
		return nil, fmt.Errorf("new presence: %w", err)
	}
	c.static.Store(l)
	c.listMtime, c.listSize = mtime, size
	if p.ListFile != "" {
		poll := p.ListPoll
		if poll <= 0 {
			poll = 5 * time.Second
		}
		c.bg.Add(1)
		go c.watchList(poll)
	}
	return c, nil
}

// Close stops the list watcher and waits for pending cache writes. It does not close facts.
func (c *Chain) Close() error {
	c.stopOnce.Do(func() { close(c.stop) })
	c.bg.Wait()
	return nil
}

// Status answers whether e164 is on WhatsApp, within the budget. The error is non-nil only for
// a malformed e164; source failures are logged, counted and read as Unknown.
func (c *Chain) Status(ctx context.Context, e164 string) (Answer, error) {
	if !IsE164(e164) {
		return Answer{}, fmt.Errorf("presence status: %q is not E.164", redact.Mask(e164))
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Budget)
	defer cancel()
	a, source := c.status(ctx, e164)
	c.m.lookupSeconds.Observe(time.Since(start).Seconds())
	c.m.lookups.WithLabelValues(source, a.Status.String()).Inc()
	return a, nil
}

func (c *Chain) status(ctx context.Context, e164 string) (Answer, string) {
	if a, ok := c.fromStore(ctx, e164); ok {
		return a, "store"
	}
	if a, ok := c.static.Load().get(e164); ok {
		return a, "static"
	}
	if c.checker != nil && ctx.Err() == nil {
		if a, ok := c.fromChecker(ctx, e164); ok {
			return a, "checker"
		}
	}
	return Answer{Status: Unknown}, "none"
}

func (c *Chain) fromStore(ctx context.Context, e164 string) (Answer, bool) {
	if c.facts == nil {
		return Answer{}, false
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	f, err := c.facts.GetPresence(sctx, e164)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoFact):
		c.m.cache.WithLabelValues("miss").Inc()
		return Answer{}, false
	default:
		reason := "error"
		if sctx.Err() != nil {
			reason = "timeout"
		}
		c.m.sourceErrors.WithLabelValues("store", reason).Inc()
		c.log.Warn("presence facts unavailable", "caller", redact.Mask(e164), "err", err)
		return Answer{}, false
	}
	a, ok := factAnswer(f, time.Now())
	if !ok {
		c.m.cache.WithLabelValues("miss").Inc()
		return Answer{}, false
	}
	c.m.cache.WithLabelValues("hit").Inc()
	return a, true
}

// factAnswer reads a stored fact; expired or unreadable facts count as absent (backends
// expire them too, this guards against clock skew and odd data).
func factAnswer(f Fact, now time.Time) (Answer, bool) {
	if !f.Expires.IsZero() && !now.Before(f.Expires) {
		return Answer{}, false
	}
	s, ok := parseYesNo(f.Status)
	if !ok {
		return Answer{}, false
	}
	return Answer{Status: s, Source: f.Source, Since: f.Since, Expires: f.Expires}, true
}

func (c *Chain) fromChecker(ctx context.Context, e164 string) (Answer, bool) {
	s, err := c.checker.check(ctx, e164)
	if err != nil {
		reason := "error"
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			reason = "timeout"
		}
		c.m.sourceErrors.WithLabelValues("checker", reason).Inc()
		c.log.Debug("presence checker failed", "caller", redact.Mask(e164), "err", err)
		return Answer{}, false
	}
	if s == Unknown {
		return Answer{}, false
	}
	now := time.Now()
	ttl := c.cfg.HTTP.PositiveTTL
	if s == No {
		ttl = c.cfg.HTTP.NegativeTTL
	}
	a := Answer{Status: s, Source: SourceChecker, Since: now, Expires: now.Add(ttl)}
	if c.facts != nil {
		// Cache off the call path: the answer is already in hand.
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.storeTimeout())
			defer cancel()
			if err := c.facts.SetPresence(wctx, answerFact(e164, a)); err != nil {
				c.m.sourceErrors.WithLabelValues("store", "write").Inc()
				c.log.Warn("cache presence answer", "caller", redact.Mask(e164), "err", err)
			}
		}()
	}
	return a, true
}

func (c *Chain) storeTimeout() time.Duration {
	if c.cfg.StoreTimeout > 0 {
		return c.cfg.StoreTimeout
	}
	return c.cfg.Budget
}

func answerFact(e164 string, a Answer) Fact {
	return Fact{E164: e164, Status: a.Status.String(), Source: a.Source, Since: a.Since, Expires: a.Expires}
}

// relearnAfter: a fact learned again with the same status and source within this time is left
// as it is. Every delivered and read status and every reply of a conversation proves "yes"
// again; rewriting the fact each time would cost a store write per webhook and count the same
// guess over and over in presence_learned_total.
const relearnAfter = time.Hour

// Learn records what a WhatsApp outcome proved: yes (delivered, read, an inbound message) for
// lookup.presence.yes_ttl, no (error 131026) for lookup.presence.no_ttl. source defaults to
// SourceLearned. It also counts whether the earlier answer agreed (presence_learned_total). The
// same lesson within relearnAfter of the last is a no-op.
func (c *Chain) Learn(ctx context.Context, e164 string, yes bool, source string) error {
	if !IsE164(e164) {
		return fmt.Errorf("learn presence: %q is not E.164", redact.Mask(e164))
	}
	if c.facts == nil {
		return errors.New("learn presence: no store")
	}
	if source == "" {
		source = SourceLearned
	}
	status, ttl := Yes, c.cfg.YesTTL
	if !yes {
		status, ttl = No, c.cfg.NoTTL
	}
	prior := Unknown
	now := time.Now()
	if f, err := c.facts.GetPresence(ctx, e164); err == nil {
		if a, ok := factAnswer(f, now); ok {
			if a.Status == status && a.Source == source && now.Sub(a.Since) < relearnAfter {
				return nil // the same lesson again (the next status or reply of a conversation)
			}
			prior = a.Status
		}
	} else if a, ok := c.static.Load().get(e164); ok {
		prior = a.Status
	}
	f := Fact{E164: e164, Status: status.String(), Source: source, Since: now, Expires: now.Add(ttl)}
	if err := c.facts.SetPresence(ctx, f); err != nil {
		return fmt.Errorf("learn presence: %w", err)
	}
	c.m.learned.WithLabelValues(status.String(), prior.String()).Inc()
	return nil
}

// Override sets what is known about e164 (API PUT and POST batches, admin): status Yes or No
// for ttl (0 = the learned TTL for that status, lookup.presence.yes_ttl / no_ttl), with source
// ("" = SourceOverride). Status Unknown forgets instead. The signature matches
// deflect/api.PresenceAdmin, which *Chain implements (Inspect, Override, Forget).
func (c *Chain) Override(ctx context.Context, e164 string, status Status, source string, ttl time.Duration) error {
	if !IsE164(e164) {
		return fmt.Errorf("override presence: %q is not E.164", redact.Mask(e164))
	}
	if status == Unknown {
		return c.Forget(ctx, e164)
	}
	if source == "" {
		source = SourceOverride
	}
	_, err := c.put(ctx, e164, status, source, ttl)
	return err
}

func (c *Chain) put(ctx context.Context, e164 string, status Status, source string, ttl time.Duration) (Answer, error) {
	if c.facts == nil {
		return Answer{}, errors.New("set presence: no store")
	}
	if ttl <= 0 {
		ttl = c.cfg.YesTTL
		if status == No {
			ttl = c.cfg.NoTTL
		}
	}
	now := time.Now()
	a := Answer{Status: status, Source: source, Since: now, Expires: now.Add(ttl)}
	if err := c.facts.SetPresence(ctx, answerFact(e164, a)); err != nil {
		return Answer{}, fmt.Errorf("set presence: %w", err)
	}
	return a, nil
}

// Forget deletes the stored fact for e164 (API DELETE). The static list, if it names the
// number, still answers afterwards.
func (c *Chain) Forget(ctx context.Context, e164 string) error {
	if !IsE164(e164) {
		return fmt.Errorf("forget presence: %q is not E.164", redact.Mask(e164))
	}
	if c.facts == nil {
		return errors.New("forget presence: no store")
	}
	if err := c.facts.DeletePresence(ctx, e164); err != nil && !errors.Is(err, ErrNoFact) {
		return fmt.Errorf("forget presence: %w", err)
	}
	return nil
}

// Inspect reports what deflectd knows about e164 without asking the external checker (API GET
// /api/v1/presence/{number}): the stored fact, else the static list, else Unknown with an
// empty Source. Unlike Status it returns store errors (wrapping the store's own error when the
// backend is down), so the API can answer 503.
func (c *Chain) Inspect(ctx context.Context, e164 string) (Answer, error) {
	if !IsE164(e164) {
		return Answer{}, fmt.Errorf("inspect presence: %q is not E.164", redact.Mask(e164))
	}
	if c.facts != nil {
		f, err := c.facts.GetPresence(ctx, e164)
		switch {
		case err == nil:
			if a, ok := factAnswer(f, time.Now()); ok {
				return a, nil
			}
		case !errors.Is(err, ErrNoFact):
			return Answer{}, fmt.Errorf("inspect presence: %w", err)
		}
	}
	if a, ok := c.static.Load().get(e164); ok {
		return a, nil
	}
	return Answer{Status: Unknown}, nil
}

// ReloadList re-reads the static lists now (the watcher calls it when list_file changes). On
// error the previous list stays in force.
func (c *Chain) ReloadList() error {
	c.listMu.Lock()
	defer c.listMu.Unlock()
	return c.reloadLocked()
}

func (c *Chain) reloadLocked() error {
	l, mtime, size, err := loadStatic(c.cfg.Allow, c.cfg.Deny, c.cfg.ListFile, c.region)
	if err != nil {
		return err
	}
	c.static.Store(l)
	c.listMtime, c.listSize = mtime, size
	return nil
}

func (c *Chain) watchList(every time.Duration) {
	defer c.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.checkList()
	}
}

// checkList reloads list_file when its modification time or size changed.
func (c *Chain) checkList() {
	c.listMu.Lock()
	defer c.listMu.Unlock()
	st, err := os.Stat(c.cfg.ListFile)
	if err != nil {
		c.log.Warn("presence list file unreadable; keeping the loaded list", "err", err)
		return
	}
	if st.ModTime().Equal(c.listMtime) && st.Size() == c.listSize {
		return
	}
	if err := c.reloadLocked(); err != nil {
		c.log.Error("presence list file invalid; keeping the loaded list", "err", err)
		// Remember this version so the same broken file is not re-parsed every tick.
		c.listMtime, c.listSize = st.ModTime(), st.Size()
		return
	}
	c.log.Info("presence list reloaded", "entries", len(c.static.Load().status))
}
