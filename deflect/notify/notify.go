package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup/redact"
	"github.com/deflectd/deflectd/whatsapp"
)

// Collection is the store collection holding one record per notification key.
const Collection = "notifications"

// Store is what notify needs from the store.
type Store interface {
	store.Docs
	store.OptOuts
}

// Sender sends an approved template (the WhatsApp client, rate-limited by it).
type Sender interface {
	SendTemplate(ctx context.Context, to string, t whatsapp.Template) (whatsapp.SendResult, error)
}

// Config is how notifications are sent.
type Config struct {
	Template        string
	Languages       map[string]string // row language → template language code
	DefaultLanguage string
	Concurrency     int           // parallel sends; the client's token buckets set the pace
	Retention       time.Duration // how long a key is remembered (re-runs within it send nothing)
	RequireOptIn    bool          // send only to numbers with an opt-in record
	DryRun          bool
	// Templates are the approved templates' shapes, when known (the sandbox's definitions):
	// rows are checked against them before anything is sent, dry run included, so a dry run
	// fails where Meta would answer 132001 (no such template or language) or 132000 (wrong
	// number of parameters). nil = not known here: not checked.
	Templates []TemplateDef
}

// TemplateDef is what a notification row is checked against.
type TemplateDef struct {
	Name       string
	Languages  []string
	BodyParams int
}

// ErrUnknownTemplate: Config.Template is not among Config.Templates.
var ErrUnknownTemplate = errors.New("unknown template")

// Outcomes of one row.
const (
	OutSent      = "sent"
	OutScheduled = "scheduled"
	OutDuplicate = "duplicate"  // the key was already sent or scheduled
	OutOptedOut  = "opted-out"  // the number opted out (or never opted in with RequireOptIn)
	OutFailed    = "failed"     // the API refused; a re-run tries again
	OutUncertain = "uncertain"  // a send may or may not have happened (a run died mid-send): never resent
	OutWouldSend = "would-send" // dry run
	OutInvalid   = "invalid"    // the row does not fit the template (language, parameter count)
)

// Result is what happened to one row.
type Result struct {
	Row     Row
	Outcome string
	Reason  string
}

// Summary counts outcomes; Problems lists every row not sent or scheduled, by line.
type Summary struct {
	Total    int            `json:"total"`
	Counts   map[string]int `json:"counts"`
	Problems []Problem      `json:"problems"`
}

// record is the persisted state of one notification key.
type record struct {
	Key       string    `json:"key"`
	E164      string    `json:"e164"`
	Template  string    `json:"template"`
	Language  string    `json:"language"`
	Params    []string  `json:"params,omitempty"`
	SendAt    time.Time `json:"send_at,omitzero"`
	State     string    `json:"state"` // scheduled, sending, sent, failed, uncertain
	MessageID string    `json:"message_id,omitempty"`
	Error     string    `json:"error,omitempty"`
	Line      int       `json:"line,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Notifier sends notification rows.
type Notifier struct {
	store Store
	send  Sender
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Notifier.
func New(s Store, send Sender, cfg Config, log *slog.Logger) *Notifier {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 8
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.DefaultLanguage == "" {
		cfg.DefaultLanguage = "en"
	}
	return &Notifier{store: s, send: send, cfg: cfg, log: log.With("component", "notify"), now: time.Now}
}

// Run sends (or schedules) every row with cfg.Concurrency workers and reports each result to
// progress (which may be nil; it is called from one goroutine at a time).
func (n *Notifier) Run(ctx context.Context, rows []Row, progress func(Result)) Summary {
	sum := Summary{Total: len(rows), Counts: map[string]int{}}
	jobs := make(chan Row)
	results := make(chan Result)
	var wg sync.WaitGroup
	for range n.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				results <- n.process(ctx, r)
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, r := range rows {
			select {
			case jobs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for res := range results {
		sum.Counts[res.Outcome]++
		if res.Outcome != OutSent && res.Outcome != OutScheduled && res.Outcome != OutWouldSend {
			sum.Problems = append(sum.Problems, Problem{Line: res.Row.Line, Phone: redact.Mask(res.Row.E164), Reason: res.Outcome + reasonSuffix(res.Reason)})
		}
		if progress != nil {
			progress(res)
		}
	}
	return sum
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

func (n *Notifier) id(key string) string { return n.cfg.Template + "|" + key }

// process sends or schedules one row. The record is claimed (created in state "sending") before
// the request so that a re-run, or another instance, never sends the same key twice.
func (n *Notifier) process(ctx context.Context, row Row) Result {
	res := Result{Row: row}
	if out, reason := n.optedOut(ctx, row.E164); out != "" {
		res.Outcome, res.Reason = out, reason
		return res
	}
	lang := row.Language
	if lang == "" {
		lang = n.cfg.DefaultLanguage
	}
	if reason := n.misfit(lang, len(row.Params)); reason != "" {
		res.Outcome, res.Reason = OutInvalid, reason
		return res
	}
	if n.cfg.DryRun {
		res.Outcome = OutWouldSend
		return res
	}
	rec := record{Key: row.Key, E164: row.E164, Template: n.cfg.Template, Language: lang, Params: row.Params,
		SendAt: row.SendAt, Line: row.Line, UpdatedAt: n.now()}
	scheduled := row.SendAt.After(n.now())
	if scheduled {
		rec.State = "scheduled"
	} else {
		rec.State = "sending"
	}
	version, err := n.put(ctx, rec, 0)
	if errors.Is(err, store.ErrConflict) {
		// Known key: only a failed earlier attempt may be tried again.
		prev, pv, gerr := n.get(ctx, row.Key)
		if gerr != nil {
			res.Outcome, res.Reason = OutFailed, gerr.Error()
			return res
		}
		switch prev.State {
		case "failed":
			if version, err = n.put(ctx, rec, pv); errors.Is(err, store.ErrConflict) {
				res.Outcome = OutDuplicate
				return res
			}
		case "sending", "uncertain":
			res.Outcome, res.Reason = OutUncertain, "an earlier run was sending this row when it stopped; not resent"
			return res
		default:
			res.Outcome, res.Reason = OutDuplicate, "already "+prev.State
			return res
		}
	}
	if err != nil {
		res.Outcome, res.Reason = OutFailed, err.Error()
		return res
	}
	if scheduled {
		res.Outcome = OutScheduled
		return res
	}
	res.Outcome, res.Reason = n.deliver(ctx, rec, version)
	return res
}

func (n *Notifier) optedOut(ctx context.Context, e164 string) (string, string) {
	opt, err := n.store.GetOpt(ctx, e164)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if n.cfg.RequireOptIn {
			return OutOptedOut, "no opt-in on record"
		}
		return "", ""
	case err != nil:
		return OutFailed, "check opt-out: " + err.Error()
	case opt.OptOut:
		return OutOptedOut, "opted out via " + opt.Source
	}
	return "", ""
}

// CheckTemplate reports a Config.Template the known definitions do not have (nil when they
// have it, or when none are known). Check it before Run: every row would fail the same way.
func (n *Notifier) CheckTemplate() error {
	if n.cfg.Templates == nil {
		return nil
	}
	if _, ok := n.template(); ok {
		return nil
	}
	names := make([]string, 0, len(n.cfg.Templates))
	for _, t := range n.cfg.Templates {
		names = append(names, t.Name)
	}
	return fmt.Errorf("%w %q (Meta would refuse it with 132001); known: %s", ErrUnknownTemplate, n.cfg.Template, strings.Join(names, ", "))
}

func (n *Notifier) template() (TemplateDef, bool) {
	for _, t := range n.cfg.Templates {
		if t.Name == n.cfg.Template {
			return t, true
		}
	}
	return TemplateDef{}, false
}

// templateCode maps a row language to the template's language code.
func (n *Notifier) templateCode(lang string) string {
	if c, ok := n.cfg.Languages[lang]; ok {
		return c
	}
	return lang
}

// misfit says why a row (its language, its number of body parameters) cannot be sent with the
// template, as Meta would refuse it; "" when it fits or the definitions are not known.
func (n *Notifier) misfit(lang string, params int) string {
	if n.cfg.Templates == nil {
		return ""
	}
	t, ok := n.template()
	if !ok {
		return "template " + strconv.Quote(n.cfg.Template) + " does not exist (132001)"
	}
	code := n.templateCode(lang)
	if !slices.Contains(t.Languages, code) {
		return fmt.Sprintf("template %q has no language %q (132001); it has %s", t.Name, code, strings.Join(t.Languages, ", "))
	}
	if params != t.BodyParams {
		return fmt.Sprintf("template %q takes %d body parameters, the row has %d (132000)", t.Name, t.BodyParams, params)
	}
	return ""
}

// deliver sends a claimed record (state "sending", at version) and records the result.
func (n *Notifier) deliver(ctx context.Context, rec record, version int64) (string, string) {
	code := n.templateCode(rec.Language)
	r, err := n.send.SendTemplate(ctx, rec.E164, whatsapp.Template{Name: rec.Template, Language: code, BodyParams: rec.Params})
	outcome, reason := OutSent, ""
	rec.UpdatedAt = n.now()
	switch {
	case err == nil:
		rec.State, rec.MessageID = "sent", r.MessageID
	case whatsapp.IsMaybeSent(err):
		rec.State, rec.Error = "uncertain", err.Error()
		outcome, reason = OutUncertain, "the request may have reached Meta: "+err.Error()
	default:
		rec.State, rec.Error = "failed", err.Error()
		outcome, reason = OutFailed, err.Error()
	}
	// Recording must not be lost to a cancelled run: use a short detached context.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, perr := n.put(wctx, rec, version); perr != nil {
		n.log.Error("record notification result", "key", rec.Key, "state", rec.State, "err", perr)
	}
	n.log.Debug("notification", "key", rec.Key, "to", redact.Mask(rec.E164), "outcome", outcome, "wa_msg_id", rec.MessageID)
	return outcome, reason
}

func (n *Notifier) put(ctx context.Context, rec record, version int64) (int64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encode notification: %w", err)
	}
	v, err := n.store.PutDoc(ctx, Collection, n.id(rec.Key), data, version, n.cfg.Retention)
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return 0, fmt.Errorf("store notification: %w", err)
	}
	return v, err
}

func (n *Notifier) get(ctx context.Context, key string) (record, int64, error) {
	d, err := n.store.GetDoc(ctx, Collection, n.id(key))
	if err != nil {
		return record{}, 0, fmt.Errorf("load notification: %w", err)
	}
	var rec record
	if err := json.Unmarshal(d.Data, &rec); err != nil {
		return record{}, 0, fmt.Errorf("decode notification: %w", err)
	}
	return rec, d.Version, nil
}

// SendDue sends every scheduled record whose time has come; the compare-and-set claim makes
// sure one instance sends each even when several run SendDue at once. It returns how many it sent.
func (n *Notifier) SendDue(ctx context.Context) (int, error) {
	docs, err := n.store.ListDocs(ctx, Collection)
	if err != nil {
		return 0, fmt.Errorf("list notifications: %w", err)
	}
	sent := 0
	now := n.now()
	for _, d := range docs {
		var rec record
		if json.Unmarshal(d.Data, &rec) != nil || rec.State != "scheduled" || rec.SendAt.After(now) {
			continue
		}
		rec.State, rec.UpdatedAt = "sending", now
		data, _ := json.Marshal(rec)
		v, err := n.store.PutDoc(ctx, Collection, d.ID, data, d.Version, n.cfg.Retention)
		if err != nil {
			continue // another instance claimed it, or the store is down: next tick
		}
		sender := *n
		sender.cfg.Template = rec.Template
		if out, _ := sender.deliver(ctx, rec, v); out == OutSent {
			sent++
		}
	}
	return sent, nil
}

// RunScheduler calls SendDue every interval until ctx ends; every instance runs one.
func (n *Notifier) RunScheduler(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if k, err := n.SendDue(ctx); err != nil {
				n.log.Warn("scheduled notifications", "err", err)
			} else if k > 0 {
				n.log.Info("scheduled notifications sent", "count", k)
			}
		}
	}
}
