package ivr

import (
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/lookup"
)

// Bounds on what an INVITE may hand us: the values reach a store and a WhatsApp template, so
// a misbehaving PBX must not be able to grow them without limit.
const (
	maxValueLen       = 256 // bytes per context value
	maxContextHeaders = 32  // X-Context-* headers kept
	maxUserToUser     = 512 // bytes of decoded User-to-User
	maxWaitEstimate   = 7 * 24 * 3600
)

// contextRules are what parsing needs from the server: normalisation and prompt languages.
type contextRules struct {
	normalize       func(raw string) lookup.Number
	defaultLanguage string
	regionLanguages map[string]string
	hasLanguage     func(lang string) bool
}

// parseCallInfo reads the caller and the queue context from an INVITE. Bad values are dropped
// with a log line; nothing here fails the call.
func parseCallInfo(req *sip.Request, rules contextRules, log *slog.Logger) CallInfo {
	ci := CallInfo{WaitEstimate: -1, Transport: strings.ToLower(req.Transport())}
	if h := req.CallID(); h != nil {
		ci.CallID = h.Value()
	}
	if ap, err := netip.ParseAddrPort(req.Source()); err == nil {
		ci.Source = ap
	}

	ci.CallerRaw = callerFrom(req)
	if ci.CallerRaw != "" && rules.normalize != nil {
		ci.Caller = rules.normalize(ci.CallerRaw)
	}
	if !ci.Caller.Valid {
		log.Info("caller number not usable", "reason", "unparseable")
	}

	get := func(name string) (string, bool) {
		h := req.GetHeader(name)
		if h == nil {
			return "", false
		}
		v, ok := cleanValue(h.Value())
		if !ok {
			log.Info("context header ignored", "header", name, "reason", "too long or not printable")
			return "", false
		}
		return v, v != ""
	}

	ci.Queue, _ = get("X-Queue")
	ci.CustomerID, _ = get("X-Customer-Id")
	ci.ReturnTo, _ = get("X-Return-To")
	if v, ok := get("X-Wait-Estimate"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxWaitEstimate {
			log.Info("context header ignored", "header", "X-Wait-Estimate", "reason", "not a number of seconds")
		} else {
			ci.WaitEstimate = n
		}
	}

	for _, h := range req.Headers() {
		name := h.Name()
		if len(name) <= len("X-Context-") || !strings.EqualFold(name[:len("X-Context-")], "X-Context-") {
			continue
		}
		key := name[len("X-Context-"):]
		if !isToken(key) {
			// The name is not logged: it is what is wrong (control characters, ...).
			log.Info("context header ignored", "header", "X-Context-*", "reason", "name not a token")
			continue
		}
		if len(ci.Context) >= maxContextHeaders {
			log.Info("context header ignored", "header", name, "reason", "too many X-Context headers")
			continue
		}
		v, ok := cleanValue(h.Value())
		if !ok || len(key) > 64 {
			log.Info("context header ignored", "header", "X-Context-*", "reason", "too long or not printable")
			continue
		}
		if ci.Context == nil {
			ci.Context = make(map[string]string)
		}
		ci.Context[key] = v
	}

	if h := req.GetHeader("User-to-User"); h != nil {
		uui, err := decodeUserToUser(h.Value())
		if err != nil {
			log.Info("context header ignored", "header", "User-to-User", "reason", err.Error())
		} else {
			ci.UserToUser = uui
		}
	}

	var lang string
	if v, ok := get("X-Language"); ok {
		lang = primaryLanguage(v)
		if lang == "" || (rules.hasLanguage != nil && !rules.hasLanguage(lang)) {
			log.Info("X-Language not available, using the caller's region", "language", v)
			lang = ""
		}
	}
	if lang == "" && ci.Caller.Region != "" {
		lang = rules.regionLanguages[ci.Caller.Region]
	}
	if lang == "" || (rules.hasLanguage != nil && !rules.hasLanguage(lang)) {
		lang = rules.defaultLanguage
	}
	ci.Language = lang
	return ci
}

// callerFrom picks the caller's identity: P-Asserted-Identity (the tel: value when several are
// given, as it is the one a PBX puts the E.164 in), else From. It returns the number part.
func callerFrom(req *sip.Request) string {
	var best string
	for _, h := range req.GetHeaders("P-Asserted-Identity") {
		for _, v := range splitAddressList(h.Value()) {
			u := addressURI(v)
			n := uriNumber(u)
			if n == "" {
				continue
			}
			if strings.HasPrefix(strings.ToLower(u), "tel:") || best == "" {
				best = n
			}
		}
	}
	if best != "" {
		return best
	}
	if f := req.GetHeader("From"); f != nil {
		return uriNumber(addressURI(f.Value()))
	}
	return ""
}

// splitAddressList splits a header value on commas outside quotes and angle brackets.
func splitAddressList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' && (i == 0 || s[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// addressURI returns the URI of a name-addr ("Name" <uri>;params) or addr-spec.
func addressURI(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return strings.TrimSpace(v[i+1 : i+j])
		}
		return ""
	}
	if i := strings.IndexByte(v, ';'); i >= 0 && !strings.HasPrefix(strings.ToLower(v), "tel:") {
		v = v[:i] // header params of an addr-spec
	}
	return strings.TrimSpace(v)
}

// uriNumber extracts the number from tel:NUMBER;params or sip(s):USER@host.
func uriNumber(u string) string {
	lower := strings.ToLower(u)
	switch {
	case strings.HasPrefix(lower, "tel:"):
		n := u[4:]
		if i := strings.IndexByte(n, ';'); i >= 0 {
			n = n[:i]
		}
		return cleanNumber(n)
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		rest := u[strings.IndexByte(u, ':')+1:]
		at := strings.IndexByte(rest, '@')
		if at < 0 {
			return ""
		}
		user := rest[:at]
		if i := strings.IndexByte(user, ';'); i >= 0 { // user parameters
			user = user[:i]
		}
		if i := strings.IndexByte(user, ':'); i >= 0 { // password
			user = user[:i]
		}
		return cleanNumber(user)
	}
	return ""
}

// cleanNumber keeps a dialable string: digits with an optional leading +, visual separators
// removed. Anything else (names, anonymous) gives "".
func cleanNumber(s string) string {
	if len(s) > 64 {
		return ""
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == '-' || r == '.' || r == '(' || r == ')' || r == ' ':
		case r == '%': // percent-encoded separators are rare; refuse rather than guess
			return ""
		default:
			return ""
		}
	}
	n := b.String()
	if strings.Trim(n, "+") == "" {
		return ""
	}
	return n
}

// isToken reports whether s is a non-empty RFC 3261 token (section 25.1): alphanumerics and
// -.!%*_+`'~. Context names become keys elsewhere (templates, logs, webhooks).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// cleanValue trims a header value and refuses oversized or control-character values.
func cleanValue(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) > maxValueLen || !utf8.ValidString(v) {
		return "", false
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return v, true
}

// primaryLanguage returns the primary subtag of a BCP 47 tag ("ar-SA" → "ar"), or "".
func primaryLanguage(tag string) string {
	p := tag
	if i := strings.IndexAny(p, "-_"); i >= 0 {
		p = p[:i]
	}
	p = strings.ToLower(strings.TrimSpace(p))
	if len(p) < 2 || len(p) > 3 {
		return ""
	}
	for _, r := range p {
		if r < 'a' || r > 'z' {
			return ""
		}
	}
	return p
}

type uuiError string

func (e uuiError) Error() string { return string(e) }

// decodeUserToUser decodes an RFC 7433 User-to-User value: data;encoding=hex;purpose=...
// Hex data is decoded to text, or kept hex-encoded when it is binary; other data is kept as sent
// and must be printable. Both are bounded.
func decodeUserToUser(v string) (string, error) {
	v = strings.TrimSpace(v)
	data, params, _ := strings.Cut(v, ";")
	data = strings.Trim(strings.TrimSpace(data), `"`)
	hexEncoded := false
	for _, p := range strings.Split(params, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "encoding") && strings.EqualFold(strings.TrimSpace(val), "hex") {
			hexEncoded = true
		}
	}
	if data == "" {
		return "", uuiError("empty")
	}
	if hexEncoded {
		if len(data) > 2*maxUserToUser {
			return "", uuiError("too long")
		}
		b, err := hex.DecodeString(data)
		if err != nil {
			return "", uuiError("bad hex")
		}
		if !printable(string(b)) {
			// Binary data (an ISDN UUIE, a CTI token) is kept as sent, hex-encoded and marked so
			// (RFC 7433 encoding=hex), for the agent's desk to decode.
			return strings.ToLower(data) + ";encoding=hex", nil
		}
		data = string(b)
	}
	if len(data) > maxUserToUser || !utf8.ValidString(data) {
		return "", uuiError("too long or not text")
	}
	if !printable(data) {
		return "", uuiError("not printable")
	}
	return data, nil
}

// printable reports whether s is UTF-8 text without control characters (tabs allowed).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' {
			return false
		}
	}
	return true
}

// LookupNormalizer adapts lookup.Normalize, with lookup.default_region, to New's normalize
// argument. A number that does not normalise comes back with Valid false.
func LookupNormalizer(defaultRegion string) func(raw string) lookup.Number {
	return func(raw string) lookup.Number {
		n, _ := lookup.Normalize(raw, defaultRegion)
		return n
	}
}
