// Package stats keeps the outcome of every deflection as daily counters in the store (memory or
// Redis, so every instance adds to the same numbers) and reads them back as reports: the funnel
// (offered → accepted → sent → delivered → read → replied → resolved), calls back within 24 h and
// 72 h of a deflection, queue time saved, cost of the messages Meta bills, per day, queue,
// language and experiment variant.
//
// Every event is counted on the day its call started (UTC), so a day's funnel is a cohort: the
// read receipts that come in after midnight still count for the callers of that day.
package stats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// Store is what statistics need from the store.
type Store interface {
	store.Counters
	store.Once
	store.Docs
	GetSession(ctx context.Context, id string) (*store.Session, error)
}

// Metrics counted per day and dimension.
const (
	Offered         = "offered"
	Ineligible      = "ineligible"
	Accepted        = "accepted"
	Sent            = "sent"
	Delivered       = "delivered"
	Read            = "read"
	Replied         = "replied"
	HandedOff       = "handed_off"        // the bot passed the conversation to an agent
	ResolvedByAgent = "resolved_by_agent" // an agent closed the conversation
	Returned        = "returned"          // back to the queue: declined, timeout, failed, abandoned
	Deflected       = "deflected"
	WaitSaved       = "wait_saved_seconds" // sum of X-Wait-Estimate of deflected callers
	Repeat24        = "repeat_24h"         // deflected callers who called again within 24 h
	Repeat72        = "repeat_72h"         // ... within 72 h
	billablePrefix  = "billable:"          // billable:<category>:<country>
)

// repeatWindow is how long a deflection is remembered to recognise the caller calling back.
const repeatWindow = 72 * time.Hour

// lastCollection holds each number's latest deflection (by a hash of the number), for repeats.
const lastCollection = "stats-deflected"

// Dims are the dimensions an event is counted under.
type Dims struct {
	Day      time.Time // the call's start; counted on its UTC date
	Queue    string
	Language string
	Variant  string // experiment variant; empty when none runs
}

// Recorder counts events. Its methods never fail the call they describe: a store error is
// logged and the event is lost from the statistics, not from the call.
type Recorder struct {
	st        Store
	retention time.Duration
	log       *slog.Logger
	now       func() time.Time
}

// NewRecorder returns a Recorder keeping counters for retention (0 = 90 days).
func NewRecorder(st Store, retention time.Duration, log *slog.Logger) *Recorder {
	if retention <= 0 {
		retention = 90 * 24 * time.Hour
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{st: st, retention: retention, log: log.With("component", "stats"), now: time.Now}
}

// dayKey is the counters key of a UTC date.
func dayKey(day time.Time) string { return "stats:" + day.UTC().Format(time.DateOnly) }

// field encodes a metric and its dimensions; '|' in a value would split it, so it is replaced.
func field(metric string, d Dims) string {
	clean := func(s string) string { return strings.ReplaceAll(s, "|", "/") }
	return metric + "|" + clean(d.Queue) + "|" + clean(d.Language) + "|" + clean(d.Variant)
}

func parseField(f string) (metric string, d Dims, ok bool) {
	parts := strings.Split(f, "|")
	if len(parts) != 4 {
		return "", Dims{}, false
	}
	return parts[0], Dims{Queue: parts[1], Language: parts[2], Variant: parts[3]}, true
}

// Count adds n to metric under d.
func (r *Recorder) Count(ctx context.Context, d Dims, metric string, n int64) {
	if r == nil || n == 0 {
		return
	}
	day := d.Day
	if day.IsZero() {
		day = r.now()
	}
	// Kept a day longer than the retention, so the oldest day of a report is whole.
	if err := r.st.IncrCounters(ctx, dayKey(day), map[string]int64{field(metric, d): n}, r.retention+24*time.Hour); err != nil {
		r.log.Warn("statistics not recorded", "metric", metric, "err", err)
	}
}

// CountOnce counts metric for a session once, however often the event that proves it comes
// (every status of a conversation, every reply, webhook redeliveries, several instances).
func (r *Recorder) CountOnce(ctx context.Context, sessionID string, d Dims, metric string) {
	if r == nil || sessionID == "" {
		return
	}
	first, err := r.st.SetOnce(ctx, "stats:"+metric+":"+sessionID, r.retention)
	if err != nil {
		r.log.Warn("statistics not recorded", "metric", metric, "session_id", sessionID, "err", err)
		return
	}
	if first {
		r.Count(ctx, d, metric, 1)
	}
}

// SessionDims are the dimensions of a session's events.
func SessionDims(s *store.Session) Dims {
	return Dims{Day: s.CreatedAt, Queue: s.Queue, Language: s.Language, Variant: s.Variant}
}

// CountSession counts metric once for the session, under the session's dimensions (for the
// inbox, which knows a conversation's session id but not its call).
func (r *Recorder) CountSession(ctx context.Context, sessionID, metric string) {
	if r == nil || sessionID == "" {
		return
	}
	sess, err := r.st.GetSession(ctx, sessionID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Warn("statistics not recorded", "metric", metric, "session_id", sessionID, "err", err)
		}
		return
	}
	r.CountOnce(ctx, sessionID, SessionDims(sess), metric)
}

// lastDeflection is a number's latest deflection, kept repeatWindow.
type lastDeflection struct {
	SessionID string    `json:"session_id"`
	At        time.Time `json:"at"`
	Day       time.Time `json:"day"`
	Queue     string    `json:"queue"`
	Language  string    `json:"language"`
	Variant   string    `json:"variant"`
}

// numberKey is a hash of the number: the statistics keep no phone numbers.
func numberKey(e164 string) string {
	h := sha256.Sum256([]byte("deflectd-stats|" + e164))
	return hex.EncodeToString(h[:16])
}

// Deflect records a deflected caller: the count, the queue time saved (their estimated wait, when
// known) and, for calls back, when and from where they were deflected.
func (r *Recorder) Deflect(ctx context.Context, sessionID, e164 string, d Dims, waitSeconds int) {
	if r == nil {
		return
	}
	first, err := r.st.SetOnce(ctx, "stats:"+Deflected+":"+sessionID, r.retention)
	if err != nil || !first {
		return
	}
	r.Count(ctx, d, Deflected, 1)
	if waitSeconds > 0 {
		r.Count(ctx, d, WaitSaved, int64(waitSeconds))
	}
	if e164 == "" {
		return
	}
	day := d.Day
	if day.IsZero() {
		day = r.now()
	}
	data, _ := json.Marshal(lastDeflection{SessionID: sessionID, At: r.now(), Day: day, Queue: d.Queue, Language: d.Language, Variant: d.Variant})
	key := numberKey(e164)
	// Overwrite whatever was there: the latest deflection is the one a call back refers to.
	for range 3 {
		cur, err := r.st.GetDoc(ctx, lastCollection, key)
		version := cur.Version
		if errors.Is(err, store.ErrNotFound) {
			version = 0
		} else if err != nil {
			r.log.Warn("statistics: deflection not remembered for repeats", "err", err)
			return
		}
		if _, err := r.st.PutDoc(ctx, lastCollection, key, data, version, repeatWindow); !errors.Is(err, store.ErrConflict) {
			return
		}
	}
}

// Called records that a number reached deflectd (an INVITE or a deflection API request),
// whether or not it is offered: if it was deflected within 72 h (24 h), that deflection counts
// a repeat call, once, on its own day and dimensions.
func (r *Recorder) Called(ctx context.Context, e164 string) {
	if r == nil || e164 == "" {
		return
	}
	doc, err := r.st.GetDoc(ctx, lastCollection, numberKey(e164))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Warn("statistics: repeat call not checked", "err", err)
		}
		return
	}
	var last lastDeflection
	if json.Unmarshal(doc.Data, &last) != nil {
		return
	}
	since := r.now().Sub(last.At)
	d := Dims{Day: last.Day, Queue: last.Queue, Language: last.Language, Variant: last.Variant}
	if since <= repeatWindow {
		r.CountOnce(ctx, last.SessionID, d, Repeat72)
	}
	if since <= 24*time.Hour {
		r.CountOnce(ctx, last.SessionID, d, Repeat24)
	}
}

// sentTodayKey counts the deflection templates sent on a UTC day (business-initiated
// conversations, compared with the number's messaging limit).
func sentTodayKey(day time.Time) string { return "stats:templates:" + day.UTC().Format(time.DateOnly) }

// CountSentToday counts one deflection template sent today.
func (r *Recorder) CountSentToday(ctx context.Context) {
	if r == nil {
		return
	}
	if err := r.st.IncrCounters(ctx, sentTodayKey(r.now()), map[string]int64{"n": 1}, 48*time.Hour); err != nil {
		r.log.Warn("statistics not recorded", "metric", "templates today", "err", err)
	}
}

// SentToday is how many deflection templates were sent today (UTC); 0 on a store error.
func (r *Recorder) SentToday(ctx context.Context) int64 {
	if r == nil {
		return 0
	}
	c, err := r.st.GetCounters(ctx, sentTodayKey(r.now()))
	if err != nil {
		return 0
	}
	return c["n"]
}

// Once reports whether key is seen for the first time within the retention (shared by
// instances); false on a store error.
func (r *Recorder) Once(ctx context.Context, key string) bool {
	if r == nil {
		return false
	}
	first, err := r.st.SetOnce(ctx, "stats:"+key, r.retention)
	return err == nil && first
}

// Billable records a message Meta bills (the pricing object of its status webhook), once per
// message, by pricing category and the recipient's country; true the first time.
func (r *Recorder) Billable(ctx context.Context, messageID string, d Dims, category, country string) bool {
	if r == nil || messageID == "" || category == "" {
		return false
	}
	first, err := r.st.SetOnce(ctx, "stats:billable:"+messageID, r.retention)
	if err != nil || !first {
		return false
	}
	if country == "" {
		country = "ZZ"
	}
	r.Count(ctx, d, billablePrefix+strings.ToLower(category)+":"+strings.ToUpper(country), 1)
	return true
}

// Entry is one counter read back.
type Entry struct {
	Day    time.Time
	Dims   Dims
	Metric string
	N      int64
}

// CounterReader reads daily counters (the store).
type CounterReader interface {
	GetCounters(ctx context.Context, key string) (map[string]int64, error)
}

// MaxDays is the longest range Load reads at once.
const MaxDays = 366

// Load reads the counters of every day from from to to (inclusive, UTC dates).
func Load(ctx context.Context, st CounterReader, from, to time.Time) ([]Entry, error) {
	from, to = from.UTC().Truncate(24*time.Hour), to.UTC().Truncate(24*time.Hour)
	if to.Before(from) {
		return nil, fmt.Errorf("load statistics: %s is before %s", to.Format(time.DateOnly), from.Format(time.DateOnly))
	}
	if to.Sub(from) >= MaxDays*24*time.Hour {
		return nil, fmt.Errorf("load statistics: at most %d days at once", MaxDays)
	}
	var out []Entry
	for day := from; !day.After(to); day = day.Add(24 * time.Hour) {
		fields, err := st.GetCounters(ctx, dayKey(day))
		if err != nil {
			return nil, fmt.Errorf("load statistics of %s: %w", day.Format(time.DateOnly), err)
		}
		for f, n := range fields {
			metric, d, ok := parseField(f)
			if !ok {
				continue
			}
			d.Day = day
			out = append(out, Entry{Day: day, Dims: d, Metric: metric, N: n})
		}
	}
	return out, nil
}
