package ivr

import (
	"crypto/hmac"
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
// Nonces are stateless: a timestamp and its HMAC under a key derived from the realm and the
// credentials, so any number of calls cost no memory, and every instance behind a dispatcher
// (and a restarted one) accepts the nonces of the others. Every failure — no credentials, bad
// user, bad password, forged nonce — gets the same 401 challenge, whatever user the
// Request-URI names, so answers tell no users apart.
type digestAuth struct {
	realm, user, pass string
	key               [32]byte
	now               func() time.Time
}

func newDigestAuth(realm, user, pass string) *digestAuth {
	return &digestAuth{realm: realm, user: user, pass: pass, now: time.Now,
		key: sha256.Sum256([]byte("deflectd sip nonce\x00" + realm + "\x00" + user + "\x00" + pass))}
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

// checkNonce reports whether we (or an instance with the same sip.auth) issued n, and whether
// it is too old or from the future (a clock step: the PBX retries with a fresh one).
func (a *digestAuth) checkNonce(n string) (ours, stale bool) {
	ts, mac, ok := strings.Cut(n, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(a.mac(ts))) {
		return false, false
	}
	sec, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false, false
	}
	issued, now := time.Unix(sec, 0), a.now()
	return true, now.Sub(issued) > nonceTTL || issued.After(now.Add(time.Minute))
}

// verify reports whether req carries valid credentials; stale is true when they were right
// but the nonce expired (the challenge then says stale=true and the PBX retries silently).
func (a *digestAuth) verify(req *sip.Request) (ok, stale bool) {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false, false
	}
	creds, err := digest.ParseCredentials(h.Value())
	if err != nil || !strings.EqualFold(creds.Realm, a.realm) {
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
	if err != nil {
		return false, false
	}
	// The user name is compared in constant time too: a timing difference would tell which
	// user names exist.
	userOK := subtle.ConstantTimeCompare([]byte(creds.Username), []byte(a.user))
	respOK := subtle.ConstantTimeCompare([]byte(strings.ToLower(creds.Response)), []byte(want.Response))
	if userOK&respOK != 1 {
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

// DigestAuth is the same stateless digest check for other SIP listeners (the WhatsApp voice
// listener challenges Meta's INVITEs with the number's SIP password).
type DigestAuth struct{ a *digestAuth }

// NewDigestAuth checks requests against one user and password in realm.
func NewDigestAuth(realm, user, pass string) *DigestAuth {
	return &DigestAuth{a: newDigestAuth(realm, user, pass)}
}

// Verify reports whether req carries valid credentials; stale: right but with an old nonce.
func (d *DigestAuth) Verify(req *sip.Request) (ok, stale bool) { return d.a.verify(req) }

// Challenge is the WWW-Authenticate header of a 401 answer.
func (d *DigestAuth) Challenge(stale bool) sip.Header { return d.a.challenge(stale) }
