package ivr

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// nonceTTL is how long a digest nonce we issued is accepted.
const nonceTTL = 5 * time.Minute

// digestAuth checks INVITEs against sip.auth (RFC 3261 22.4, MD5 or SHA-256, qop auth or none).
// Nonces are stateless: a timestamp and its HMAC under a per-process key, so any number of
// calls and restarts cost no memory (a restart makes outstanding nonces stale, and the PBX
// retries with a fresh one).
type digestAuth struct {
	realm, user, pass string
	key               [32]byte
	now               func() time.Time
}

func newDigestAuth(realm, user, pass string) *digestAuth {
	a := &digestAuth{realm: realm, user: user, pass: pass, now: time.Now}
	_, _ = rand.Read(a.key[:])
	return a
}

func (a *digestAuth) nonce() string {
	ts := strconv.FormatInt(a.now().Unix(), 16)
	return ts + "." + a.mac(ts)
}

func (a *digestAuth) mac(ts string) string {
	m := hmac.New(sha256.New, a.key[:])
	m.Write([]byte(ts))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// checkNonce reports whether we issued n, and whether it is too old.
func (a *digestAuth) checkNonce(n string) (ours, stale bool) {
	ts, mac, ok := strings.Cut(n, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(a.mac(ts))) {
		return false, false
	}
	sec, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false, false
	}
	return true, a.now().Sub(time.Unix(sec, 0)) > nonceTTL
}

// verify reports whether req carries valid credentials; stale is true when they were right
// but the nonce expired (the challenge then says stale=true and the PBX retries silently).
func (a *digestAuth) verify(req *sip.Request) (ok, stale bool) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false, false
	}
	creds, err := digest.ParseCredentials(h.Value())
	if err != nil || creds.Username != a.user || creds.Realm != a.realm {
		return false, false
	}
	ours, old := a.checkNonce(creds.Nonce)
	if !ours {
		return false, false
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: creds.Nonce, Algorithm: creds.Algorithm, Opaque: creds.Opaque}
	switch creds.QOP {
	case "":
	case "auth":
		chal.QOP = []string{"auth"}
	default:
		return false, false
	}
	want, err := digest.Digest(chal, digest.Options{Method: req.Method.String(), URI: creds.URI,
		Username: a.user, Password: a.pass, Cnonce: creds.Cnonce, Count: creds.Nc})
	if err != nil || subtle.ConstantTimeCompare([]byte(want.Response), []byte(creds.Response)) != 1 {
		return false, false
	}
	if old {
		return false, true
	}
	return true, false
}

func (a *digestAuth) challenge(stale bool) sip.Header {
	c := digest.Challenge{Realm: a.realm, Nonce: a.nonce(), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	return sip.NewHeader("WWW-Authenticate", c.String())
}
