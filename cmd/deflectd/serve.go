package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sony/gobreaker/v2"
	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/observed"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/ivr/guard"
	"github.com/deflectd/deflectd/ivr/media"
	"github.com/deflectd/deflectd/ivr/voice"
	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
	"github.com/emiago/sipgo/sip"
)

func newServeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			log := g.logger(cfg.Log)
			ctx, stop := signalContext(cmd.Context(), log)
			defer stop()
			return serve(ctx, cfg, log)
		},
	}
}

// signalContext ends on the first SIGINT/SIGTERM (graceful shutdown); a second one exits at once.
func signalContext(parent context.Context, log *slog.Logger) (context.Context, func()) {
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			log.Info("shutting down", "signal", s.String())
			cancel()
		case <-ctx.Done():
			return
		}
		if s, ok := <-sigs; ok {
			log.Warn("second signal, exiting now", "signal", s.String())
			os.Exit(1)
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel() }
}

// serve runs the gateway until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg configsConfig, log *slog.Logger) error {
	applyRuntime(cfg.Runtime, log)
	// The few lines sipgo logs outside any user agent's logger (connection bookkeeping) go
	// through ours too: masked, warnings and errors only.
	sip.SetDefaultLogger(ivr.SIPLogger(log))
	g, err := newGateway(cfg, log)
	if err != nil {
		return err
	}
	return g.run(ctx)
}

// gateway is one deflectd process: every part, wired explicitly in newGateway in the order
// data flows (store → WhatsApp → presence → engine → SIP → HTTP).
type gateway struct {
	cfg      configs.Config
	log      *slog.Logger
	instance string
	reg      *prometheus.Registry

	store    store.Store
	storeCB  *observed.Observed // the same store: metrics and the circuit breaker around it
	sandbox  *sandbox.Sandbox   // nil unless whatsapp.provider is sandbox
	client   *whatsapp.Client
	consumer *whatsapp.Consumer
	presence *lookup.Chain
	stats    *stats.Recorder
	inbox    *inbox.Service
	notifier *notify.Notifier
	desk     *inbox.Desk
	engine   *deflect.Service
	// templates manages the WhatsApp templates (nil without a business account).
	templates *templateAdmin
	media     *media.Engine
	sip       *ivr.Server
	voice     *voice.Server // WhatsApp calls bridged to the queue; nil unless voice.enabled
	httpLn    net.Listener
	http      *http.Server
	admin     *http.Server // pprof on http.admin_listen; nil when unset
	draining  atomic.Bool
	signIn    *api.SignInLinks // one-time console sign-in links of the demo accounts
	// demoLinks logs the demo accounts' sign-in links once serving.
	demoLinks func()
	sipUp     atomic.Bool // the SIP server is serving (readyz)

	closers []func() // undone in reverse by close
}

// newGateway builds every part and binds the listeners; run starts serving.
func newGateway(cfg configs.Config, log *slog.Logger) (_ *gateway, err error) {
	g := &gateway{cfg: cfg, log: log.With("component", "main"), instance: instanceName(), reg: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			g.close() // what was built so far
		}
	}()
	g.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := g.buildStore(cfg.Store, log); err != nil {
		return nil, err
	}

	// Demo accounts (embedded default only): decided on the configured, not the bound, address.
	g.signIn = api.NewSignInLinks()
	demo := addDemoAccounts(&cfg, g.signIn, g.log)

	// HTTP listener first: the sandbox's Graph API and webhooks live on it.
	if g.httpLn, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP.Listen, err)
	}
	g.closers = append(g.closers, func() { _ = g.httpLn.Close() })
	httpAddr := dialable(g.httpLn.Addr().String())
	cfg.HTTP.Listen = httpAddr // the sandbox's default webhook URL is our own bound address
	g.demoLinks = func() { logDemoLinks(demo, httpAddr, g.log) }

	queue, webhook, err := g.buildWhatsApp(&cfg, httpAddr, log)
	if err != nil {
		return nil, err
	}
	if err := g.buildEngine(&cfg, queue, log); err != nil {
		return nil, err
	}
	g.cfg = cfg
	if err := g.buildSIP(cfg, log); err != nil {
		return nil, err
	}
	if cfg.Voice.Enabled {
		if err := g.buildVoice(&cfg, httpAddr, log); err != nil {
			return nil, err
		}
		g.cfg.Voice = cfg.Voice
		g.inbox.EnableCalls(g.engine)
	}
	g.buildHTTP(cfg, webhook, log)
	if cfg.HTTP.AdminListen != "" {
		if g.admin, _, err = startAdmin(cfg.HTTP.AdminListen, g.log); err != nil {
			return nil, err
		}
		g.closers = append(g.closers, func() { _ = g.admin.Close() })
	}
	return g, nil
}

// buildStore opens the store: memory (one process) or Redis (shared by every instance).
func (g *gateway) buildStore(cfg configs.StoreConfig, log *slog.Logger) error {
	evictions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "deflectd", Subsystem: "store", Name: "evictions_total",
		Help: "Records the memory store dropped to stay within store.memory.* (oldest first), by kind.",
	}, []string{"kind"})
	if cfg.Backend == "memory" {
		for _, k := range []string{memstore.EvictSession, memstore.EvictOnce, memstore.EvictPresence,
			memstore.EvictDoc, memstore.EvictOffers, memstore.EvictStream} {
			evictions.WithLabelValues(k)
		}
		g.reg.MustRegister(evictions)
	}
	raw, err := openStoreEvicting(cfg, func(kind string) { evictions.WithLabelValues(kind).Inc() })
	if err != nil {
		return err
	}
	// Every part gets the store through the breaker: while Redis is down its calls fail at once
	// with ErrUnavailable (callers refuse new calls, return calls in progress to the queue)
	// instead of each waiting out its timeout.
	g.storeCB = observed.Wrap(raw, "store", g.reg, observed.Options{
		Failures: cfg.BreakerFailures, Cooldown: cfg.BreakerCooldown, Logger: log,
	})
	g.store = g.storeCB
	g.closers = append(g.closers, func() { _ = g.store.Close() })
	return nil
}

// buildWhatsApp makes the sandbox in process (embedded default) or points at Meta's Cloud API,
// and the client and webhook receiver; the event queue is the store's stream.
func (g *gateway) buildWhatsApp(cfg *configs.Config, httpAddr string, log *slog.Logger) (whatsapp.Queue, *whatsapp.Webhook, error) {
	baseURL := cfg.WhatsApp.BaseURL
	if cfg.WhatsApp.Provider == "sandbox" {
		// Unset sandbox secrets are per-process random values: the sandbox and our client and
		// webhook agree on them, and nothing guessable is ever accepted.
		for _, s := range []*configs.Secret{&cfg.WhatsApp.AccessToken, &cfg.WhatsApp.AppSecret, &cfg.WhatsApp.VerifyToken} {
			if !s.IsSet() {
				*s = configs.Secret(randomHex(16))
			}
		}
		g.sandbox = sandbox.New(sandbox.FromConfig(*cfg), log)
		g.closers = append(g.closers, g.sandbox.Close)
		if baseURL == "" {
			baseURL = "http://" + httpAddr + "/sandbox/graph"
		}
	}
	var err error
	if g.client, err = newCloudAPIClient(cfg.WhatsApp, baseURL, g.store, log, g.reg); err != nil {
		return nil, nil, err
	}
	queue := whatsapp.AdaptStreams(g.store, func(m store.StreamMessage) whatsapp.QueueMessage {
		return whatsapp.QueueMessage{ID: m.ID, Payload: m.Payload}
	})
	webhook := whatsapp.NewWebhook(whatsapp.WebhookConfig{
		AppSecret:   cfg.WhatsApp.AppSecret.Reveal(),
		VerifyToken: cfg.WhatsApp.VerifyToken.Reveal(),
		MaxBody:     cfg.WhatsApp.WebhookMaxBody,
	}, queue, log, g.reg)
	return queue, webhook, nil
}

// buildEngine makes presence, statistics, the inbox, notifications, the engine and the
// consumer that feeds webhook events exactly once to the engine, then to the inbox.
func (g *gateway) buildEngine(cfg *configs.Config, queue whatsapp.Queue, log *slog.Logger) error {
	var err error
	// Presence: learned and imported facts in the store, static lists, optional HTTP checker.
	if g.presence, err = lookup.NewPresence(cfg.Lookup, deflect.PresenceFacts(g.store), g.reg, lookup.WithLogger(log)); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	g.closers = append(g.closers, func() { _ = g.presence.Close() })

	// Outcome statistics: daily counters in the store, shared by every instance.
	g.stats = stats.NewRecorder(g.store, cfg.Stats.Retention, log)

	// Conversations: opt-out keywords, the menu bot, agents and an optional external desk.
	cfg.Inbox.TemplateTexts = definedTexts(*cfg)
	if g.inbox, g.desk, err = inbox.FromConfig(*cfg, g.store, g.client, g.stats, g.instance, log); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}

	g.notifier = notify.New(g.store, g.client, notify.Config{
		Languages: cfg.Deflect.Template.Languages, DefaultLanguage: cfg.IVR.DefaultLanguage,
		Templates: notifyTemplates(*cfg),
	}, log)

	if g.engine, err = deflect.New(deflect.Options{
		Config:   *cfg,
		Store:    g.store,
		Sender:   deflect.WhatsAppSender(g.client),
		Presence: g.presence,
		Learner:  g.presence,
		Chats:    g.inbox,
		// Offers are admitted at the number's send rate: nobody is offered what cannot be sent.
		Budget:   &deflect.SendBudget{Bucket: g.store, Key: "wa:admit:" + cfg.WhatsApp.PhoneNumberID, Rate: cfg.WhatsApp.Throughput},
		Stats:    g.stats,
		Registry: g.reg,
		Logger:   log,
		Instance: g.instance,
		Breaker:  gobreaker.Settings{Timeout: cfg.WhatsApp.BreakerCooldown},
	}); err != nil {
		return err
	}
	if g.templates, err = newTemplateAdmin(*cfg, g.client, g.engine); err != nil {
		return err
	}
	for _, m := range templateMismatches(*cfg) {
		log.Warn("template definitions do not fit what deflectd sends: Meta will refuse these sends", "problem", m)
	}
	g.consumer = &whatsapp.Consumer{
		Queue:     queue,
		Deduper:   g.store,
		Handler:   g.handleEvent,
		Name:      g.instance,
		Log:       log,
		Metrics:   whatsapp.NewConsumerMetrics(g.reg),
		DedupeTTL: cfg.WhatsApp.DedupeWindow,
		ClaimIdle: cfg.WhatsApp.WebhookClaimIdle,
	}
	return nil
}

// buildSIP makes the prompts, the media engine, the request screen and the IVR.
func (g *gateway) buildSIP(cfg configs.Config, log *slog.Logger) error {
	prompts, err := media.LoadPrompts(cfg.IVR.PromptsDir)
	if err != nil {
		return err
	}
	for i, v := range cfg.Deflect.Experiments {
		if v.PromptsDir != "" {
			if err := prompts.AddSet(v.Name, v.PromptsDir); err != nil {
				return fmt.Errorf("deflect.experiments[%d].prompts_dir: %w", i, err)
			}
		}
	}
	if g.media, err = media.NewEngine(media.EngineConfig{PortMin: cfg.RTP.PortMin, PortMax: cfg.RTP.PortMax, BindIP: mediaBindIP(cfg.SIP)}, prompts, log, g.reg); err != nil {
		return err
	}
	g.closers = append(g.closers, func() { _ = g.media.Close() })
	// The SIP request screen: scanner silence and RFC 4475 checks before the IVR sees a request.
	// sip.allow_cidrs, sip.pike, sip.max_message_size and sip.auth are the IVR's own.
	sipGuard, err := guard.New(cfg.SIP, g.reg, guard.Options{})
	if err != nil {
		return err
	}
	g.sip, err = ivr.New(ivr.Config{
		SIP:          cfg.SIP,
		IVR:          cfg.IVR,
		OnDecline:    cfg.Deflect.OnDecline,
		ReturnTarget: cfg.Deflect.ReturnTarget,
		Guard:        sipGuard,
	}, g.engine, g.media, prompts, ivr.LookupNormalizer(cfg.Lookup.DefaultRegion), log, g.reg)
	return err
}

// buildHTTP makes the HTTP server: health, metrics, webhooks, the sandbox, the API, the console.
func (g *gateway) buildHTTP(cfg configs.Config, webhook *whatsapp.Webhook, log *slog.Logger) {
	var sandboxHandler http.Handler
	if g.sandbox != nil {
		sandboxHandler = g.sandbox.Handler()
	}
	g.http = &http.Server{
		Handler: api.NewWithInbox(api.Options{
			API:          cfg.API,
			MaxBodyBytes: cfg.HTTP.MaxBodyBytes,
			Region:       cfg.Lookup.DefaultRegion,
			Engine:       g.engine,
			Deflector:    g.engine,
			Idempotency:  g.store,
			Sessions:     g.store,
			Presence:     g.presence,
			Stats: api.StatsOptions{Source: g.store, Variants: experimentVariants(cfg),
				Prices: stats.Prices{Currency: cfg.Stats.Currency, Table: cfg.Stats.Prices}},
			Webhook:          webhook,
			Sandbox:          sandboxHandler,
			Gatherer:         g.reg,
			Store:            g.store,
			Draining:         g.isDraining,
			SIPServing:       g.sipUp.Load,
			StoreBreakerOpen: g.storeCB.Open,
			Degraded:         g.engine.Degraded,
			Templates:        g.templateAPI(),
			Logger:           log,
		}, api.InboxOptions{
			Inbox:        g.inbox,
			Desk:         g.desk,
			Sessions:     g.store,
			Templates:    inbox.ConsoleTemplates(cfg),
			NotifySender: g.client,
			NotifyStore:  g.store,
			NotifyConfig: notify.Config{Languages: cfg.Deflect.Template.Languages, DefaultLanguage: cfg.IVR.DefaultLanguage,
				Templates: notifyTemplates(cfg)},
			SignIn: g.signIn,
		}),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		IdleTimeout:       cfg.HTTP.IdleTimeout,
	}
}

// startAdmin serves net/http/pprof on its own listener and mux (never on the public one), so
// profiles can be taken under load from loopback or an operator network only.
func startAdmin(addr string, log *slog.Logger) (*http.Server, net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen admin %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin listener stopped", "err", err)
		}
	}()
	log.Info("pprof listening", "admin", ln.Addr().String())
	return srv, ln.Addr(), nil
}

// handleEvent is the webhook consumer's handler: the engine first (session status, presence,
// the message recorded in the conversation), then the inbox (opt-out, bot, agents). An error
// makes the consumer retry; both sides are idempotent per event.
func (g *gateway) handleEvent(ctx context.Context, e whatsapp.Event) error {
	if err := g.engine.HandleEvent(ctx, e); err != nil {
		return err
	}
	return g.inbox.HandleEvent(ctx, e)
}

func (g *gateway) isDraining() bool { return g.draining.Load() || g.sip.Draining() }

// run serves until ctx ends, then stops in order: drain SIP (calls finish, new ones get 503),
// stop SIP, stop HTTP (webhooks were still needed by the draining calls), stop the background
// workers, close the parts.
func (g *gateway) run(ctx context.Context) error {
	defer g.close()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	goBG := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(bg) }()
	}
	if g.sandbox != nil {
		g.sandbox.Start(bg)
	}
	goBG(g.engine.Run)
	// A lease says this instance is alive; the reconciler ends what dead instances left behind.
	goBG(g.engine.Heartbeat)
	goBG(func(ctx context.Context) { g.engine.RunReconciler(ctx, g.cfg.Deflect.ReconcileInterval) })
	goBG(func(ctx context.Context) { g.inbox.Run(ctx, 0) })
	goBG(func(ctx context.Context) {
		runTemplateSync(ctx, g.templates, g.cfg.WhatsApp.TemplateSyncInterval, g.log)
	})
	goBG(func(ctx context.Context) {
		runNumberHealth(ctx, g.client, g.engine, g.cfg.WhatsApp.TemplateSyncInterval, g.log)
	})
	goBG(func(ctx context.Context) {
		if err := g.desk.Run(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("desk webhooks stopped", "err", err)
		}
	})
	// Notifications scheduled for later (send_at) are sent by whichever instance is alive then.
	goBG(func(ctx context.Context) { g.notifier.RunScheduler(ctx, notifyPoll) })
	goBG(func(ctx context.Context) {
		if err := g.consumer.Run(ctx); err != nil && ctx.Err() == nil {
			g.log.Error("webhook consumer stopped", "err", err)
		}
	})

	sipCtx, stopSIP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSIP()
	errc := make(chan error, 2)
	sipDone := make(chan error, 1)
	g.sipUp.Store(true)
	go func() {
		err := g.sip.Serve(sipCtx)
		g.sipUp.Store(false)
		sipDone <- err
	}()
	voiceDone := make(chan error, 1)
	if g.voice != nil {
		go func() { voiceDone <- g.voice.Serve(sipCtx) }()
	} else {
		voiceDone <- nil
	}
	go func() {
		if err := g.http.Serve(g.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve http: %w", err)
		}
	}()
	g.log.Info("deflectd serving", g.servingAttrs()...)
	if g.demoLinks != nil {
		g.demoLinks()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case runErr = <-sipDone:
		sipDone <- runErr // let the shutdown below find it
	}

	g.draining.Store(true)
	drainCtx, cancel := context.WithTimeout(context.Background(), g.cfg.SIP.DrainTimeout)
	if err := g.sip.Drain(drainCtx); err != nil {
		g.log.Warn("drain incomplete; ending remaining calls", "err", err)
	}
	if g.voice != nil {
		if err := g.voice.Drain(drainCtx); err != nil {
			g.log.Warn("whatsapp calls drain incomplete; hanging up", "err", err)
		}
	}
	cancel()
	stopSIP()
	if err := <-sipDone; err != nil && runErr == nil {
		runErr = err
	}
	if err := <-voiceDone; err != nil && runErr == nil {
		runErr = err
	}
	// The calls are over; HTTP gets a few seconds for requests in flight, then is closed (a
	// connection that never sent a request would otherwise hold Shutdown for 5 s).
	shutCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	if err := g.http.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.log.Warn("http shutdown incomplete; closing", "err", err)
		_ = g.http.Close()
	}
	cancel()
	stopBG()
	wg.Wait()
	g.log.Info("deflectd stopped")
	return runErr
}

// close releases every part that was built, newest first.
func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
	g.closers = nil
}

// instanceName identifies this process in sessions and as the webhook consumer.
func instanceName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "deflectd"
	}
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(3))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dialable turns a bound address into one we can connect to (0.0.0.0 / :: → loopback).
func dialable(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsUnspecified() {
		return addr
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ap.Port()).String()
}

// mediaBindIP binds RTP to the SIP listen address when it is one specific IP and nothing else is
// advertised; otherwise to every address.
func mediaBindIP(c configs.SIPConfig) netip.Addr {
	if c.AdvertiseHost != "" || len(c.Listen) == 0 {
		return netip.Addr{}
	}
	_, host, _, err := configs.ParseListen(c.Listen[0])
	if err != nil {
		return netip.Addr{}
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsUnspecified() {
		return netip.Addr{}
	}
	return ip
}

// notifyPoll is how often each instance looks for scheduled notifications that fell due.
const notifyPoll = 2 * time.Second

// applyRuntime sets the GC target from runtime.gc_percent unless GOGC is set in the environment.
func applyRuntime(rc configs.RuntimeConfig, log *slog.Logger) {
	if rc.GCPercent == 0 || os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(rc.GCPercent)
	log.Debug("gc target set", "gc_percent", rc.GCPercent)
}

// servingAttrs describe the listeners of the start line: only the SIP transports configured (an
// address that is not listening would print as "invalid AddrPort").
func (g *gateway) servingAttrs() []any {
	attrs := []any{"http", g.httpLn.Addr().String()}
	for _, tr := range []string{"udp", "tcp", "tls"} {
		if a := g.sip.Addr(tr); a.IsValid() {
			attrs = append(attrs, "sip_"+tr, a.String())
		}
	}
	if g.voice != nil {
		attrs = append(attrs, "whatsapp_voice", g.voice.Addr().String())
	}
	return append(attrs, "store", g.cfg.Store.Backend, "whatsapp", g.cfg.WhatsApp.Provider, "instance", g.instance)
}

// experimentVariants are the offer experiment's variant names in order (the first is the
// control the others are tested against); none when no experiment runs.
func experimentVariants(cfg configs.Config) []string {
	return deflect.NewExperiment(cfg.Deflect).Names()
}
