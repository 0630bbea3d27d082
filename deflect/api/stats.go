package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect/stats"
)

// StatsOptions are the reports' inputs beyond the counters.
type StatsOptions struct {
	Source   stats.CounterReader
	Prices   stats.Prices
	Variants []string // the experiment's variants in order; the first is the control
}

// statsRange reads from and to (RFC 3339 times or dates; default the last 7 days up to now) and
// group_by.
func statsRange(c *gin.Context, now time.Time, allowed ...string) (from, to time.Time, by string, err error) {
	parse := func(name, v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		if t, err := time.Parse(time.DateOnly, v); err == nil {
			return t, nil
		}
		return time.Time{}, errBadRequest(name + " must be an RFC 3339 time or a date such as 2026-12-01")
	}
	if to, err = parse("to", c.Query("to"), now); err != nil {
		return
	}
	if from, err = parse("from", c.Query("from"), to.Add(-6*24*time.Hour)); err != nil {
		return
	}
	if to.Before(from) {
		return from, to, "", errBadRequest("to is before from")
	}
	if to.Sub(from) >= stats.MaxDays*24*time.Hour {
		return from, to, "", errBadRequest(fmt.Sprintf("at most %d days at once", stats.MaxDays))
	}
	by = c.Query("group_by")
	for _, a := range allowed {
		if by == a {
			return from, to, by, nil
		}
	}
	if by != "" {
		err = errBadRequest("group_by must be one of " + strings.Join(allowed, ", "))
	}
	return
}

// loadStats reads the counters of the range, answering the error itself.
func (s *server) loadStats(c *gin.Context, allowed ...string) (entries []stats.Entry, from, to time.Time, by string, ok bool) {
	if s.o.Stats.Source == nil {
		fail(c, http.StatusServiceUnavailable, "statistics not available")
		return nil, from, to, "", false
	}
	from, to, by, err := statsRange(c, time.Now(), allowed...)
	if err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return nil, from, to, "", false
	}
	ctx, cancel := s.ctx(c)
	defer cancel()
	entries, err = stats.Load(ctx, s.o.Stats.Source, from, to)
	if err != nil {
		s.log.Warn("stats: store unavailable", "err", err)
		fail(c, http.StatusServiceUnavailable, "store unavailable")
		return nil, from, to, "", false
	}
	return entries, from, to, by, true
}

// statsFunnel answers GET /api/v1/stats/funnel: offered → accepted → sent → delivered → read →
// replied → resolved, in total, per queue or language, and per day.
func (s *server) statsFunnel(c *gin.Context) {
	entries, from, to, by, ok := s.loadStats(c, stats.ByQueue, stats.ByLanguage)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, stats.BuildFunnel(entries, from, to, by))
}

// statsOutcomes answers GET /api/v1/stats/outcomes: the funnel with repeat calls, time saved,
// cost and, per experiment variant, tests against the first.
func (s *server) statsOutcomes(c *gin.Context) {
	entries, from, to, by, ok := s.loadStats(c, stats.ByDay, stats.ByQueue, stats.ByLanguage, stats.ByVariant)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, stats.BuildOutcomes(entries, from, to, by, s.o.Stats.Prices, s.o.Stats.Variants))
}
