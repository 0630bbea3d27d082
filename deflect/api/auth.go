package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/configs"
)

// Scopes of API tokens.
const (
	ScopeAdmin = "admin" // everything
	ScopeAgent = "agent" // read sessions
	ScopePBX   = "pbx"   // pre-qualify
)

type token struct {
	name   string
	hash   [32]byte
	scopes []string
}

func tokensOf(c configs.APIConfig) []token {
	var ts []token
	if c.AdminToken.IsSet() {
		ts = append(ts, token{name: "admin", hash: sha256.Sum256([]byte(c.AdminToken.Reveal())), scopes: []string{ScopeAdmin}})
	}
	for _, t := range c.Tokens {
		if t.Token.IsSet() {
			ts = append(ts, token{name: t.Name, hash: sha256.Sum256([]byte(t.Token.Reveal())), scopes: t.Scopes})
		}
	}
	return ts
}

// auth admits a bearer token holding scope (or admin). Tokens are compared as SHA-256 digests
// in constant time, and every configured token is compared, so timing tells nothing.
func (s *server) auth(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		bearer, ok := bearerToken(c.GetHeader("Authorization"))
		if !ok {
			c.Header("WWW-Authenticate", `Bearer realm="deflectd"`)
			fail(c, http.StatusUnauthorized, "missing bearer token")
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(bearer)))
		var match *token
		for i := range s.tokens {
			if subtle.ConstantTimeCompare(got[:], s.tokens[i].hash[:]) == 1 {
				match = &s.tokens[i]
			}
		}
		if match == nil {
			c.Header("WWW-Authenticate", `Bearer realm="deflectd", error="invalid_token"`)
			fail(c, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		if !slices.Contains(match.scopes, ScopeAdmin) && !slices.Contains(match.scopes, scope) {
			fail(c, http.StatusForbidden, "token lacks scope "+scope)
			return
		}
		c.Set("token", match.name)
		c.Next()
	}
}

// bearerToken takes the token of an "Authorization: Bearer <token>" header. The scheme is
// case-insensitive (RFC 9110 section 11.1), so "bearer" and "BEARER" work too.
func bearerToken(h string) (string, bool) {
	scheme, token, found := strings.Cut(h, " ")
	token = strings.TrimLeft(token, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
