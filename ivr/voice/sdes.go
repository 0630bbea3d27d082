package voice

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// SDES keying (RFC 4568): each side puts its own sending key in its SDP as
// "a=crypto:<tag> <suite> inline:<base64 of master key || master salt>[|lifetime][|MKI:len]".
// Meta offers SDES SRTP on a SIP-enabled number when it is switched on in the number's calling
// settings ("SIP with SDES media"); the suite both sides support is AES_CM_128_HMAC_SHA1_80.

// Suites we accept, by their RFC 4568 §6.2 names.
var suites = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
}

// ErrNoCrypto means an offer carries no a=crypto line with a suite we support: answer 488.
var ErrNoCrypto = errors.New("no supported a=crypto suite")

// Crypto is one SDES key.
type Crypto struct {
	Tag   int
	Suite string
	Key   []byte // master key || master salt (30 bytes for the AES_CM_128 suites)
}

// keyLen is the master key plus salt length of a suite.
func keyLen(p srtp.ProtectionProfile) int {
	k, _ := p.KeyLen()
	s, _ := p.SaltLen()
	return k + s
}

// NewCrypto makes a fresh random key for suite (one of suites).
func NewCrypto(tag int, suite string) (Crypto, error) {
	p, ok := suites[suite]
	if !ok {
		return Crypto{}, fmt.Errorf("srtp suite %q: %w", suite, ErrNoCrypto)
	}
	key := make([]byte, keyLen(p))
	_, _ = rand.Read(key) // crypto/rand.Read never fails (Go ≥ 1.24)
	return Crypto{Tag: tag, Suite: suite, Key: key}, nil
}

// ParseCrypto reads the value of one a=crypto attribute (without "a=crypto:").
func ParseCrypto(v string) (Crypto, error) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("a=crypto %q: want tag, suite and key params", v)
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("a=crypto tag %q", f[0])
	}
	p, ok := suites[f[1]]
	if !ok {
		return Crypto{}, fmt.Errorf("a=crypto suite %q: %w", f[1], ErrNoCrypto)
	}
	// Several key params may follow (";"-separated); the first inline key is the one used
	// without MKI, and we never negotiate MKI.
	param, _, _ := strings.Cut(f[2], ";")
	inline, ok := strings.CutPrefix(param, "inline:")
	if !ok {
		return Crypto{}, fmt.Errorf("a=crypto key method %q: only inline is defined", param)
	}
	b64, rest, _ := strings.Cut(inline, "|")
	if strings.Contains(rest, ":") { // "|2^20|1:4": the MKI value:length has the colon
		return Crypto{}, fmt.Errorf("a=crypto with an MKI is not supported")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) != keyLen(p) {
		return Crypto{}, fmt.Errorf("a=crypto key: want %d bytes of base64", keyLen(p))
	}
	return Crypto{Tag: tag, Suite: f[1], Key: key}, nil
}

// Attribute is the value of the a=crypto line that announces c.
func (c Crypto) Attribute() string {
	return strconv.Itoa(c.Tag) + " " + c.Suite + " inline:" + base64.StdEncoding.EncodeToString(c.Key)
}

// Context makes an SRTP context for c's key: one per direction and per goroutine (a Context
// keeps replay and rollover state and is not safe for concurrent use).
func (c Crypto) Context() (*srtp.Context, error) {
	p, ok := suites[c.Suite]
	if !ok {
		return nil, fmt.Errorf("srtp suite %q: %w", c.Suite, ErrNoCrypto)
	}
	k, _ := p.KeyLen()
	ctx, err := srtp.CreateContext(c.Key[:k], c.Key[k:], p)
	if err != nil {
		return nil, fmt.Errorf("srtp context: %w", err)
	}
	return ctx, nil
}
