package configs

import (
	"errors"
	"fmt"
	"github.com/nyaruka/phonenumbers"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

var regionRe = regexp.MustCompile(`^[A-Z]{2}$`)

// KeyError is one validation failure: the key's name and what is wrong with its value. Load
// adds where the value came from (the file and line, or the environment variable).
type KeyError struct {
	Key    string
	Msg    string
	Source string // "file.yaml:12" or "DEFLECTD_X"; empty for defaults
}

func (e *KeyError) Error() string {
	if e.Source != "" {
		return e.Source + ": " + e.Key + ": " + e.Msg
	}
	return e.Key + ": " + e.Msg
}

// checker collects KeyErrors.
type checker struct{ errs []error }

func (v *checker) bad(key, format string, a ...any) {
	v.errs = append(v.errs, &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)})
}

func (v *checker) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.bad(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}
}

func (v *checker) positive(key string, d time.Duration) {
	if d <= 0 {
		v.bad(key, "must be a positive duration, got %s", d)
	}
}

// Validate rejects impossible settings; each error is a *KeyError naming the key.
func (c Config) Validate() error {
	v := &checker{}
	v.general(c)
	v.sip(c.SIP)
	v.rtp(c.RTP)
	v.http(c.HTTP)
	v.store(c.Store)
	v.whatsapp(c.WhatsApp)
	v.lookup(c.Lookup)
	v.ivr(c.IVR)
	v.deflect(c.Deflect)
	v.inbox(c.Inbox)
	v.tokens(c.API)
	v.stats(c.Stats)
	v.voice(c.Voice, c.WhatsApp)
	return errors.Join(v.errs...)
}

func (v *checker) general(c Config) {
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	if g := c.Runtime.GCPercent; g != 0 && (g < 10 || g > 1000) {
		v.bad("runtime.gc_percent", "must be 0 (Go default) or between 10 and 1000, got %d", g)
	}
}

func (v *checker) sip(s SIPConfig) {
	if len(s.Listen) == 0 {
		v.bad("sip.listen", "at least one listen URL is needed")
	}
	for i, l := range s.Listen {
		if _, _, _, err := ParseListen(l); err != nil {
			v.bad(fmt.Sprintf("sip.listen[%d]", i), "%v", err)
		} else if strings.HasPrefix(l, "tls://") && (s.TLS.CertFile == "" || s.TLS.KeyFile == "") {
			v.bad("sip.tls.cert_file", "a tls:// listener needs sip.tls.cert_file and sip.tls.key_file")
		}
	}
	if s.MaxCalls < 1 {
		v.bad("sip.max_calls", "must be at least 1, got %d", s.MaxCalls)
	}
	v.positive("sip.max_call_duration", s.MaxCallDuration)
	v.positive("sip.drain_timeout", s.DrainTimeout)
	if s.MaxMessageSize < 1024 || s.MaxMessageSize > 65535 {
		v.bad("sip.max_message_size", "must be within 1024..65535, got %d", s.MaxMessageSize)
	}
	for i, cidr := range s.AllowCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			v.bad(fmt.Sprintf("sip.allow_cidrs[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", cidr)
		}
	}
	if s.Pike.Enabled {
		if s.Pike.Requests < 1 {
			v.bad("sip.pike.requests", "must be at least 1")
		}
		v.positive("sip.pike.window", s.Pike.Window)
		v.positive("sip.pike.ban", s.Pike.Ban)
	}
	if s.Auth.Username != "" && !s.Auth.Password.IsSet() {
		v.bad("sip.auth.password", "is required when sip.auth.username is set")
	}
}

func (v *checker) rtp(r RTPConfig) {
	if r.PortMin < 1024 || r.PortMin > 65535 {
		v.bad("rtp.port_min", "must be within 1024..65535, got %d", r.PortMin)
	}
	if r.PortMax < 1024 || r.PortMax > 65535 {
		v.bad("rtp.port_max", "must be within 1024..65535, got %d", r.PortMax)
	}
	if r.PortMin > r.PortMax {
		v.bad("rtp.port_min", "%d is above rtp.port_max %d", r.PortMin, r.PortMax)
	}
}

func (v *checker) http(h HTTPConfig) {
	if _, _, err := net.SplitHostPort(h.Listen); err != nil {
		v.bad("http.listen", "%q is not host:port", h.Listen)
	}
	if h.AdminListen != "" {
		if _, _, err := net.SplitHostPort(h.AdminListen); err != nil {
			v.bad("http.admin_listen", "%q is not host:port", h.AdminListen)
		}
	}
	v.positive("http.read_header_timeout", h.ReadHeaderTimeout)
	if h.MaxBodyBytes < 1024 {
		v.bad("http.max_body_bytes", "must be at least 1024")
	}
}

func (v *checker) store(s StoreConfig) {
	for key, n := range map[string]int{"max_sessions": s.Memory.MaxSessions, "max_once_keys": s.Memory.MaxOnceKeys,
		"max_presence_facts": s.Memory.MaxPresenceFacts, "max_documents": s.Memory.MaxDocuments,
		"max_offer_numbers": s.Memory.MaxOfferNumbers, "max_stream_entries": s.Memory.MaxStreamEntries} {
		if n < 100 {
			v.bad("store.memory."+key, "must be at least 100, got %d", n)
		}
	}
	v.oneOf("store.backend", s.Backend, "memory", "redis")
	if s.BreakerFailures < 1 {
		v.bad("store.breaker_failures", "must be at least 1")
	}
	v.positive("store.breaker_cooldown", s.BreakerCooldown)
	if s.Backend == "redis" && len(s.Redis.Addrs) == 0 {
		if u, err := url.Parse(s.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			v.bad("store.redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}
}

func (v *checker) whatsapp(w WhatsAppConfig) {
	v.oneOf("whatsapp.provider", w.Provider, "sandbox", "cloudapi")
	if w.Provider == "cloudapi" {
		if w.PhoneNumberID == "" {
			v.bad("whatsapp.phone_number_id", "is required with whatsapp.provider cloudapi")
		}
		if !w.AccessToken.IsSet() {
			v.bad("whatsapp.access_token", "is required with whatsapp.provider cloudapi")
		}
		if !w.AppSecret.IsSet() {
			v.bad("whatsapp.app_secret", "is required with whatsapp.provider cloudapi (webhook signatures)")
		}
		if w.BaseURL == "" {
			v.bad("whatsapp.base_url", "is required with whatsapp.provider cloudapi")
		}
	}
	if w.BaseURL != "" {
		if u, err := url.Parse(w.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.bad("whatsapp.base_url", "%q is not an http(s) URL", w.BaseURL)
		}
	}
	if w.Throughput <= 0 || w.Throughput > 1000 {
		v.bad("whatsapp.throughput", "must be within (0, 1000] messages/s, got %g", w.Throughput)
	}
	v.positive("whatsapp.pair_period", w.PairPeriod)
	if w.PairBurst < 1 {
		v.bad("whatsapp.pair_burst", "must be at least 1")
	}
	v.positive("whatsapp.request_timeout", w.RequestTimeout)
	v.positive("whatsapp.breaker_cooldown", w.BreakerCooldown)
	v.positive("whatsapp.webhook_claim_idle", w.WebhookClaimIdle)
	if w.Sandbox.Latency < 0 {
		v.bad("whatsapp.sandbox.latency", "must not be negative")
	}
	if w.Sandbox.ReviewDelay < 0 {
		v.bad("whatsapp.sandbox.review_delay", "must not be negative")
	}
	if w.TemplateSyncInterval < 0 {
		v.bad("whatsapp.template_sync_interval", "must not be negative (0 = never)")
	}
	if w.BusinessAccountID != "" && strings.Trim(w.BusinessAccountID, "0123456789") != "" {
		v.bad("whatsapp.business_account_id", "%q is not a WhatsApp Business Account id (digits)", w.BusinessAccountID)
	}
	if _, err := LoadTemplates(w.TemplatesFile); err != nil {
		v.bad("whatsapp.templates_file", "%v", err)
	}
	for i, t := range w.Sandbox.Templates {
		if t.Name == "" || len(t.Languages) == 0 {
			v.bad(fmt.Sprintf("whatsapp.sandbox.templates[%d]", i), "needs a name and at least one language")
		}
	}
}

func (v *checker) lookup(l LookupConfig) {
	if !regionRe.MatchString(l.DefaultRegion) {
		v.bad("lookup.default_region", "%q is not an ISO 3166 region in upper case such as SA or GB", l.DefaultRegion)
	} else if !phonenumbers.GetSupportedRegions()[l.DefaultRegion] {
		// XX passes the pattern but every national number would then fail at run time.
		v.bad("lookup.default_region", "%q is not a region phone numbers are known for", l.DefaultRegion)
	}
	v.positive("lookup.presence.budget", l.Presence.Budget)
	v.positive("lookup.presence.store_timeout", l.Presence.StoreTimeout)
	v.positive("lookup.presence.list_poll", l.Presence.ListPoll)
	v.positive("lookup.presence.yes_ttl", l.Presence.YesTTL)
	v.positive("lookup.presence.no_ttl", l.Presence.NoTTL)
	v.positive("lookup.presence.http.timeout", l.Presence.HTTP.Timeout)
	v.positive("lookup.presence.http.positive_ttl", l.Presence.HTTP.PositiveTTL)
	v.positive("lookup.presence.http.negative_ttl", l.Presence.HTTP.NegativeTTL)
	if l.Presence.HTTP.NotFoundTTL < 0 {
		v.bad("lookup.presence.http.not_found_ttl", "must not be negative, got %s", l.Presence.HTTP.NotFoundTTL)
	}
	v.positive("lookup.presence.http.breaker_cooldown", l.Presence.HTTP.BreakerCooldown)
	if l.Presence.HTTP.BreakerFailures < 1 {
		v.bad("lookup.presence.http.breaker_failures", "must be at least 1")
	}
	if u := l.Presence.HTTP.URL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
			v.bad("lookup.presence.http.url", "%q is not an http(s) URL", u)
		}
	}
}

func (v *checker) ivr(i IVRConfig) {
	if i.DefaultLanguage == "" {
		v.bad("ivr.default_language", "is required")
	}
	v.positive("ivr.first_digit_timeout", i.FirstDigitTimeout)
	if i.OfferRepeats < 1 {
		v.bad("ivr.offer_repeats", "must be at least 1")
	}
}

func (v *checker) deflect(d DeflectConfig) {
	v.oneOf("deflect.unknown_presence", d.UnknownPresence, "offer", "skip")
	v.oneOf("deflect.missing_wait", d.MissingWait, "offer", "skip")
	v.oneOf("deflect.other_queues", d.OtherQueues, "offer", "skip")
	for name, q := range d.Queues {
		if strings.TrimSpace(name) == "" {
			v.bad("deflect.queues", "a queue name is empty")
		}
		if q.MinWait < 0 {
			v.bad("deflect.queues."+name+".min_wait", "must not be negative, got %s", q.MinWait)
		}
	}
	v.oneOf("deflect.route_to", d.RouteTo, "bot", "agent")
	v.oneOf("deflect.on_decline", d.OnDecline, "bye", "refer")
	v.oneOf("deflect.on_no_status", d.OnNoStatus, "sent", "failed")
	for i, t := range d.AllowedTypes {
		v.oneOf(fmt.Sprintf("deflect.allowed_types[%d]", i), t, "mobile", "fixed-line", "fixed-line-or-mobile", "voip", "toll-free", "premium", "shared-cost", "personal", "pager", "uan", "voicemail", "unknown")
	}
	for i, r := range d.Regions {
		if !regionRe.MatchString(r) {
			v.bad(fmt.Sprintf("deflect.regions[%d]", i), "%q is not an ISO 3166 region", r)
		}
	}
	if d.MinWait < 0 {
		v.bad("deflect.min_wait", "must not be negative")
	}
	bh := d.BusinessHours
	if bh.TimeZone != "" {
		if _, err := time.LoadLocation(bh.TimeZone); err != nil {
			v.bad("deflect.business_hours.time_zone", "%q is not a known time zone", bh.TimeZone)
		}
	}
	if (bh.Open == "") != (bh.Close == "") {
		v.bad("deflect.business_hours.open", "open and close are set together")
	}
	for _, kv := range [][2]string{{"open", bh.Open}, {"close", bh.Close}} {
		if kv[1] != "" {
			if _, err := time.Parse("15:04", kv[1]); err != nil {
				v.bad("deflect.business_hours."+kv[0], "%q is not HH:MM", kv[1])
			}
		}
	}
	for i, day := range bh.Days {
		v.oneOf(fmt.Sprintf("deflect.business_hours.days[%d]", i), strings.ToLower(day), "mon", "tue", "wed", "thu", "fri", "sat", "sun")
	}
	for i, h := range bh.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			v.bad(fmt.Sprintf("deflect.business_hours.holidays[%d]", i), "%q is not YYYY-MM-DD", h)
		}
	}
	if d.Cooldown < 0 {
		v.bad("deflect.cooldown", "must not be negative")
	}
	v.positive("deflect.confirm_timeout", d.ConfirmTimeout)
	v.positive("deflect.session_ttl", d.SessionTTL)
	if d.Template.Name == "" {
		v.bad("deflect.template.name", "is required")
	}
	v.experiments(d)
	if d.ReconcileInterval < 0 || d.ReconcileGrace < 0 {
		v.bad("deflect.reconcile_interval", "reconcile_interval and reconcile_grace must not be negative")
	}
}

func (v *checker) experiments(d DeflectConfig) {
	if len(d.Experiments) == 0 {
		return
	}
	if strings.TrimSpace(d.ExperimentName) == "" {
		v.bad("deflect.experiment_name", "is required with deflect.experiments (it seeds the assignment)")
	}
	if len(d.Experiments) == 1 {
		v.bad("deflect.experiments", "an experiment needs at least two variants")
	}
	seen := map[string]bool{}
	for i, x := range d.Experiments {
		key := fmt.Sprintf("deflect.experiments[%d]", i)
		switch {
		case !tokenRe.MatchString(x.Name):
			v.bad(key+".name", "%q is not a name of letters, digits, - and _", x.Name)
		case seen[x.Name]:
			v.bad(key+".name", "%q is used twice", x.Name)
		}
		seen[x.Name] = true
		if x.Weight < 1 {
			v.bad(key+".weight", "must be at least 1, got %d", x.Weight)
		}
		if x.MinWait < 0 {
			v.bad(key+".min_wait", "must not be negative")
		}
		if x.OfferRepeats < 0 {
			v.bad(key+".offer_repeats", "must not be negative")
		}
	}
}

// tokenRe is a name that is safe as a metric label and in a statistics key.
var tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func (v *checker) inbox(in InboxConfig) {
	if in.MaxChatsPerAgent < 1 {
		v.bad("inbox.max_chats_per_agent", "must be at least 1")
	}
	if in.FallbackAfter < 0 || in.DeskRetries < 0 || in.PresenceTTL < 0 {
		v.bad("inbox", "fallback_after, desk_retries and presence_ttl must not be negative")
	}
	v.positive("inbox.window_duration", in.WindowDuration)
	if in.DeskWebhookURL != "" {
		if u, err := url.Parse(in.DeskWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.bad("inbox.desk_webhook_url", "%q is not an http(s) URL", in.DeskWebhookURL)
		} else if !in.DeskSecret.IsSet() {
			v.bad("inbox.desk_secret", "is required with a desk webhook (receivers check the signature)")
		}
	}
	if in.MaxMediaBytes < 1024 {
		v.bad("inbox.max_media_bytes", "must be at least 1024 (it caps media shown in and sent from the console)")
	}
	if in.MediaCacheTTL < 0 {
		v.bad("inbox.media_cache_ttl", "must not be negative (0 turns the media cache off)")
	}
	for name, texts := range in.TemplateTexts {
		for lang, text := range texts {
			if name == "" || lang == "" || strings.TrimSpace(text) == "" {
				v.bad("inbox.template_texts", "template %q language %q: name, language and text are required", name, lang)
			}
		}
	}
	for lang, texts := range in.CannedResponses {
		if lang == "" || slices.ContainsFunc(texts, func(t string) bool { return strings.TrimSpace(t) == "" }) {
			v.bad("inbox.canned_responses", "language %q: a language code and non-empty texts are required", lang)
		}
	}
}

func (v *checker) stats(s StatsConfig) {
	v.positive("stats.retention", s.Retention)
	if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(s.Currency) {
		v.bad("stats.currency", "%q is not an ISO 4217 code such as USD", s.Currency)
	}
	for category, byCountry := range s.Prices {
		v.oneOf("stats.prices", category, "utility", "marketing", "authentication", "authentication_international", "service")
		for country, price := range byCountry {
			key := "stats.prices." + category + "." + country
			if country != "*" && !regionRe.MatchString(country) {
				v.bad(key, "%q is not a region such as SA or * for any other", country)
			}
			if price < 0 {
				v.bad(key, "must not be negative, got %g", price)
			}
		}
	}
}

// minTokenLen: a bearer token shorter than this is guessable; 16 random characters are ~95 bits.
const minTokenLen = 16

// tokens checks api.admin_token and api.tokens: long enough, not a sample value, no
// name or token used twice (a duplicate would make the token's identity ambiguous).
func (v *checker) tokens(api APIConfig) {
	strong := func(key string, tok Secret) {
		val := tok.Reveal()
		switch {
		case strings.HasPrefix(val, "change-me"), strings.HasPrefix(val, "replace-me"):
			v.bad(key, "is the sample value; set a random token of at least %d characters", minTokenLen)
		case len(val) < minTokenLen:
			v.bad(key, "is %d characters; use a random token of at least %d", len(val), minTokenLen)
		}
	}
	seen := map[string]string{} // token → key of its first use
	if api.AdminToken.IsSet() {
		strong("api.admin_token", api.AdminToken)
		seen[api.AdminToken.Reveal()] = "api.admin_token"
	}
	names := map[string]int{}
	for i, t := range api.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		if !t.Token.IsSet() {
			v.bad(key+".token", "is empty")
		} else {
			strong(key+".token", t.Token)
			if first, dup := seen[t.Token.Reveal()]; dup {
				v.bad(key+".token", "is the same token as %s", first)
			}
			seen[t.Token.Reveal()] = key + ".token"
		}
		if j, dup := names[t.Name]; dup && t.Name != "" {
			v.bad(key+".name", "%q is also the name of api.tokens[%d]", t.Name, j)
		}
		names[t.Name] = i
		if len(t.Scopes) == 0 {
			v.bad(key+".scopes", "needs at least one of admin, agent, pbx")
		}
		for _, s := range t.Scopes {
			v.oneOf(key+".scopes", s, "admin", "agent", "pbx")
		}
	}
}

// ParseListen splits "udp://host:port" into its transport, host and port.
func ParseListen(s string) (transport, host string, port int, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", "", 0, fmt.Errorf("%q is not a listen URL such as udp://127.0.0.1:5060", s)
	}
	switch u.Scheme {
	case "udp", "tcp", "tls", "ws":
	default:
		return "", "", 0, fmt.Errorf("%q: transport %q is not udp, tcp, tls or ws", s, u.Scheme)
	}
	h, p, err := net.SplitHostPort(u.Host)
	if err != nil {
		return "", "", 0, fmt.Errorf("%q: %v", s, err)
	}
	var pn int
	if _, err := fmt.Sscanf(p, "%d", &pn); err != nil || pn < 0 || pn > 65535 {
		return "", "", 0, fmt.Errorf("%q: bad port %q", s, p)
	}
	return u.Scheme, h, pn, nil
}
