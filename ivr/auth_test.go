package ivr

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// authRequest builds an INVITE for user at the gateway, with an Authorization header when auth
// is not empty.
func authRequest(ruriUser, auth string) *sip.Request {
	r := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: ruriUser, Host: "127.0.0.1", Port: 5060})
	if auth != "" {
		r.AppendHeader(sip.NewHeader("Authorization", auth))
	}
	return r
}

// answerChallenge computes the Authorization a client sends for challenge h.
func answerChallenge(t *testing.T, h sip.Header, ruriUser, user, pass string) string {
	t.Helper()
	if h.Name() != "WWW-Authenticate" {
		t.Fatalf("not a challenge: %s", h.Name())
	}
	chal, err := digest.ParseChallenge(h.Value())
	if err != nil {
		t.Fatalf("parse challenge %q: %v", h.Value(), err)
	}
	uri := sip.Uri{Scheme: "sip", User: ruriUser, Host: "127.0.0.1", Port: 5060}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: uri.String(), Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	return cred.String()
}

func TestDigestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	a := newDigestAuth("deflectd", "pbx", "s3cret")
	a.now = clock
	// A second instance with the same config (behind a dispatcher) accepts the first one's nonces.
	a2 := newDigestAuth("deflectd", "pbx", "s3cret")
	a2.now = clock
	a3 := newDigestAuth("deflectd", "pbx", "different")
	a3.now = clock

	chal := a.challenge(false)
	for _, want := range []string{`realm="deflectd"`, "nonce=", "qop=", "MD5"} {
		if !strings.Contains(chal.Value(), want) {
			t.Errorf("WWW-Authenticate %q lacks %s", chal.Value(), want)
		}
	}
	signed := func(ruriUser, user, pass string) *sip.Request {
		return authRequest(ruriUser, answerChallenge(t, chal, ruriUser, user, pass))
	}
	tests := []struct {
		name string
		a    *digestAuth
		req  *sip.Request
		ok   bool
	}{
		{"right credentials", a, signed("queue", "pbx", "s3cret"), true},
		{"right credentials, any R-URI user", a, signed("nobody-here", "pbx", "s3cret"), true},
		{"right credentials at another instance", a2, signed("queue", "pbx", "s3cret"), true},
		{"wrong password", a, signed("queue", "pbx", "guess"), false},
		{"unknown user", a, signed("queue", "admin", "s3cret"), false},
		{"nonce from a differently keyed instance", a3, signed("queue", "pbx", "s3cret"), false},
		{"forged nonce", a, authRequest("queue", `Digest username="pbx", realm="deflectd", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="sip:queue@127.0.0.1:5060", response="00000000000000000000000000000000"`), false},
		{"garbage Authorization", a, authRequest("queue", "Basic cGJ4OnMzY3JldA=="), false},
		{"other realm", a, authRequest("queue", `Digest username="pbx", realm="elsewhere", nonce="x", uri="sip:a@b", response="0"`), false},
		{"no Authorization", a, authRequest("queue", ""), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, stale := tc.a.verify(tc.req)
			if ok != tc.ok || stale {
				t.Fatalf("verify = %v (stale %v), want %v", ok, stale, tc.ok)
			}
		})
	}

	t.Run("expired nonce is stale, the fresh challenge works", func(t *testing.T) {
		r := signed("queue", "pbx", "s3cret")
		now = now.Add(nonceTTL + time.Minute)
		if ok, stale := a.verify(r); ok || !stale {
			t.Fatalf("verify = %v stale %v, want stale", ok, stale)
		}
		fresh := a.challenge(true)
		if !strings.Contains(strings.ToLower(fresh.Value()), "stale=true") {
			t.Fatalf("challenge %q lacks stale=true", fresh.Value())
		}
		r2 := authRequest("queue", answerChallenge(t, fresh, "queue", "pbx", "s3cret"))
		if ok, _ := a.verify(r2); !ok {
			t.Fatal("refused after the re-challenge")
		}
	})
}

// TestNoUserEnumeration: with sip.auth, whatever user the Request-URI names, and whether or not
// it is a real account, the answer is the same (status, reason, header names).
func TestNoUserEnumeration(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) {
		c.SIP.Auth.Realm, c.SIP.Auth.Username, c.SIP.Auth.Password = "deflectd", "pbx", "s3cret"
	})
	r := newRawUDP(t, g.Addr("udp"))
	var shapes []string
	for i, u := range []string{"queue", "pbx", "admin", "100", "nonexistent-user-xyz"} {
		inv := r.invite(fmt.Sprintf("z9hG4bK-enum%d", i), fmt.Sprintf("enum%d@test", i), "", "")
		inv = strings.Replace(inv, "INVITE sip:ivr@", "INVITE sip:"+u+"@", 1)
		r.send(inv)
		res := r.recvResponse(2*time.Second, 200)
		shape := fmt.Sprint(res.StatusCode, " ", res.Reason)
		for _, h := range res.Headers() {
			shape += " " + h.Name()
		}
		shapes = append(shapes, shape)
		tag, _ := res.To().Params.Get("tag")
		r.send(r.request("ACK", fmt.Sprintf("z9hG4bK-enum%d", i), fmt.Sprintf("enum%d@test", i), 1, tag, ""))
	}
	if !strings.HasPrefix(shapes[0], "401 ") {
		t.Fatalf("INVITE without credentials answered %q, want 401", shapes[0])
	}
	for _, s := range shapes[1:] {
		if s != shapes[0] {
			t.Fatalf("answers differ by user: %q", shapes)
		}
	}
}
