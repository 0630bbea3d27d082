package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

// PresenceAdmin inspects and overrides what deflectd knows about numbers being on WhatsApp.
type PresenceAdmin interface {
	// Inspect returns the current answer (Status Unknown when nothing is known).
	Inspect(ctx context.Context, e164 string) (lookup.Answer, error)
	// Override records st for e164 for ttl (0: the implementation's default for st).
	Override(ctx context.Context, e164 string, st lookup.Status, source string, ttl time.Duration) error
	// Forget drops what is known about e164.
	Forget(ctx context.Context, e164 string) error
}

// FactsPresence is a PresenceAdmin over the store's presence facts, which is where every
// instance's lookup reads learned and imported facts from.
type FactsPresence struct {
	Facts  store.PresenceFacts
	YesTTL time.Duration
	NoTTL  time.Duration
}

// Inspect implements PresenceAdmin.
func (p FactsPresence) Inspect(ctx context.Context, e164 string) (lookup.Answer, error) {
	f, err := p.Facts.GetPresence(ctx, e164)
	if errors.Is(err, store.ErrNotFound) {
		return lookup.Answer{Status: lookup.Unknown}, nil
	}
	if err != nil {
		return lookup.Answer{}, err
	}
	a := lookup.Answer{Source: f.Source, Since: f.Since, Expires: f.Expires}
	switch f.Status {
	case "yes":
		a.Status = lookup.Yes
	case "no":
		a.Status = lookup.No
	}
	return a, nil
}

// Status makes FactsPresence a lookup.Presence too (facts only, no other sources).
func (p FactsPresence) Status(ctx context.Context, e164 string) (lookup.Answer, error) {
	return p.Inspect(ctx, e164)
}

// Override implements PresenceAdmin.
func (p FactsPresence) Override(ctx context.Context, e164 string, st lookup.Status, source string, ttl time.Duration) error {
	if st == lookup.Unknown {
		return p.Facts.DeletePresence(ctx, e164)
	}
	if ttl <= 0 {
		ttl = p.YesTTL
		if st == lookup.No {
			ttl = p.NoTTL
		}
	}
	now := time.Now()
	return p.Facts.SetPresence(ctx, store.PresenceFact{E164: e164, Status: st.String(), Source: source, Since: now, Expires: now.Add(ttl)})
}

// Forget implements PresenceAdmin.
func (p FactsPresence) Forget(ctx context.Context, e164 string) error {
	err := p.Facts.DeletePresence(ctx, e164)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
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
		Number   string `json:"number"`
		WhatsApp *bool  `json:"whatsapp"`
	} `json:"entries"`
	TTL string `json:"ttl"`
}

type importError struct {
	Index  int    `json:"index"`
	Number string `json:"number"`
	Error  string `json:"error"`
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
	ttl, err := parseTTL(body.TTL)
	if err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*s.o.Timeout)
	defer cancel()
	errs := []importError{}
	imported := 0
	for i, e := range body.Entries {
		n, err := lookup.Normalize(e.Number, s.o.Region)
		switch {
		case err != nil || n.E164 == "":
			errs = append(errs, importError{Index: i, Number: e.Number, Error: "not a phone number"})
			continue
		case e.WhatsApp == nil:
			errs = append(errs, importError{Index: i, Number: e.Number, Error: "whatsapp must be true or false"})
			continue
		}
		st := lookup.No
		if *e.WhatsApp {
			st = lookup.Yes
		}
		if err := s.o.Presence.Override(ctx, n.E164, st, "import", ttl); err != nil {
			s.storeError(c, err)
			return
		}
		imported++
	}
	c.JSON(http.StatusOK, gin.H{"imported": imported, "errors": errs})
}

func (s *server) presenceNumber(c *gin.Context) (string, bool) {
	if s.o.Presence == nil {
		fail(c, http.StatusServiceUnavailable, "presence not available")
		return "", false
	}
	return s.normalizeParam(c, c.Param("number"))
}

var _ PresenceAdmin = (*lookup.Chain)(nil)
