package guard

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// digestAuth is RFC 3261 §22 / RFC 2617 digest authentication of INVITEs (MD5, qop=auth: what
// PBXs and sipp speak). Nonces are stateless: a timestamp and an HMAC keyed from the realm and
// password, so every instance behind a dispatcher accepts the nonces of the others and nothing
// needs storing. A missing or expired credential gets a 401 challenge; a wrong one — bad user,
// bad password, forged nonce — gets the same 403, whatever user the Request-URI names.
type digestAuth struct {
	realm, username, password string
	ttl                       time.Duration
	key                       []byte
}

func newDigestAuth(realm, username, password string, ttl time.Duration) *digestAuth {
	if realm == "" {
		realm = "deflectd"
	}
	k := sha256.Sum256([]byte("deflectd sip nonce\x00" + realm + "\x00" + username + "\x00" + password))
	return &digestAuth{realm: realm, username: username, password: password, ttl: ttl, key: k[:]}
}

func (a *digestAuth) nonce(now time.Time) string {
	var b [8 + 16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Unix()))
	copy(b[8:], a.mac(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *digestAuth) mac(ts []byte) []byte {
	h := hmac.New(sha256.New, a.key)
	h.Write(ts)
	return h.Sum(nil)[:16]
}

// nonceState: valid, stale (genuine but expired) or forged.
func (a *digestAuth) nonceState(n string, now time.Time) (valid, stale bool) {
	b, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil || len(b) != 24 || !hmac.Equal(b[8:], a.mac(b[:8])) {
		return false, false
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if now.Sub(issued) > a.ttl || issued.After(now.Add(time.Minute)) {
		return false, true
	}
	return true, false
}

func (a *digestAuth) challenge(now time.Time, stale bool) Verdict {
	c := digest.Challenge{Realm: a.realm, Nonce: a.nonce(now), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	why := "auth-challenge"
	if stale {
		why = "auth-stale"
	}
	return Verdict{Action: Respond, Code: 401, Reason: "Unauthorized", Why: why,
		Headers: []sip.Header{sip.NewHeader("WWW-Authenticate", c.String())}}
}

func (a *digestAuth) check(req *sip.Request, now time.Time) Verdict {
	h := req.GetHeader("Authorization")
	if h == nil {
		return a.challenge(now, false)
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || !strings.EqualFold(cred.Realm, a.realm) {
		return a.challenge(now, false)
	}
	valid, stale := a.nonceState(cred.Nonce, now)
	if stale {
		return a.challenge(now, true)
	}
	if !valid || !a.verify(req, cred) {
		return Verdict{Action: Respond, Code: 403, Reason: "Forbidden", Why: "auth-failed"}
	}
	return Verdict{Action: Allow}
}

// verify recomputes the response the client should have sent. The user name is compared in
// constant time too: a timing difference would tell which user names exist.
func (a *digestAuth) verify(req *sip.Request, cred *digest.Credentials) bool {
	switch strings.ToUpper(cred.Algorithm) {
	case "", "MD5":
	default:
		return false
	}
	chal := &digest.Challenge{Realm: a.realm, Nonce: cred.Nonce, Algorithm: cred.Algorithm}
	switch cred.QOP {
	case "":
	case "auth":
		chal.QOP = []string{"auth"}
	default:
		return false
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: req.Method.String(), URI: cred.URI, Username: a.username, Password: a.password,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	if err != nil {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(cred.Username), []byte(a.username))
	respOK := subtle.ConstantTimeCompare([]byte(strings.ToLower(cred.Response)), []byte(want.Response))
	return userOK&respOK == 1
}
