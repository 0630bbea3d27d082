package sandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
)

// idGen makes Meta-shaped ids. A real wamid is "wamid." + base64 of a small protobuf-like
// record: 0x1c 0x18 <len> <wa_id digits> 0x15 0x02 0x00 then, for a business-sent message,
// 0x11 0x18 0x12 and 18 upper-case hex characters (for a user-sent one 0x12 0x18 0x14 and 20),
// then 0x00. E.g. wamid.HBgLNjAxNzM1MjYyMzMVAgARGBJCNkY5NTBENEU3ODYxQTM3RUQA.
// A counter in the hex part makes every id unique within one sandbox.
type idGen struct {
	prefix [4]byte // random per sandbox, so two sandboxes do not collide
	n      atomic.Uint64
}

func newIDGen() *idGen {
	g := &idGen{}
	_, _ = rand.Read(g.prefix[:])
	return g
}

func (g *idGen) wamid(waID string, outbound bool) string {
	var uniq [10]byte
	copy(uniq[:4], g.prefix[:])
	binary.BigEndian.PutUint32(uniq[4:8], uint32(g.n.Add(1)))
	_, _ = rand.Read(uniq[8:])
	hexID := strings.ToUpper(hex.EncodeToString(uniq[:])) // 20 characters
	kind := []byte{0x12, 0x18, 0x14}
	if outbound {
		kind = []byte{0x11, 0x18, 0x12}
		hexID = hexID[2:] // 18 characters, counter kept
	}
	b := make([]byte, 0, 48)
	b = append(b, 0x1c, 0x18, byte(len(waID)))
	b = append(b, waID...)
	b = append(b, 0x15, 0x02, 0x00)
	b = append(b, kind...)
	b = append(b, hexID...)
	b = append(b, 0x00)
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

// conversationID looks like Meta's 32 hex character conversation ids.
func (g *idGen) conversationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	binary.BigEndian.PutUint32(b[:4], uint32(g.n.Add(1)))
	return hex.EncodeToString(b[:])
}

// Signature is the X-Hub-Signature-256 header value Meta sends with a webhook: "sha256=" and the
// lower-case hex HMAC-SHA256 of the raw body keyed with the app secret.
func Signature(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// normalizeNumber turns what a client may put in "to" ("+966 50-123 4567", "966501234567") into
// a wa_id: the E.164 digits without '+'. Meta accepts spaces, dashes, dots and parentheses.
func normalizeNumber(s string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", fmt.Errorf("parse phone number: unexpected %q", r)
		}
	}
	d := b.String()
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", fmt.Errorf("parse phone number: %d digits is not an international number", len(d))
	}
	return d, nil
}

// bsuidRE is the form of Meta's business-scoped user ids: a two-letter country code, a period,
// "ENT." for a parent id, and up to 128 letters and digits ("US.13491208655302741918"), as Meta's
// "Business-scoped user IDs" page of the WhatsApp Business Platform documentation gives it.
var bsuidRE = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$`)

// customerID is how the sandbox keys a customer: a business-scoped user id as it is (a customer
// with a username, whose phone number Meta withholds), else the phone number's wa_id.
func customerID(s string) (string, error) {
	if s = strings.TrimSpace(s); bsuidRE.MatchString(s) {
		return s, nil
	}
	return normalizeNumber(s)
}

// mask hides the middle of a number for logs: 96650****567.
func mask(waID string) string {
	if len(waID) <= 7 {
		return "****"
	}
	return waID[:len(waID)-7] + "****" + waID[len(waID)-3:]
}
