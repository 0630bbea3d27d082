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

// Validate rejects impossible settings; each error starts with the key's name.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	oneOf := func(key, val string, allowed ...string) {
		if !slices.Contains(allowed, val) {
			bad(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
		}
	}
	positive := func(key string, d time.Duration) {
		if d <= 0 {
			bad(key, "must be a positive duration, got %s", d)
		}
	}

	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("log.format", c.Log.Format, "text", "json")
	if g := c.Runtime.GCPercent; g != 0 && (g < 10 || g > 1000) {
		bad("runtime.gc_percent", "must be 0 (Go default) or between 10 and 1000, got %d", g)
	}

	if len(c.SIP.Listen) == 0 {
		bad("sip.listen", "at least one listen URL is needed")
	}
	for i, l := range c.SIP.Listen {
		if _, _, _, err := ParseListen(l); err != nil {
			bad(fmt.Sprintf("sip.listen[%d]", i), "%v", err)
		} else if strings.HasPrefix(l, "tls://") && (c.SIP.TLS.CertFile == "" || c.SIP.TLS.KeyFile == "") {
			bad("sip.tls.cert_file", "a tls:// listener needs sip.tls.cert_file and sip.tls.key_file")
		}
	}
	if c.SIP.MaxCalls < 1 {
		bad("sip.max_calls", "must be at least 1, got %d", c.SIP.MaxCalls)
	}
	positive("sip.max_call_duration", c.SIP.MaxCallDuration)
	positive("sip.drain_timeout", c.SIP.DrainTimeout)
	if c.SIP.MaxMessageSize < 1024 || c.SIP.MaxMessageSize > 65535 {
		bad("sip.max_message_size", "must be within 1024..65535, got %d", c.SIP.MaxMessageSize)
	}
	for i, cidr := range c.SIP.AllowCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad(fmt.Sprintf("sip.allow_cidrs[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", cidr)
		}
	}
	if c.SIP.Pike.Enabled {
		if c.SIP.Pike.Requests < 1 {
			bad("sip.pike.requests", "must be at least 1")
		}
		positive("sip.pike.window", c.SIP.Pike.Window)
		positive("sip.pike.ban", c.SIP.Pike.Ban)
	}
	if c.SIP.Auth.Username != "" && !c.SIP.Auth.Password.IsSet() {
		bad("sip.auth.password", "is required when sip.auth.username is set")
	}

	if c.RTP.PortMin < 1024 || c.RTP.PortMin > 65535 {
		bad("rtp.port_min", "must be within 1024..65535, got %d", c.RTP.PortMin)
	}
	if c.RTP.PortMax < 1024 || c.RTP.PortMax > 65535 {
		bad("rtp.port_max", "must be within 1024..65535, got %d", c.RTP.PortMax)
	}
	if c.RTP.PortMin > c.RTP.PortMax {
		bad("rtp.port_min", "%d is above rtp.port_max %d", c.RTP.PortMin, c.RTP.PortMax)
	}

	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "%q is not host:port", c.HTTP.Listen)
	}
	if c.HTTP.AdminListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.AdminListen); err != nil {
			bad("http.admin_listen", "%q is not host:port", c.HTTP.AdminListen)
		}
	}
	positive("http.read_header_timeout", c.HTTP.ReadHeaderTimeout)
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes", "must be at least 1024")
	}

	oneOf("store.backend", c.Store.Backend, "memory", "redis")
	if c.Store.BreakerFailures < 1 {
		bad("store.breaker_failures", "must be at least 1")
	}
	positive("store.breaker_cooldown", c.Store.BreakerCooldown)
	if c.Store.Backend == "redis" && len(c.Store.Redis.Addrs) == 0 {
		if u, err := url.Parse(c.Store.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("store.redis.url", "must be a redis://, rediss:// or unix:// URL")
		}
	}

	oneOf("whatsapp.provider", c.WhatsApp.Provider, "sandbox", "cloudapi")
	if c.WhatsApp.Provider == "cloudapi" {
		if c.WhatsApp.PhoneNumberID == "" {
			bad("whatsapp.phone_number_id", "is required with whatsapp.provider cloudapi")
		}
		if !c.WhatsApp.AccessToken.IsSet() {
			bad("whatsapp.access_token", "is required with whatsapp.provider cloudapi")
		}
		if !c.WhatsApp.AppSecret.IsSet() {
			bad("whatsapp.app_secret", "is required with whatsapp.provider cloudapi (webhook signatures)")
		}
		if c.WhatsApp.BaseURL == "" {
			bad("whatsapp.base_url", "is required with whatsapp.provider cloudapi")
		}
	}
	if c.WhatsApp.BaseURL != "" {
		if u, err := url.Parse(c.WhatsApp.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("whatsapp.base_url", "%q is not an http(s) URL", c.WhatsApp.BaseURL)
		}
	}
	if c.WhatsApp.Throughput <= 0 || c.WhatsApp.Throughput > 1000 {
		bad("whatsapp.throughput", "must be within (0, 1000] messages/s, got %g", c.WhatsApp.Throughput)
	}
	positive("whatsapp.pair_period", c.WhatsApp.PairPeriod)
	if c.WhatsApp.PairBurst < 1 {
		bad("whatsapp.pair_burst", "must be at least 1")
	}
	positive("whatsapp.request_timeout", c.WhatsApp.RequestTimeout)
	positive("whatsapp.breaker_cooldown", c.WhatsApp.BreakerCooldown)
	positive("whatsapp.webhook_claim_idle", c.WhatsApp.WebhookClaimIdle)
	if c.WhatsApp.Sandbox.Latency < 0 {
		bad("whatsapp.sandbox.latency", "must not be negative")
	}
	for i, t := range c.WhatsApp.Sandbox.Templates {
		if t.Name == "" || len(t.Languages) == 0 {
			bad(fmt.Sprintf("whatsapp.sandbox.templates[%d]", i), "needs a name and at least one language")
		}
	}

	if !regionRe.MatchString(c.Lookup.DefaultRegion) {
		bad("lookup.default_region", "%q is not an ISO 3166 region in upper case such as SA or GB", c.Lookup.DefaultRegion)
	} else if !phonenumbers.GetSupportedRegions()[c.Lookup.DefaultRegion] {
		// XX passes the pattern but every national number would then fail at run time.
		bad("lookup.default_region", "%q is not a region phone numbers are known for", c.Lookup.DefaultRegion)
	}
	positive("lookup.presence.budget", c.Lookup.Presence.Budget)
	positive("lookup.presence.store_timeout", c.Lookup.Presence.StoreTimeout)
	positive("lookup.presence.list_poll", c.Lookup.Presence.ListPoll)
	positive("lookup.presence.yes_ttl", c.Lookup.Presence.YesTTL)
	positive("lookup.presence.no_ttl", c.Lookup.Presence.NoTTL)
	positive("lookup.presence.http.timeout", c.Lookup.Presence.HTTP.Timeout)
	positive("lookup.presence.http.positive_ttl", c.Lookup.Presence.HTTP.PositiveTTL)
	positive("lookup.presence.http.negative_ttl", c.Lookup.Presence.HTTP.NegativeTTL)
	if c.Lookup.Presence.HTTP.NotFoundTTL < 0 {
		bad("lookup.presence.http.not_found_ttl", "must not be negative, got %s", c.Lookup.Presence.HTTP.NotFoundTTL)
	}
	positive("lookup.presence.http.breaker_cooldown", c.Lookup.Presence.HTTP.BreakerCooldown)
	if c.Lookup.Presence.HTTP.BreakerFailures < 1 {
		bad("lookup.presence.http.breaker_failures", "must be at least 1")
	}
	if u := c.Lookup.Presence.HTTP.URL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
			bad("lookup.presence.http.url", "%q is not an http(s) URL", u)
		}
	}

	if c.IVR.DefaultLanguage == "" {
		bad("ivr.default_language", "is required")
	}
	positive("ivr.first_digit_timeout", c.IVR.FirstDigitTimeout)
	if c.IVR.OfferRepeats < 1 {
		bad("ivr.offer_repeats", "must be at least 1")
	}

	d := c.Deflect
	oneOf("deflect.unknown_presence", d.UnknownPresence, "offer", "skip")
	oneOf("deflect.missing_wait", d.MissingWait, "offer", "skip")
	oneOf("deflect.other_queues", d.OtherQueues, "offer", "skip")
	for name, q := range d.Queues {
		if strings.TrimSpace(name) == "" {
			bad("deflect.queues", "a queue name is empty")
		}
		if q.MinWait < 0 {
			bad("deflect.queues."+name+".min_wait", "must not be negative, got %s", q.MinWait)
		}
	}
	oneOf("deflect.route_to", d.RouteTo, "bot", "agent")
	oneOf("deflect.on_decline", d.OnDecline, "bye", "refer")
	oneOf("deflect.on_no_status", d.OnNoStatus, "sent", "failed")
	for i, t := range d.AllowedTypes {
		oneOf(fmt.Sprintf("deflect.allowed_types[%d]", i), t, "mobile", "fixed-line", "fixed-line-or-mobile", "voip", "toll-free", "premium", "shared-cost", "personal", "pager", "uan", "voicemail", "unknown")
	}
	for i, r := range d.Regions {
		if !regionRe.MatchString(r) {
			bad(fmt.Sprintf("deflect.regions[%d]", i), "%q is not an ISO 3166 region", r)
		}
	}
	if d.MinWait < 0 {
		bad("deflect.min_wait", "must not be negative")
	}
	bh := d.BusinessHours
	if bh.TimeZone != "" {
		if _, err := time.LoadLocation(bh.TimeZone); err != nil {
			bad("deflect.business_hours.time_zone", "%q is not a known time zone", bh.TimeZone)
		}
	}
	if (bh.Open == "") != (bh.Close == "") {
		bad("deflect.business_hours.open", "open and close are set together")
	}
	for _, kv := range [][2]string{{"open", bh.Open}, {"close", bh.Close}} {
		if kv[1] != "" {
			if _, err := time.Parse("15:04", kv[1]); err != nil {
				bad("deflect.business_hours."+kv[0], "%q is not HH:MM", kv[1])
			}
		}
	}
	for i, day := range bh.Days {
		oneOf(fmt.Sprintf("deflect.business_hours.days[%d]", i), strings.ToLower(day), "mon", "tue", "wed", "thu", "fri", "sat", "sun")
	}
	for i, h := range bh.Holidays {
		if _, err := time.Parse(time.DateOnly, h); err != nil {
			bad(fmt.Sprintf("deflect.business_hours.holidays[%d]", i), "%q is not YYYY-MM-DD", h)
		}
	}
	if d.Cooldown < 0 {
		bad("deflect.cooldown", "must not be negative")
	}
	positive("deflect.confirm_timeout", d.ConfirmTimeout)
	positive("deflect.session_ttl", d.SessionTTL)
	if d.Template.Name == "" {
		bad("deflect.template.name", "is required")
	}

	in := c.Inbox
	if in.MaxChatsPerAgent < 1 {
		bad("inbox.max_chats_per_agent", "must be at least 1")
	}
	if in.FallbackAfter < 0 || in.DeskRetries < 0 || in.PresenceTTL < 0 {
		bad("inbox", "fallback_after, desk_retries and presence_ttl must not be negative")
	}
	positive("inbox.window_duration", in.WindowDuration)
	if in.DeskWebhookURL != "" {
		if u, err := url.Parse(in.DeskWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("inbox.desk_webhook_url", "%q is not an http(s) URL", in.DeskWebhookURL)
		} else if !in.DeskSecret.IsSet() {
			bad("inbox.desk_secret", "is required with a desk webhook (receivers check the signature)")
		}
	}

	if in.MaxMediaBytes < 1024 {
		bad("inbox.max_media_bytes", "must be at least 1024 (it caps media shown in and sent from the console)")
	}
	for name, texts := range in.TemplateTexts {
		for lang, text := range texts {
			if name == "" || lang == "" || strings.TrimSpace(text) == "" {
				bad("inbox.template_texts", "template %q language %q: name, language and text are required", name, lang)
			}
		}
	}
	for lang, texts := range in.CannedResponses {
		if lang == "" || slices.ContainsFunc(texts, func(t string) bool { return strings.TrimSpace(t) == "" }) {
			bad("inbox.canned_responses", "language %q: a language code and non-empty texts are required", lang)
		}
	}

	validateTokens(c.API, bad, oneOf)
	return errors.Join(errs...)
}

// minTokenLen: a bearer token shorter than this is guessable; 16 random characters are ~95 bits.
const minTokenLen = 16

// validateTokens checks api.admin_token and api.tokens: long enough, not a sample value, no
// name or token used twice (a duplicate would make the token's identity ambiguous).
func validateTokens(api APIConfig, bad func(key, format string, a ...any), oneOf func(key, val string, allowed ...string)) {
	strong := func(key string, tok Secret) {
		v := tok.Reveal()
		switch {
		case strings.HasPrefix(v, "change-me"), strings.HasPrefix(v, "replace-me"):
			bad(key, "is the sample value; set a random token of at least %d characters", minTokenLen)
		case len(v) < minTokenLen:
			bad(key, "is %d characters; use a random token of at least %d", len(v), minTokenLen)
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
			bad(key+".token", "is empty")
		} else {
			strong(key+".token", t.Token)
			if first, dup := seen[t.Token.Reveal()]; dup {
				bad(key+".token", "is the same token as %s", first)
			}
			seen[t.Token.Reveal()] = key + ".token"
		}
		if j, dup := names[t.Name]; dup && t.Name != "" {
			bad(key+".name", "%q is also the name of api.tokens[%d]", t.Name, j)
		}
		names[t.Name] = i
		if len(t.Scopes) == 0 {
			bad(key+".scopes", "needs at least one of admin, agent, pbx")
		}
		for _, s := range t.Scopes {
			oneOf(key+".scopes", s, "admin", "agent", "pbx")
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
