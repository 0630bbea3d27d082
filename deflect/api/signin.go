package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// SignInLinks are one-time sign-in codes for the console: each code gives its bearer token once,
// then is gone. The embedded default logs one link per demo account, so that a first run needs
// no configuration; the codes live in this process only (a restart logs new ones).
type SignInLinks struct {
	mu    sync.Mutex
	codes map[string]string // code → bearer token
}

// NewSignInLinks returns an empty set of links.
func NewSignInLinks() *SignInLinks { return &SignInLinks{codes: map[string]string{}} }

// Add makes a one-time code for token.
func (l *SignInLinks) Add(token string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	code := hex.EncodeToString(b[:])
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[code] = token
	return code
}

// Redeem returns the code's token and forgets the code; false when it is unknown or used.
func (l *SignInLinks) Redeem(code string) (string, bool) {
	if l == nil {
		return "", false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.codes[code]
	delete(l.codes, code)
	return t, ok
}

// redeemSignIn exchanges a one-time code (POST {"code": "..."}) for the bearer token.
func (ib *inboxAPI) redeemSignIn(c *gin.Context) {
	var req struct {
		Code string `json:"code"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.Code == "" {
		fail(c, http.StatusBadRequest, "code is required")
		return
	}
	token, ok := ib.in.SignIn.Redeem(req.Code)
	if !ok {
		fail(c, http.StatusNotFound, "this sign-in link is unknown or was already used: restart deflectd for new links, or sign in with a token")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"token": token})
}
