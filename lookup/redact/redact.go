// Package redact masks phone numbers in text and in slog records, so that no number reaches a
// log unmasked.
//
// # What is masked
//
// A phone-number-like run is an optional '+' (or its URL encoding "%2B") followed by ASCII
// digits, where single separators — a space, '-', '(' or ')' (two in a row at most, as in
// ") ") — may sit between digits, holding 7 to 17 digits in all, and standing on its own: the
// characters just before and after it are not ASCII letters, digits or '_', it is not joined
// by '-' to a neighbouring alphanumeric token, nor by '.' to a digit (so UUIDs, decimals,
// versions and IPv4 addresses are left alone). A YYYY-MM-DD date is also left alone.
//
// # How it is masked
//
// With n digits in the run, the last 3 digits stay, the first min(5, n-7) digits stay, and
// every digit between becomes '*'; the '+' and the separators stay where they were. So at
// least 4 digits are always hidden, and an E.164 number of 12 digits keeps its '+', 5 leading
// digits (the country code and then some) and its last 3:
//
//	+447700900123    → +44770****123
//	+966501234567    → +96650****567
//	+1 202-555-0123  → +1 202-***-*123   (11 digits: first 4 stay)
//	0501234567       → 050****567        (10 digits: first 3 stay)
//	5551234          → ****234
//
// Runs of 7+ digits that are not phone numbers (counters written into messages, for
// instance) are masked too: privacy over convenience. Non-ASCII digits are not recognised.
//
// # WhatsApp business-scoped user ids
//
// A business-scoped user id ("SA.13491208655302741918": a country code, '.', an optional
// "ENT." and up to 128 letters and digits) names a WhatsApp user who may have hidden their
// phone number behind a username. It holds no phone number, but it is as personal, so it is
// masked like one, whatever its length: the country code and "ENT." stay, and of the rest the
// first min(5, n-7) and the last 3 characters ("SA.13491***************918"). Only ids with 7 or
// more digits are taken for one, so "OK.200" stays.
//
// # WhatsApp message ids
//
// Meta's message ids ("wamid.HBgMOTY2NTAx…") carry the recipient's number in base64, so a
// "wamid." token is replaced by "wamid#" and 12 hex digits of its SHA-256: the same id always
// masks the same way, so log lines about one message still correlate.
package redact

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

const (
	minDigits  = 7  // shorter runs are ports, counts, extensions
	maxDigits  = 17 // longer runs are ids and timestamps, not numbers (E.164 has 15; 00+15 = 17)
	keepTail   = 3
	keepHead   = 5
	minMasked  = 4
	maxSepRun  = 2
	maskedByte = '*'
)

// Mask returns s with every phone-number-like run masked (see the package comment). It does
// not allocate when there is nothing to mask.
func Mask(s string) string {
	if strings.Contains(s, wamidPrefix) {
		s = maskWAMIDs(s)
	}
	if !mayContainNumber(s) {
		return s
	}
	if strings.IndexByte(s, '.') >= 2 {
		s = maskBSUIDs(s)
	}
	var b []byte // allocated on the first run that needs masking
	i := 0
	for i < len(s) {
		start, end, digits, ok := nextRun(s, i)
		if !ok {
			break
		}
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(b, s[i:start]...)
		b = appendMasked(b, s[start:end], digits)
		i = end
	}
	if b == nil {
		return s
	}
	return string(append(b, s[i:]...))
}

// mayContainNumber is the cheap pre-check: at least minDigits ASCII digits somewhere.
func mayContainNumber(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= minDigits {
				return true
			}
		}
	}
	return false
}

// nextRun finds the next maskable run at or after from: s[start:end] holds digits digits.
func nextRun(s string, from int) (start, end, digits int, ok bool) {
	i := from
	for i < len(s) {
		c := s[i]
		var begin, j int
		switch {
		case c == '+' && i+1 < len(s) && isDigit(s[i+1]):
			begin, j = i, i+1
		case c == '%' && i+3 < len(s) && s[i+1] == '2' && (s[i+2] == 'B' || s[i+2] == 'b') && isDigit(s[i+3]):
			begin, j = i, i+3
		case isDigit(c):
			begin, j = i, i
		default:
			i++
			continue
		}
		// A run glued to a word (abc123..., x_123..., 12ab) is part of an identifier.
		if begin > 0 && c != '%' && isWord(s[begin-1]) {
			i = skipWord(s, j)
			continue
		}
		e, n := scanDigits(s, j)
		if (e < len(s) && isWord(s[e])) || gluedBefore(s, begin) || gluedAfter(s, e) ||
			n < minDigits || n > maxDigits || isDate(s[begin:e]) {
			i = skipWord(s, e)
			continue
		}
		return begin, e, n, true
	}
	return 0, 0, 0, false
}

// scanDigits reads digits and short separator runs from j; the run ends on its last digit.
func scanDigits(s string, j int) (end, digits int) {
	end = j
	for j < len(s) {
		if isDigit(s[j]) {
			digits++
			j++
			end = j
			continue
		}
		k := j
		for k < len(s) && isSep(s[k]) && k-j < maxSepRun {
			k++
		}
		if k == j || k >= len(s) || !isDigit(s[k]) {
			break
		}
		j = k
	}
	return end, digits
}

// gluedBefore: "-a716-446655440000" or "1.2345678": the run continues an identifier (joined
// by '-') or a decimal / dotted quad (joined by '.').
func gluedBefore(s string, begin int) bool {
	return begin >= 2 && glue(s[begin-1], s[begin-2])
}

// gluedAfter: "12345678-1234-abcd" or "1234567.5".
func gluedAfter(s string, end int) bool {
	return end+1 < len(s) && glue(s[end], s[end+1])
}

func glue(sep, other byte) bool {
	return (sep == '-' && isWord(other)) || (sep == '.' && isDigit(other))
}

// skipWord moves past the rest of an alphanumeric token (and separators glued inside it).
func skipWord(s string, i int) int {
	for i < len(s) && (isWord(s[i]) || (i+1 < len(s) && glue(s[i], s[i+1]))) {
		i++
	}
	return i
}

func appendMasked(b []byte, run string, digits int) []byte {
	head := min(keepHead, digits-keepTail-minMasked)
	head = max(head, 0)
	tailFrom := digits - keepTail
	d := 0
	for i := 0; i < len(run); i++ {
		c := run[i]
		if !isDigit(c) || (i <= 2 && run[0] == '%') {
			b = append(b, c)
			continue
		}
		if d >= head && d < tailFrom {
			c = maskedByte
		}
		b = append(b, c)
		d++
	}
	return b
}

// isDate recognises YYYY-MM-DD (19xx/20xx), which has 8 digits but is no number.
func isDate(run string) bool {
	return len(run) == 10 && run[4] == '-' && run[7] == '-' &&
		(strings.HasPrefix(run, "19") || strings.HasPrefix(run, "20")) &&
		isDigit(run[2]) && isDigit(run[3]) && isDigit(run[5]) && isDigit(run[6]) && isDigit(run[8]) && isDigit(run[9])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSep(c byte) bool { return c == ' ' || c == '-' || c == '(' || c == ')' }

// isWord is ASCII only: a number right after a non-ASCII letter or quote is still masked.
func isWord(c byte) bool {
	return isDigit(c) || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

const wamidPrefix = "wamid."

// maskWAMIDs replaces each "wamid.<base64>" token with a stable digest of it.
func maskWAMIDs(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, wamidPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := i + len(wamidPrefix)
		for j < len(s) && isBase64Byte(s[j]) {
			j++
		}
		sum := sha256.Sum256([]byte(s[i:j]))
		b.WriteString(s[:i])
		b.WriteString("wamid#")
		b.WriteString(hex.EncodeToString(sum[:6]))
		s = s[j:]
	}
}

func isBase64Byte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_'
}

// maskBSUIDs masks each business-scoped user id in s (see the package comment), in place of
// the number rule: a masked id no longer holds a run of 7 digits.
func maskBSUIDs(s string) string {
	var b []byte
	for i := 2; i < len(s); i++ {
		start, end, ok := bsuidAt(s, i)
		if !ok {
			continue
		}
		if b == nil {
			b = []byte(s)
		}
		n := end - start
		head := max(min(keepHead, n-keepTail-minMasked), 0)
		for k := start + head; k < end-keepTail; k++ {
			b[k] = maskedByte
		}
		i = end
	}
	if b == nil {
		return s
	}
	return string(b)
}

// bsuidAt reports whether s[dot] is the '.' after the country code of a business-scoped user
// id, and where its id part (after "ENT." if any) is.
func bsuidAt(s string, dot int) (start, end int, ok bool) {
	if s[dot] != '.' || !isUpper(s[dot-1]) || !isUpper(s[dot-2]) ||
		dot >= 3 && (isWord(s[dot-3]) || s[dot-3] == '.') {
		return 0, 0, false
	}
	start = dot + 1
	if strings.HasPrefix(s[start:], "ENT.") {
		start += 4
	}
	digits := 0
	end = start
	for end < len(s) && end-start < 129 && (isDigit(s[end]) || isUpper(s[end]) || s[end] >= 'a' && s[end] <= 'z') {
		if isDigit(s[end]) {
			digits++
		}
		end++
	}
	if digits < minDigits || end-start > 128 || end < len(s) && (isWord(s[end]) || gluedAfter(s, end)) {
		return 0, 0, false
	}
	return start, end, true
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
