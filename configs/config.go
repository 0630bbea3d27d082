// Package configs holds deflectd's one Config type: defaults in code, strict YAML, env overrides
// (DEFLECTD_ + upper-case key path, dots → underscores) and Validate.
package configs

import (
	"time"
)

// Config is the whole configuration of one deflectd process.
type Config struct {
	Log      LogConfig      `yaml:"log"`
	SIP      SIPConfig      `yaml:"sip"`
	RTP      RTPConfig      `yaml:"rtp"`
	HTTP     HTTPConfig     `yaml:"http"`
	Store    StoreConfig    `yaml:"store"`
	WhatsApp WhatsAppConfig `yaml:"whatsapp"`
	Lookup   LookupConfig   `yaml:"lookup"`
	IVR      IVRConfig      `yaml:"ivr"`
	Deflect  DeflectConfig  `yaml:"deflect"`
	Inbox    InboxConfig    `yaml:"inbox"`
	API      APIConfig      `yaml:"api"`
	Stats    StatsConfig    `yaml:"stats"`
	Runtime  RuntimeConfig  `yaml:"runtime"`
	Voice    VoiceConfig    `yaml:"voice"`
}

// StatsConfig is the outcome statistics (reports, the supervisor's charts).
type StatsConfig struct {
	// Retention is how long daily counters are kept (default 90 days).
	Retention time.Duration `yaml:"retention"`
	// Currency and Prices price the messages Meta bills: pricing category (utility,
	// marketing, authentication, service) → destination country (ISO 3166, "*" for any other)
	// → price per message. Empty: costs are reported as unpriced message counts.
	Currency string                        `yaml:"currency"`
	Prices   map[string]map[string]float64 `yaml:"prices"`
}

// RuntimeConfig tunes the Go runtime of the process.
type RuntimeConfig struct {
	// GCPercent is the garbage collector's target (GOGC): a held call allocates little but
	// lives long, so a low value keeps the heap near what is live at a small CPU cost
	// (BENCHMARKS.md). 0 = the Go default (100). The GOGC environment variable wins when set.
	GCPercent int `yaml:"gc_percent"`
}

// LogConfig selects the slog handler.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // text|json
}

// SIPConfig is the SIP user agent.
type SIPConfig struct {
	Listen          []string      `yaml:"listen"`         // udp://host:port, tcp://host:port, tls://host:port
	AdvertiseHost   string        `yaml:"advertise_host"` // host put in Contact and SDP; empty = listen host
	MaxCalls        int           `yaml:"max_calls"`      // concurrent calls before 503
	RetryAfter      time.Duration `yaml:"retry_after"`    // Retry-After on 503
	MaxCallDuration time.Duration `yaml:"max_call_duration"`
	DrainTimeout    time.Duration `yaml:"drain_timeout"`
	UserAgent       string        `yaml:"user_agent"` // Server/User-Agent header value; no version unless set
	MaxMessageSize  int           `yaml:"max_message_size"`
	AllowCIDRs      []string      `yaml:"allow_cidrs"` // empty = everyone
	Pike            PikeConfig    `yaml:"pike"`
	TLS             TLSConfig     `yaml:"tls"`
	Auth            SIPAuthConfig `yaml:"auth"`
}

// PikeConfig is a per-source request rate limit with a temporary ban (Kamailio pike-like).
type PikeConfig struct {
	Enabled  bool          `yaml:"enabled"`
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
	Ban      time.Duration `yaml:"ban"`
}

// TLSConfig holds certificate files for tls:// listeners.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SIPAuthConfig enables digest authentication of INVITEs when Username is set.
type SIPAuthConfig struct {
	Realm    string `yaml:"realm"`
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
}

// RTPConfig is the media port pool.
type RTPConfig struct {
	PortMin int `yaml:"port_min"`
	PortMax int `yaml:"port_max"`
}

// HTTPConfig is the HTTP edge (API, console, webhooks, health, metrics).
type HTTPConfig struct {
	Listen            string        `yaml:"listen"`
	AdminListen       string        `yaml:"admin_listen"` // pprof; empty = off
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`
	PublicURL         string        `yaml:"public_url"` // how Meta and agents reach us; used for sandbox webhooks
}

// StoreConfig selects the session store.
type StoreConfig struct {
	Backend string      `yaml:"backend"` // memory|redis
	Redis   RedisConfig `yaml:"redis"`
	// The circuit breaker around the store opens after BreakerFailures consecutive
	// unavailability errors; calls then fail at once until BreakerCooldown has passed and a
	// probe succeeds.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
	// Memory bounds the embedded store: beyond each cap the oldest records of that kind go
	// (deflectd_store_evictions_total{kind}).
	Memory MemoryConfig `yaml:"memory"`
}

// MemoryConfig caps the memory store's records, so the embedded default grows to a ceiling.
type MemoryConfig struct {
	MaxSessions      int `yaml:"max_sessions"`
	MaxOnceKeys      int `yaml:"max_once_keys"` // idempotency and dedupe keys
	MaxPresenceFacts int `yaml:"max_presence_facts"`
	MaxDocuments     int `yaml:"max_documents"` // conversations, idempotency answers, notifications...
	MaxOfferNumbers  int `yaml:"max_offer_numbers"`
	MaxStreamEntries int `yaml:"max_stream_entries"` // per stream
}

// RedisConfig is a go-redis UniversalClient: a redis:// or rediss:// URL, or Sentinel/Cluster addrs.
type RedisConfig struct {
	URL          string        `yaml:"url"`
	Addrs        []string      `yaml:"addrs"`       // several = cluster (or sentinel with master_name)
	MasterName   string        `yaml:"master_name"` // sentinel
	Password     Secret        `yaml:"password"`
	KeyPrefix    string        `yaml:"key_prefix"`
	DialTimeout  time.Duration `yaml:"dial_timeout"`
	ReadTimeout  time.Duration `yaml:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout"`
	PoolSize     int           `yaml:"pool_size"`
}

// WhatsAppConfig is the Cloud API edge.
type WhatsAppConfig struct {
	Provider       string        `yaml:"provider"` // sandbox|cloudapi
	BaseURL        string        `yaml:"base_url"` // e.g. https://graph.facebook.com/v23.0; empty with sandbox = in-process
	PhoneNumberID  string        `yaml:"phone_number_id"`
	AccessToken    Secret        `yaml:"access_token"` // empty with sandbox = a generated per-process value
	AppSecret      Secret        `yaml:"app_secret"`
	VerifyToken    Secret        `yaml:"verify_token"`
	RequestTimeout time.Duration `yaml:"request_timeout"`
	MaxRetries     int           `yaml:"max_retries"`
	Throughput     float64       `yaml:"throughput"`  // messages per second per phone number
	PairPeriod     time.Duration `yaml:"pair_period"` // one message per recipient per period
	PairBurst      int           `yaml:"pair_burst"`
	WebhookMaxBody int64         `yaml:"webhook_max_body"`
	DedupeWindow   time.Duration `yaml:"dedupe_window"`
	// BreakerCooldown is how long the Graph API circuit breaker stays open before a probe.
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
	// WebhookClaimIdle: webhook events pending this long (a dead consumer's) are claimed by
	// another instance.
	WebhookClaimIdle time.Duration `yaml:"webhook_claim_idle"`
	// BusinessAccountID is the WhatsApp Business Account (WABA) that owns the templates.
	BusinessAccountID string `yaml:"business_account_id"`
	// TemplatesFile defines the templates deflectd sends (empty = the built-in ones).
	TemplatesFile string `yaml:"templates_file"`
	// TemplateSyncInterval is how often a gateway reads Meta's template list into the template
	// state (0 = never; only with business_account_id set or the sandbox provider), and the
	// number's quality rating and messaging limit tier into the account state.
	TemplateSyncInterval time.Duration `yaml:"template_sync_interval"`
	Sandbox              SandboxConfig `yaml:"sandbox"`
}

// SandboxConfig shapes the fake Graph API used by the embedded default and tests.
type SandboxConfig struct {
	// Templates are approved in the sandbox besides whatsapp.templates_file's (which it starts
	// with, approved, unless SeedTemplates is false); one here replaces a definition's languages.
	Templates     []TemplateDef `yaml:"templates"`
	SeedTemplates bool          `yaml:"seed_templates"`
	ReviewDelay   time.Duration `yaml:"review_delay"`    // a submitted template is APPROVED after this
	NotOnWhatsApp []string      `yaml:"not_on_whatsapp"` // E.164 numbers that fail with 131026
	StatusDelay   time.Duration `yaml:"status_delay"`    // between sent, delivered, read
	WebhookURL    string        `yaml:"webhook_url"`     // empty = our own /webhooks/whatsapp
	Latency       time.Duration `yaml:"latency"`         // added to every Graph API answer (Meta: ~100-300 ms); 0 = none
}

// TemplateDef is an approved template as the sandbox knows it.
type TemplateDef struct {
	Name       string   `yaml:"name"`
	Languages  []string `yaml:"languages"`
	BodyParams int      `yaml:"body_params"`
	Buttons    int      `yaml:"buttons"` // quick-reply buttons
}

// LookupConfig is number normalisation and WhatsApp presence.
type LookupConfig struct {
	DefaultRegion string         `yaml:"default_region"`
	Presence      PresenceConfig `yaml:"presence"`
}

// PresenceConfig orders the presence sources inside one latency budget.
type PresenceConfig struct {
	Budget time.Duration `yaml:"budget"`
	// StoreTimeout bounds the learned-facts read inside the budget (the HTTP checker has its own).
	StoreTimeout time.Duration      `yaml:"store_timeout"`
	ListPoll     time.Duration      `yaml:"list_poll"` // how often list_file's mtime is checked
	YesTTL       time.Duration      `yaml:"yes_ttl"`   // learned from delivered/read/inbound
	NoTTL        time.Duration      `yaml:"no_ttl"`    // learned from 131026
	Allow        []string           `yaml:"allow"`     // static: known on WhatsApp
	Deny         []string           `yaml:"deny"`      // static: known not on WhatsApp
	ListFile     string             `yaml:"list_file"`
	HTTP         PresenceHTTPConfig `yaml:"http"`
}

// PresenceHTTPConfig is an external checker (CRM, BSP).
type PresenceHTTPConfig struct {
	URL         string        `yaml:"url"`
	Token       Secret        `yaml:"token"`
	Timeout     time.Duration `yaml:"timeout"`
	PositiveTTL time.Duration `yaml:"positive_ttl"`
	NegativeTTL time.Duration `yaml:"negative_ttl"`
	// NotFoundTTL is how long a 404 (no record) is remembered, in this process only; 0 = ask the
	// checker on every call from such a number.
	NotFoundTTL time.Duration `yaml:"not_found_ttl"`
	// The circuit breaker opens after BreakerFailures consecutive failures and lets one probe
	// through after BreakerCooldown.
	BreakerFailures int           `yaml:"breaker_failures"`
	BreakerCooldown time.Duration `yaml:"breaker_cooldown"`
}

// IVRConfig is prompts, languages and menu timing.
type IVRConfig struct {
	PromptsDir        string            `yaml:"prompts_dir"` // WAV overrides: <dir>/<lang>/<prompt>.wav
	DefaultLanguage   string            `yaml:"default_language"`
	RegionLanguages   map[string]string `yaml:"region_languages"` // caller region → language
	FirstDigitTimeout time.Duration     `yaml:"first_digit_timeout"`
	OfferRepeats      int               `yaml:"offer_repeats"`
}

// DeflectConfig is the eligibility policy and the offer.
type DeflectConfig struct {
	UnknownPresence string              `yaml:"unknown_presence"` // offer|skip
	AllowedTypes    []string            `yaml:"allowed_types"`
	Regions         []string            `yaml:"regions"` // empty = any
	MinWait         time.Duration       `yaml:"min_wait"`
	MissingWait     string              `yaml:"missing_wait"` // offer|skip
	BusinessHours   BusinessHoursConfig `yaml:"business_hours"`
	Cooldown        time.Duration       `yaml:"cooldown"`
	MaxOffersPerDay int                 `yaml:"max_offers_per_day"`
	ChatCapacity    int                 `yaml:"chat_capacity"` // open agent conversations; 0 = no limit
	// Queues tunes the policy per queue (the INVITE's X-Queue, the eligibility API's queue),
	// by name, case-insensitive; OtherQueues (offer|skip) is for every queue not listed, and for
	// calls that name none.
	Queues         map[string]QueueConfig `yaml:"queues"`
	OtherQueues    string                 `yaml:"other_queues"`
	RouteTo        string                 `yaml:"route_to"`      // bot|agent
	OnDecline      string                 `yaml:"on_decline"`    // bye|refer
	ReturnTarget   string                 `yaml:"return_target"` // REFER target URI
	ConfirmTimeout time.Duration          `yaml:"confirm_timeout"`
	OnNoStatus     string                 `yaml:"on_no_status"` // sent|failed
	SessionTTL     time.Duration          `yaml:"session_ttl"`
	Template       TemplateConfig         `yaml:"template"`
	// Experiments are the variants of an A/B test of the offer; a number is assigned one,
	// always the same, by a hash of its E.164 and ExperimentName. Empty: no experiment.
	ExperimentName string          `yaml:"experiment_name"`
	Experiments    []VariantConfig `yaml:"experiments"`
	// ReconcileInterval is how often an instance looks for sessions a dead instance left
	// behind (0 = never); ReconcileGrace is added to sip.max_call_duration before a session
	// is taken for orphaned.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	ReconcileGrace    time.Duration `yaml:"reconcile_grace"`
}

// VariantConfig is one variant of the offer experiment; unset fields keep the usual setting.
type VariantConfig struct {
	Name         string        `yaml:"name"`
	Weight       int           `yaml:"weight"`        // share of callers, relative to the others
	PromptsDir   string        `yaml:"prompts_dir"`   // <dir>/<lang>/offer.wav ...: this variant's recordings
	Template     string        `yaml:"template"`      // template name instead of deflect.template.name
	MinWait      time.Duration `yaml:"min_wait"`      // instead of deflect.min_wait and the queue's
	OfferRepeats int           `yaml:"offer_repeats"` // instead of ivr.offer_repeats
}

// QueueConfig is one queue's part of the policy.
type QueueConfig struct {
	Skip    bool          `yaml:"skip"`     // never offer to callers of this queue
	MinWait time.Duration `yaml:"min_wait"` // replaces deflect.min_wait; 0 = deflect.min_wait
}

// BusinessHoursConfig limits offers to opening hours; empty Open/Close = always.
type BusinessHoursConfig struct {
	TimeZone string   `yaml:"time_zone"`
	Days     []string `yaml:"days"`  // mon..sun; empty = every day
	Open     string   `yaml:"open"`  // HH:MM
	Close    string   `yaml:"close"` // HH:MM
	Holidays []string `yaml:"holidays"`
}

// TemplateConfig maps the session language to an approved template.
type TemplateConfig struct {
	Name      string            `yaml:"name"`      // default template name
	Languages map[string]string `yaml:"languages"` // session language → template language code
	Params    []string          `yaml:"params"`    // text/template strings over the session
	Buttons   []string          `yaml:"buttons"`   // quick-reply choices; payload "deflect:<session>:<choice>"
}

// InboxConfig is the bot and agent side of conversations.
type InboxConfig struct {
	FlowsFile        string        `yaml:"flows_file"`
	MaxChatsPerAgent int           `yaml:"max_chats_per_agent"`
	FallbackAfter    int           `yaml:"fallback_after"`
	OptOutKeywords   []string      `yaml:"opt_out_keywords"`
	OptInKeywords    []string      `yaml:"opt_in_keywords"`
	DeskWebhookURL   string        `yaml:"desk_webhook_url"`
	DeskSecret       Secret        `yaml:"desk_secret"`
	DeskRetries      int           `yaml:"desk_retries"`
	WindowDuration   time.Duration `yaml:"window_duration"`
	// Templates are offered in the agent console when the 24-hour window is closed; empty =
	// deflect.template.name.
	Templates []string `yaml:"templates"`
	// PresenceTTL: an online agent whose console has been disconnected this long gets no new
	// chats (0 = presence never expires).
	PresenceTTL time.Duration `yaml:"presence_ttl"`
	// TemplateTexts are the approved templates' bodies as the customer reads them, by template
	// name and language code, with Meta's {{1}}, {{2}} placeholders: the console shows a sent
	// template as this text with its parameters.
	TemplateTexts map[string]map[string]string `yaml:"template_texts"`
	// CannedResponses are ready answers the console offers, by conversation language.
	CannedResponses map[string][]string `yaml:"canned_responses"`
	// MaxMediaBytes caps a media file shown in or sent from the console.
	MaxMediaBytes int64 `yaml:"max_media_bytes"`
	// MediaCacheDir keeps media fetched from the Graph API for MediaCacheTTL, so that agents
	// reopening a conversation do not download it again ("" = the system's temporary
	// directory; a MediaCacheTTL of 0 turns the cache off).
	MediaCacheDir string        `yaml:"media_cache_dir"`
	MediaCacheTTL time.Duration `yaml:"media_cache_ttl"`
}

// APIConfig holds bearer tokens.
type APIConfig struct {
	AdminToken Secret        `yaml:"admin_token"`
	Tokens     []TokenConfig `yaml:"tokens"`
}

// TokenConfig is one bearer token with its scopes (admin, agent, pbx).
type TokenConfig struct {
	Name   string   `yaml:"name"`
	Token  Secret   `yaml:"token"`
	Scopes []string `yaml:"scopes"`
}

// Default is the embedded default: loopback listeners, memory store, sandbox WhatsApp.
func Default() Config {
	return Config{
		Log:     LogConfig{Level: "info", Format: "text"},
		Runtime: RuntimeConfig{GCPercent: 25},
		Stats:   StatsConfig{Retention: 90 * 24 * time.Hour, Currency: "USD", Prices: map[string]map[string]float64{}},
		Voice:   defaultVoice(),
		SIP: SIPConfig{
			Listen:          []string{"udp://127.0.0.1:5060", "tcp://127.0.0.1:5060"},
			MaxCalls:        10000,
			RetryAfter:      30 * time.Second,
			MaxCallDuration: 5 * time.Minute,
			DrainTimeout:    2 * time.Minute,
			UserAgent:       "deflectd",
			MaxMessageSize:  16384,
			Pike:            PikeConfig{Enabled: false, Requests: 16, Window: 2 * time.Second, Ban: 300 * time.Second},
			Auth:            SIPAuthConfig{Realm: "deflectd"},
		},
		RTP: RTPConfig{PortMin: 20000, PortMax: 39999},
		HTTP: HTTPConfig{
			Listen:            "127.0.0.1:8080",
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxBodyBytes:      1 << 20,
		},
		Store: StoreConfig{
			Backend: "memory",
			Memory: MemoryConfig{MaxSessions: 10_000, MaxOnceKeys: 50_000, MaxPresenceFacts: 50_000,
				MaxDocuments: 20_000, MaxOfferNumbers: 50_000, MaxStreamEntries: 100_000},
			Redis: RedisConfig{
				URL:          "redis://127.0.0.1:6379/0",
				KeyPrefix:    "deflectd:",
				DialTimeout:  2 * time.Second,
				ReadTimeout:  500 * time.Millisecond,
				WriteTimeout: 500 * time.Millisecond,
				PoolSize:     64,
			},
			BreakerFailures: 5,
			BreakerCooldown: 5 * time.Second,
		},
		WhatsApp: WhatsAppConfig{
			Provider:             "sandbox",
			PhoneNumberID:        "100000000000001",
			RequestTimeout:       3 * time.Second,
			MaxRetries:           3,
			Throughput:           80,
			PairPeriod:           6 * time.Second,
			PairBurst:            3,
			WebhookMaxBody:       1 << 20,
			DedupeWindow:         24 * time.Hour,
			BreakerCooldown:      30 * time.Second,
			WebhookClaimIdle:     30 * time.Second,
			TemplateSyncInterval: time.Hour,
			Sandbox: SandboxConfig{
				SeedTemplates: true,
				ReviewDelay:   2 * time.Second,
				StatusDelay:   300 * time.Millisecond,
			},
		},
		Lookup: LookupConfig{
			DefaultRegion: "SA",
			Presence: PresenceConfig{
				Budget:       300 * time.Millisecond,
				StoreTimeout: 100 * time.Millisecond,
				ListPoll:     5 * time.Second,
				YesTTL:       90 * 24 * time.Hour,
				NoTTL:        30 * 24 * time.Hour,
				HTTP: PresenceHTTPConfig{
					Timeout:         250 * time.Millisecond,
					PositiveTTL:     30 * 24 * time.Hour,
					NegativeTTL:     7 * 24 * time.Hour,
					NotFoundTTL:     time.Hour,
					BreakerFailures: 5,
					BreakerCooldown: 30 * time.Second,
				},
			},
		},
		IVR: IVRConfig{
			DefaultLanguage:   "en",
			RegionLanguages:   map[string]string{"SA": "ar", "AE": "ar", "EG": "ar", "JO": "ar", "KW": "ar", "QA": "ar", "BH": "ar", "OM": "ar", "FR": "fr", "MC": "fr", "SN": "fr", "CI": "fr"},
			FirstDigitTimeout: 6 * time.Second, // offer ≤ 8 s + 6 s + return prompt: a silent caller is back in queue within 20 s
			OfferRepeats:      1,
		},
		Deflect: DeflectConfig{
			UnknownPresence:   "offer",
			AllowedTypes:      []string{"mobile", "fixed-line-or-mobile"},
			MinWait:           60 * time.Second,
			MissingWait:       "offer",
			OtherQueues:       "offer",
			Cooldown:          24 * time.Hour,
			MaxOffersPerDay:   3,
			RouteTo:           "bot",
			OnDecline:         "bye",
			ConfirmTimeout:    5 * time.Second,
			OnNoStatus:        "sent",
			SessionTTL:        30 * 24 * time.Hour,
			ExperimentName:    "offer",
			ReconcileInterval: 30 * time.Second,
			ReconcileGrace:    time.Minute,
			Template: TemplateConfig{
				Name:      "call_deflection",
				Languages: map[string]string{"en": "en", "ar": "ar", "fr": "fr"},
				Params:    []string{"{{.Queue}}"},
				Buttons:   []string{"wa", "agent"},
			},
		},
		Inbox: InboxConfig{
			MaxChatsPerAgent: 4,
			FallbackAfter:    2,
			OptOutKeywords:   []string{"STOP", "UNSUBSCRIBE", "إلغاء", "ايقاف"},
			OptInKeywords:    []string{"START", "SUBSCRIBE", "اشتراك"},
			DeskRetries:      5,
			WindowDuration:   24 * time.Hour,
			PresenceTTL:      time.Minute,
			MaxMediaBytes:    16 << 20,
			MediaCacheTTL:    24 * time.Hour,
			TemplateTexts: map[string]map[string]string{
				"call_deflection": {
					"en": "Thanks for calling about {{1}}. Instead of waiting on hold, continue here: tell us how we can help.",
					"ar": "شكرًا لاتصالك بخصوص {{1}}. بدلًا من الانتظار على الخط، تابع هنا: أخبرنا كيف نساعدك.",
					"fr": "Merci pour votre appel concernant {{1}}. Plutôt que d'attendre en ligne, continuez ici : dites-nous comment vous aider.",
				},
				"licence_renewal": {
					"en": "Your licence {{1}} expires on {{2}}. Reply here to renew it.",
					"ar": "رخصتك {{1}} تنتهي في {{2}}. رد هنا لتجديدها.",
				},
			},
			CannedResponses: map[string][]string{
				"en": {"Hello, I'm looking into this now.", "Could you send me your customer number, please?", "Is there anything else I can help with?", "Thank you, have a good day."},
				"ar": {"مرحبًا، أتابع طلبك الآن.", "هل يمكنك إرسال رقم العميل من فضلك؟", "هل هناك شيء آخر يمكنني مساعدتك به؟", "شكرًا لك، يومك سعيد."},
				"fr": {"Bonjour, je m'en occupe.", "Pouvez-vous m'envoyer votre numéro client, s'il vous plaît ?", "Puis-je vous aider pour autre chose ?", "Merci, bonne journée."},
			},
		},
	}
}
