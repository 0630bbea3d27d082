package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

// Deflector runs a deflection asked over HTTP (deflect.Service).
type Deflector interface {
	Deflect(ctx context.Context, r deflect.DeflectRequest) (deflect.DeflectResult, error)
}

// IdempotencyStore keeps the answers given to Idempotency-Keys (the store's documents, so that
// a retry reaching another instance finds the first answer).
type IdempotencyStore interface {
	PutDoc(ctx context.Context, coll, id string, data []byte, version int64, ttl time.Duration) (int64, error)
	GetDoc(ctx context.Context, coll, id string) (store.Doc, error)
	DeleteDoc(ctx context.Context, coll, id string) error
}

const (
	idemColl = "deflection-keys"
	// idemTTL: how long a key's answer is kept; a PBX retries within seconds, a CCaaS flow
	// within minutes.
	idemTTL = 24 * time.Hour
	// idemMaxKey bounds the stored key.
	idemMaxKey = 200
)

type deflectionRequest struct {
	Number     string            `json:"number"`
	Queue      string            `json:"queue"`
	Wait       *int              `json:"wait"`
	CustomerID string            `json:"customer_id"`
	Language   string            `json:"language"`
	Context    map[string]string `json:"context"`
	UUI        string            `json:"uui"`
	WaitFor    string            `json:"wait_for"`
}

// idemRecord is an Idempotency-Key's document: pending while the first request runs.
type idemRecord struct {
	Pending bool                  `json:"pending"`
	Answer  deflect.DeflectResult `json:"answer"`
}

// deflect answers POST /api/v1/deflections: deflectd decides and sends; the caller's IVR played
// the offer and tells the caller the result.
func (s *server) deflect(c *gin.Context) {
	if s.o.Deflector == nil {
		fail(c, http.StatusServiceUnavailable, "deflection engine not available")
		return
	}
	var req deflectionRequest
	if c.ContentType() == "application/x-www-form-urlencoded" && !looksLikeJSON(c.Request) {
		if !bindForm(c, &req) {
			return
		}
	} else if !bindJSON(c, &req) {
		return
	}
	r, msg := s.deflectRequest(req)
	if msg != "" {
		fail(c, http.StatusBadRequest, msg)
		return
	}
	key := c.GetHeader("Idempotency-Key")
	if len(key) > idemMaxKey {
		fail(c, http.StatusBadRequest, "Idempotency-Key is longer than 200 characters")
		return
	}
	if key != "" && s.o.Idempotency != nil {
		if done := s.claimKey(c, key); done {
			return
		}
	}
	r.RequestID = "api-" + deflect.NewSessionID()
	res, err := s.o.Deflector.Deflect(c.Request.Context(), r)
	if err != nil {
		s.releaseKey(key)
		s.storeError(c, err)
		return
	}
	if key != "" && s.o.Idempotency != nil {
		s.keepAnswer(key, res)
	}
	c.JSON(http.StatusOK, res)
}

// deflectRequest checks and converts the body; msg is the 400's message when it is unusable.
func (s *server) deflectRequest(req deflectionRequest) (r deflect.DeflectRequest, msg string) {
	if strings.TrimSpace(req.Number) == "" {
		return r, "number is required"
	}
	wait := -1
	if req.Wait != nil {
		if *req.Wait < 0 {
			return r, "wait must be a whole number of seconds, 0 or more"
		}
		wait = *req.Wait
	}
	switch req.WaitFor {
	case "":
		req.WaitFor = deflect.WaitDelivered
	case deflect.WaitDelivered, deflect.WaitSent, deflect.WaitNone:
	default:
		return r, `wait_for must be one of delivered, sent, none`
	}
	// An unparsable number is not a bad request: it is an ineligible caller (invalid-number),
	// as on the SIP path, so a dialplan needs one branch for "not deflected".
	n, err := lookup.Normalize(req.Number, s.o.Region)
	if err != nil {
		n = lookup.Number{Raw: req.Number}
	}
	ctx := req.Context
	if ctx == nil {
		ctx = map[string]string{}
	}
	return deflect.DeflectRequest{
		Number: n, Raw: req.Number, Queue: req.Queue, Wait: wait, CustomerID: req.CustomerID,
		Language: req.Language, Context: ctx, UserToUser: req.UUI, WaitFor: req.WaitFor,
	}, ""
}

// claimKey takes an Idempotency-Key for this request. done is true when the answer was already
// written: the first request's answer, 409 while it still runs, or a store error.
func (s *server) claimKey(c *gin.Context, key string) (done bool) {
	ctx, cancel := s.ctx(c)
	defer cancel()
	pending, _ := json.Marshal(idemRecord{Pending: true})
	_, err := s.o.Idempotency.PutDoc(ctx, idemColl, key, pending, 0, idemTTL)
	if err == nil {
		return false
	}
	if !errors.Is(err, store.ErrConflict) {
		s.storeError(c, err)
		return true
	}
	doc, err := s.o.Idempotency.GetDoc(ctx, idemColl, key)
	if err != nil {
		s.storeError(c, err)
		return true
	}
	var rec idemRecord
	if err := json.Unmarshal(doc.Data, &rec); err != nil || rec.Pending {
		fail(c, http.StatusConflict, "a request with this Idempotency-Key is still running; retry later")
		return true
	}
	c.Header("Idempotent-Replayed", "true")
	c.JSON(http.StatusOK, rec.Answer)
	return true
}

// keepAnswer stores the answer under its key, for repeats.
func (s *server) keepAnswer(key string, res deflect.DeflectResult) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	doc, err := s.o.Idempotency.GetDoc(ctx, idemColl, key)
	if err != nil {
		s.log.Warn("idempotency: read key", "err", err)
		return
	}
	data, _ := json.Marshal(idemRecord{Answer: res})
	if _, err := s.o.Idempotency.PutDoc(ctx, idemColl, key, data, doc.Version, idemTTL); err != nil {
		s.log.Warn("idempotency: keep answer", "session_id", res.SessionID, "err", err)
	}
}

// releaseKey frees a key whose request got no answer (store down), so that a retry runs again.
func (s *server) releaseKey(key string) {
	if key == "" || s.o.Idempotency == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	_ = s.o.Idempotency.DeleteDoc(ctx, idemColl, key)
}

// looksLikeJSON peeks at a form-typed body: `curl -d '{…}'` labels JSON as a form (curl's default
// Content-Type for -d), and the shortest request a user tries must work. The peeked bytes stay in
// the body.
func looksLikeJSON(r *http.Request) bool {
	if r.Body == nil {
		return false
	}
	br := bufio.NewReader(r.Body)
	r.Body = struct {
		io.Reader
		io.Closer
	}{br, r.Body}
	for {
		b, err := br.Peek(1)
		if err != nil {
			return false
		}
		if b[0] != ' ' && b[0] != '\t' && b[0] != '\r' && b[0] != '\n' {
			return b[0] == '{'
		}
		// Leading blanks are skipped for both readings.
		if _, err := br.Discard(1); err != nil {
			return false
		}
	}
}

// bindForm reads a form-encoded body, for dialplans that cannot easily build JSON (Asterisk's
// CURL() splits and unquotes its arguments): the JSON fields by name, context as
// context.<Name>=value.
func bindForm(c *gin.Context, req *deflectionRequest) bool {
	if err := c.Request.ParseForm(); err != nil {
		failBody(c, "form", err)
		return false
	}
	f := c.Request.PostForm
	req.Number, req.Queue, req.CustomerID = f.Get("number"), f.Get("queue"), f.Get("customer_id")
	req.Language, req.UUI, req.WaitFor = f.Get("language"), f.Get("uui"), f.Get("wait_for")
	if w := f.Get("wait"); w != "" {
		n, err := strconv.Atoi(w)
		if err != nil {
			fail(c, http.StatusBadRequest, "wait must be a whole number of seconds")
			return false
		}
		req.Wait = &n
	}
	for k, v := range f {
		if name, ok := strings.CutPrefix(k, "context."); ok && name != "" && len(v) > 0 {
			if req.Context == nil {
				req.Context = map[string]string{}
			}
			req.Context[name] = v[0]
		}
	}
	return true
}
