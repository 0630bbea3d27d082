package lookup

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// Kinds of normalisation failure; test with errors.Is. Every error Normalize returns is a
// *NumberError wrapping one of these.
var (
	ErrEmpty    = errors.New("empty number")
	ErrJunk     = errors.New("not a phone number")
	ErrTooShort = errors.New("number too short")
	ErrTooLong  = errors.New("number too long")
	ErrInvalid  = errors.New("invalid number")
)

// NumberError says what is wrong with a raw number. It never carries the raw input (it may end
// up in logs); the caller already has it.
type NumberError struct {
	Kind   error  // ErrEmpty, ErrJunk, ErrTooShort, ErrTooLong or ErrInvalid
	Detail string // e.g. "no digits", "not a valid number for region SA"
}

func (e *NumberError) Error() string {
	if e.Detail == "" {
		return "normalize number: " + e.Kind.Error()
	}
	return "normalize number: " + e.Kind.Error() + ": " + e.Detail
}

func (e *NumberError) Unwrap() error { return e.Kind }

func numErr(kind error, format string, a ...any) *NumberError {
	return &NumberError{Kind: kind, Detail: fmt.Sprintf(format, a...)}
}

// minDigits is the fewest digits libphonenumber considers at all.
const minDigits = 3

// maxRawLen bounds the input we look at; SIP headers with display names stay well below it.
const maxRawLen = 512

// Normalize turns what a PBX sends into a Number: "+966501234567", "00966501234567",
// "0501234567" (with defaultRegion "SA"), "tel:+44-7700-900123;phone-context=+44",
// "sip:+447700900123@pbx;user=phone", `"Alice" <sip:0501234567@pbx>;tag=1`, with spaces,
// dashes, dots and parentheses. defaultRegion (ISO 3166, e.g. "SA") is used for numbers without
// a country code; it may be empty when every input is international.
//
// On success Number.Valid is true. A number that parses but is not valid (ErrInvalid) is
// returned filled in as far as known (E164, Region) with Valid false, alongside the error.
func Normalize(raw, defaultRegion string) (Number, error) {
	n := Number{Raw: raw, Type: TypeUnknown}
	s := strings.TrimSpace(raw)
	if s == "" {
		return n, numErr(ErrEmpty, "nothing to parse")
	}
	if len(s) > maxRawLen {
		return n, numErr(ErrTooLong, "input longer than %d characters", maxRawLen)
	}
	region := strings.ToUpper(strings.TrimSpace(defaultRegion))

	num, err := extractNumber(s)
	if err != nil {
		return n, err
	}
	digits := countDigits(num.part)
	switch {
	case digits == 0:
		return n, numErr(ErrJunk, "no digits")
	case hasLetter(num.part):
		return n, numErr(ErrJunk, "contains letters")
	}

	parseInput := num.part
	if num.tel != "" {
		parseInput = num.tel // phonenumbers understands RFC 3966 phone-context itself
	}
	// Without a region, "00" can only be an international prefix (ITU recommends 00; most
	// PBXs outside NANP send it).
	if region == "" && num.tel == "" {
		if t := strings.TrimLeft(parseInput, " ("); strings.HasPrefix(t, "00") {
			parseInput = "+" + t[2:]
		}
	}

	pn := &phonenumbers.PhoneNumber{}
	if err := phonenumbers.ParseToNumber(parseInput, region, pn); err != nil {
		if errors.Is(err, phonenumbers.ErrNotANumber) && digits < minDigits {
			return n, numErr(ErrTooShort, "only %d digits", digits)
		}
		return n, parseError(err, parseInput, region)
	}

	cc := int(pn.GetCountryCode())
	n.E164 = phonenumbers.Format(pn, phonenumbers.E164)
	n.Region = phonenumbers.GetRegionCodeForNumber(pn)
	if n.Region == "" {
		n.Region = phonenumbers.GetRegionCodeForCountryCode(cc)
	}
	switch phonenumbers.IsPossibleNumberWithReason(pn) {
	case phonenumbers.TOO_SHORT:
		return n, numErr(ErrTooShort, "too few digits for +%d (%s)", cc, n.Region)
	case phonenumbers.TOO_LONG:
		return n, numErr(ErrTooLong, "too many digits for +%d (%s)", cc, n.Region)
	}
	if !phonenumbers.IsValidNumber(pn) {
		if n.Region == "" || n.Region == "ZZ" || n.Region == "001" {
			return n, numErr(ErrInvalid, "not a valid number for country code +%d", cc)
		}
		return n, numErr(ErrInvalid, "not a valid number for region %s", n.Region)
	}
	n.Valid = true
	n.Type = mapType(phonenumbers.GetNumberType(pn))
	return n, nil
}

// extracted is the number-bearing part of a raw value.
type extracted struct {
	part string // what must look like a number (no letters)
	tel  string // the whole tel: URI, when the input was one (params included)
}

// extractNumber strips display names, angle brackets and SIP/tel URI syntax.
func extractNumber(s string) (extracted, error) {
	// Name-addr: `"Alice" <sip:...>;tag=x` or `Alice <tel:...>`: the URI is inside <>.
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return extracted{}, numErr(ErrJunk, "unterminated <")
		}
		s = strings.TrimSpace(s[i+1 : i+j])
	}
	scheme, rest, hasScheme := strings.Cut(s, ":")
	if !hasScheme || strings.ContainsAny(scheme, "+0123456789 ") {
		return extracted{part: s}, nil
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
		// sip:user;userparams@host;uriparams?headers — the number is the user part.
		user, _, hasHost := strings.Cut(rest, "@")
		if !hasHost {
			// "sip:+4477..." without a host: tolerate, strip URI params.
			user, _, _ = strings.Cut(rest, ";")
		}
		user, _, _ = strings.Cut(user, ";") // user params (;npdi;rn=...)
		if u, err := url.PathUnescape(user); err == nil {
			user = u // %2B → +
		}
		if user == "" {
			return extracted{}, numErr(ErrJunk, "%s URI without a user part", strings.ToLower(scheme))
		}
		return extracted{part: user}, nil
	case "tel":
		body, _, _ := strings.Cut(rest, ";")
		if u, err := url.PathUnescape(rest); err == nil {
			rest = u
		}
		if u, err := url.PathUnescape(body); err == nil {
			body = u
		}
		if strings.HasPrefix(strings.TrimSpace(body), "+") {
			// A global number needs no context (RFC 3966 forbids phone-context on it, some
			// PBXs send one anyway).
			return extracted{part: body}, nil
		}
		return extracted{part: body, tel: "tel:" + rest}, nil
	default:
		return extracted{}, numErr(ErrJunk, "unsupported URI scheme %q", scheme)
	}
}

func parseError(err error, input, region string) error {
	switch {
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return numErr(ErrJunk, "not a number")
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return numErr(ErrTooShort, "too few digits")
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return numErr(ErrTooLong, "too many digits")
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		plus := strings.Contains(input, "+") || strings.Contains(input, "\uff0b")
		switch {
		case plus:
			return numErr(ErrInvalid, "unknown country code")
		case region == "":
			return numErr(ErrInvalid, "no country code and no default region")
		case phonenumbers.GetCountryCodeForRegion(region) == 0:
			return numErr(ErrInvalid, "unknown region %s", region)
		default:
			return numErr(ErrInvalid, "cannot read a country code")
		}
	default:
		return numErr(ErrInvalid, "%v", err)
	}
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			n++
		}
	}
	return n
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

func mapType(t phonenumbers.PhoneNumberType) NumberType {
	switch t {
	case phonenumbers.MOBILE:
		return TypeMobile
	case phonenumbers.FIXED_LINE:
		return TypeFixedLine
	case phonenumbers.FIXED_LINE_OR_MOBILE:
		return TypeFixedLineOrMobile
	case phonenumbers.VOIP:
		return TypeVoIP
	case phonenumbers.TOLL_FREE:
		return TypeTollFree
	case phonenumbers.PREMIUM_RATE:
		return TypePremium
	case phonenumbers.SHARED_COST:
		return TypeSharedCost
	case phonenumbers.PERSONAL_NUMBER:
		return TypePersonal
	case phonenumbers.PAGER:
		return TypePager
	case phonenumbers.UAN:
		return TypeUAN
	case phonenumbers.VOICEMAIL:
		return TypeVoicemail
	default:
		return TypeUnknown
	}
}

// IsE164 reports whether s is already in canonical E.164 form: '+' and 8 to 15 digits, no
// leading zero. It is a cheap syntactic check, not validation.
func IsE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	_, err := strconv.ParseUint(s[1:], 10, 64) // digits only: no sign, no '_'
	return err == nil
}
