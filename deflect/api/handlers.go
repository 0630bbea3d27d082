package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

type eligibilityResponse struct {
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason"`
	E164     string `json:"e164"`
	Language string `json:"language"`
}

// eligibility is the PBX's pre-qualify question: would this caller be offered now? It creates
// no session and records no offer.
func (s *server) eligibility(c *gin.Context) {
	if s.o.Engine == nil {
		fail(c, http.StatusServiceUnavailable, "engine not available")
		return
	}
	raw := c.Query("number")
	if raw == "" {
		fail(c, http.StatusBadRequest, "number is required")
		return
	}
	wait := -1
	if w := c.Query("wait"); w != "" {
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			fail(c, http.StatusBadRequest, "wait must be a whole number of seconds")
			return
		}
		wait = n
	}
	n, err := lookup.Normalize(raw, s.o.Region)
	if err != nil || !n.Valid {
		c.JSON(http.StatusOK, eligibilityResponse{Eligible: false, Reason: deflect.ReasonInvalidNumber})
		return
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	e, err := s.o.Engine.Check(ctx, n, c.Query("queue"), wait)
	if err != nil {
		s.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, eligibilityResponse{Eligible: e.Eligible, Reason: e.Reason, E164: n.E164, Language: e.Language})
}

type sessionView struct {
	ID           string               `json:"id"`
	CallID       string               `json:"call_id"`
	Caller       string               `json:"caller"`
	CallerRaw    string               `json:"caller_raw"`
	Region       string               `json:"region"`
	NumberType   string               `json:"number_type"`
	Queue        string               `json:"queue"`
	WaitEstimate int                  `json:"wait_estimate"`
	CustomerID   string               `json:"customer_id"`
	Language     string               `json:"language"`
	State        string               `json:"state"`
	Outcome      string               `json:"outcome"`
	Reason       string               `json:"reason"`
	Context      map[string]string    `json:"context"`
	UserToUser   string               `json:"user_to_user"`
	IVRPath      []string             `json:"ivr_path"`
	Variant      string               `json:"variant,omitempty"` // offer experiment variant
	WhatsApp     whatsappView         `json:"whatsapp"`
	Steps        map[string]time.Time `json:"steps"`
	Instance     string               `json:"instance"`
	CreatedAt    time.Time            `json:"created_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
}

type whatsappView struct {
	MessageID string `json:"message_id"`
	Status    string `json:"status"`
	WAID      string `json:"wa_id"`
}

func viewOf(x *store.Session) sessionView {
	v := sessionView{
		ID: x.ID, CallID: x.CallID, Caller: x.Caller, CallerRaw: x.CallerRaw, Region: x.Region,
		NumberType: x.NumberType, Queue: x.Queue, WaitEstimate: x.WaitEstimate, CustomerID: x.CustomerID,
		Language: x.Language, State: x.State, Outcome: x.Outcome, Reason: x.Reason, Context: x.Context,
		UserToUser: x.UserToUser, IVRPath: x.IVRPath, Variant: x.Variant, Steps: x.Steps, Instance: x.Instance,
		WhatsApp:  whatsappView{MessageID: x.WAMessageID, Status: x.WAStatus, WAID: x.WAID},
		CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt,
	}
	if v.Context == nil {
		v.Context = map[string]string{}
	}
	if v.IVRPath == nil {
		v.IVRPath = []string{}
	}
	return v
}

func (s *server) listSessions(c *gin.Context) {
	if s.o.Sessions == nil {
		fail(c, http.StatusServiceUnavailable, "sessions not available")
		return
	}
	var f store.SessionFilter
	if raw := c.Query("caller"); raw != "" {
		n, err := lookup.Normalize(raw, s.o.Region)
		if err != nil {
			fail(c, http.StatusBadRequest, "caller is not a phone number")
			return
		}
		f.Caller = n.E164
	}
	var err error
	if f.Since, err = parseSince(c.Query("since"), time.Now()); err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	f.Outcome = c.Query("outcome")
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			fail(c, http.StatusBadRequest, "limit must be within 1..1000")
			return
		}
		f.Limit = n
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	list, err := s.o.Sessions.ListSessions(ctx, f)
	if err != nil {
		s.storeError(c, err)
		return
	}
	out := make([]sessionView, 0, len(list))
	for _, x := range list {
		out = append(out, viewOf(x))
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

// parseSince takes an RFC 3339 time or a duration back from now ("24h").
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, errBadRequest("since must be an RFC 3339 time or a duration such as 24h")
}

type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

func (s *server) getSession(c *gin.Context) {
	if s.o.Sessions == nil {
		fail(c, http.StatusServiceUnavailable, "sessions not available")
		return
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	x, err := s.o.Sessions.GetSession(ctx, c.Param("id"))
	if err != nil {
		s.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOf(x))
}

// normalizeParam reads a phone number path parameter; it answers 400 itself when it is not one.
func (s *server) normalizeParam(c *gin.Context, raw string) (string, bool) {
	n, err := lookup.Normalize(strings.TrimSpace(raw), s.o.Region)
	if err != nil || n.E164 == "" {
		fail(c, http.StatusBadRequest, "not a phone number")
		return "", false
	}
	return n.E164, true
}
