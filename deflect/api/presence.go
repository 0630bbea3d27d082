package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/lookup"
)

// PresenceAdmin inspects, overrides and imports what deflectd knows about numbers being on
// WhatsApp (*lookup.Chain).
type PresenceAdmin interface {
	// Inspect returns the current answer (Status Unknown when nothing is known).
	Inspect(ctx context.Context, e164 string) (lookup.Answer, error)
	// Override records st for e164 for ttl (0: the default TTL for st).
	Override(ctx context.Context, e164 string, st lookup.Status, source string, ttl time.Duration) error
	// Forget drops what is known about e164.
	Forget(ctx context.Context, e164 string) error
	// ImportRows stores a batch of facts, reporting invalid rows by position.
	ImportRows(ctx context.Context, rows []lookup.ImportRow, region string, progress func(done int)) (lookup.ImportReport, error)
}

type presenceView struct {
	E164    string     `json:"e164"`
	Status  string     `json:"status"`
	Source  string     `json:"source,omitempty"`
	Since   *time.Time `json:"since,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

func presenceOf(e164 string, a lookup.Answer) presenceView {
	v := presenceView{E164: e164, Status: a.Status.String(), Source: a.Source}
	if !a.Since.IsZero() {
		v.Since = &a.Since
	}
	if !a.Expires.IsZero() {
		v.Expires = &a.Expires
	}
	return v
}

func (s *server) getPresence(c *gin.Context) {
	e164, ok := s.presenceNumber(c)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	a, err := s.o.Presence.Inspect(ctx, e164)
	if err != nil {
		s.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, presenceOf(e164, a))
}

type presencePut struct {
	Status string `json:"status"` // yes|no
	TTL    string `json:"ttl"`    // Go duration; empty = default for the status
}

func parseStatus(s string) (lookup.Status, error) {
	switch s {
	case "yes":
		return lookup.Yes, nil
	case "no":
		return lookup.No, nil
	}
	return lookup.Unknown, fmt.Errorf("status must be yes or no, got %q", s)
}

func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("ttl must be a positive duration such as 720h, got %q", s)
	}
	return d, nil
}

func (s *server) putPresence(c *gin.Context) {
	e164, ok := s.presenceNumber(c)
	if !ok {
		return
	}
	var body presencePut
	if !bindJSON(c, &body) {
		return
	}
	st, err := parseStatus(body.Status)
	if err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	ttl, err := parseTTL(body.TTL)
	if err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	if err := s.o.Presence.Override(ctx, e164, st, "api", ttl); err != nil {
		s.storeError(c, err)
		return
	}
	a, err := s.o.Presence.Inspect(ctx, e164)
	if err != nil {
		s.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, presenceOf(e164, a))
}

func (s *server) deletePresence(c *gin.Context) {
	e164, ok := s.presenceNumber(c)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	if err := s.o.Presence.Forget(ctx, e164); err != nil {
		s.storeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// maxImport bounds one batch; bigger loads go through `deflectd presence import` or several calls.
const maxImport = 10000

type presenceImport struct {
	Entries []struct {
		Phone    string `json:"phone"`
		WhatsApp *bool  `json:"whatsapp"`
	} `json:"entries"`
}

func (s *server) importPresence(c *gin.Context) {
	if s.o.Presence == nil {
		fail(c, http.StatusServiceUnavailable, "presence not available")
		return
	}
	var body presenceImport
	if !bindJSON(c, &body) {
		return
	}
	if len(body.Entries) == 0 || len(body.Entries) > maxImport {
		fail(c, http.StatusBadRequest, fmt.Sprintf("entries must hold 1..%d items", maxImport))
		return
	}
	rows := make([]lookup.ImportRow, len(body.Entries))
	for i, e := range body.Entries {
		// A missing answer must not silently become "no".
		if e.WhatsApp == nil {
			fail(c, http.StatusBadRequest, fmt.Sprintf("entries[%d].whatsapp must be true or false", i))
			return
		}
		rows[i] = lookup.ImportRow{Phone: e.Phone, WhatsApp: *e.WhatsApp}
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*s.o.Timeout)
	defer cancel()
	rep, err := s.o.Presence.ImportRows(ctx, rows, s.o.Region, nil)
	if err != nil {
		s.storeError(c, err)
		return
	}
	if rep.Invalid == nil {
		rep.Invalid = []lookup.InvalidRow{}
	}
	c.JSON(http.StatusOK, rep)
}

func (s *server) presenceNumber(c *gin.Context) (string, bool) {
	if s.o.Presence == nil {
		fail(c, http.StatusServiceUnavailable, "presence not available")
		return "", false
	}
	return s.normalizeParam(c, c.Param("number"))
}

var _ PresenceAdmin = (*lookup.Chain)(nil)
