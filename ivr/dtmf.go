package ivr

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// parseInfoDTMF reads a digit from a SIP INFO: application/dtmf-relay ("Signal=1\r\nDuration=160")
// or application/dtmf ("1"). supported is false for other body types; an INFO without a body
// (a keep-alive) is supported with ok false.
func parseInfoDTMF(req *sip.Request) (digit rune, ok, supported bool) {
	body := req.Body()
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
		if i := strings.IndexByte(ct, ';'); i >= 0 {
			ct = strings.TrimSpace(ct[:i])
		}
	}
	if len(body) == 0 {
		return 0, false, true
	}
	if len(body) > 1024 {
		return 0, false, true
	}
	switch ct {
	case "application/dtmf-relay":
		for _, line := range strings.Split(string(body), "\n") {
			k, v, found := strings.Cut(line, "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "signal") {
				d, ok := dtmfDigit(strings.TrimSpace(v))
				return d, ok, true
			}
		}
		return 0, false, true
	case "application/dtmf":
		d, ok := dtmfDigit(strings.TrimSpace(string(body)))
		return d, ok, true
	}
	return 0, false, false
}

// dtmfDigit maps a signal name to a digit: 0-9, *, #, A-D, and the event codes 10 (*) and 11 (#)
// some gateways send.
func dtmfDigit(s string) (rune, bool) {
	switch s {
	case "10":
		return '*', true
	case "11":
		return '#', true
	}
	if len(s) != 1 {
		return 0, false
	}
	c := rune(s[0])
	switch {
	case c >= '0' && c <= '9', c == '*', c == '#':
		return c, true
	case c >= 'A' && c <= 'D':
		return c, true
	case c >= 'a' && c <= 'd':
		return c - 'a' + 'A', true
	}
	return 0, false
}
