package inbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
)

// Desk webhook events.
const (
	EventConversationCreated = "conversation.created"
	EventMessageInbound      = "message.inbound"
	EventConversationHandoff = "conversation.handoff"
	EventConversationClosed  = "conversation.closed"
)

// Desk webhook headers.
const (
	HeaderSignature = "X-Deflectd-Signature" // sha256=<hex HMAC-SHA256(secret, body)>
	HeaderTimestamp = "X-Deflectd-Timestamp" // unix seconds of this attempt
	HeaderEvent     = "X-Deflectd-Event"
	HeaderDelivery  = "X-Deflectd-Delivery" // the event id: the same on every retry and replay
)

// Store names the desk uses.
const (
	DeskStream            = "inbox:desk"
	DeskGroup             = "desk"
	DeadLettersCollection = "desk_dead_letters"
)

// DeskStore is what the desk needs from the store: a durable stream of events to deliver and
// the dead-letter documents.
type DeskStore interface {
	store.Streams
	store.Docs
}

// DeskOptions configures outbound desk webhooks.
type DeskOptions struct {
	URL     string // inbox.desk_webhook_url; empty: events are not recorded at all
	Secret  string // inbox.desk_secret
	Retries int    // retries after the first attempt before dead-lettering (inbox.desk_retries)
	// Backoff is the first retry delay, doubled each time up to MaxBackoff (defaults 1 s, 1 min).
	Backoff    time.Duration
	MaxBackoff time.Duration
	Timeout    time.Duration // per attempt; default 10 s
	HTTPClient *http.Client
	Store      DeskStore
	Name       string // this consumer's name (the instance); required for Run
	Logger     *slog.Logger
	Now        func() time.Time
}

// Desk delivers conversation events to an external desk (Chatwoot/Zendesk-style) as signed
// webhooks: at least once, retried with exponential backoff, then kept as dead letters that can
// be listed and replayed. Receivers deduplicate on X-Deflectd-Delivery.
type Desk struct {
	o   DeskOptions
	log *slog.Logger
}

// Envelope is the webhook body.
type Envelope struct {
	ID         string          `json:"id"`
	Event      string          `json:"event"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// DeadLetter is an event the desk did not accept after every retry.
type DeadLetter struct {
	ID        string          `json:"id"`
	Event     string          `json:"event"`
	EventID   string          `json:"event_id"`
	Body      json.RawMessage `json:"body"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	FailedAt  time.Time       `json:"failed_at"`
}

// NewDesk returns a Desk; with an empty URL it is disabled (Enabled is false).
func NewDesk(o DeskOptions) *Desk {
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Desk{o: o, log: log.With("component", "desk")}
}

// Enabled reports whether a desk webhook URL is configured.
func (d *Desk) Enabled() bool { return d != nil && d.o.URL != "" && d.o.Store != nil }

// Sign returns the X-Deflectd-Signature value of body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks an X-Deflectd-Signature value in constant time.
func VerifySignature(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// emit queues an event for delivery; failures are logged (the conversation goes on).
func (d *Desk) emit(ctx context.Context, event, id string, data any) {
	if !d.Enabled() {
		return
	}
	raw, err := json.Marshal(data)
	if err != nil {
		d.log.Error("encode desk event", "event", event, "err", err)
		return
	}
	body, _ := json.Marshal(Envelope{ID: event + ":" + id, Event: event, OccurredAt: d.o.Now().UTC(), Data: raw})
	if _, err := d.o.Store.StreamAdd(ctx, DeskStream, body); err != nil {
		d.log.Error("queue desk event", "event", event, "err", err)
	}
}

// Run delivers queued events until ctx ends. Every instance runs one (distinct Name); events a
// dead instance left pending are claimed once they are older than a whole retry cycle.
func (d *Desk) Run(ctx context.Context) error {
	if !d.Enabled() {
		<-ctx.Done()
		return nil
	}
	if d.o.Name == "" {
		return errors.New("run desk: Name is required")
	}
	claimIdle := d.retryBudget() + 30*time.Second
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		var msgs []store.StreamMessage
		var err error
		if time.Since(lastClaim) > claimIdle/2 {
			lastClaim = time.Now()
			msgs, err = d.o.Store.StreamClaim(ctx, DeskStream, DeskGroup, d.o.Name, claimIdle, 16)
		}
		if err == nil && len(msgs) == 0 {
			msgs, err = d.o.Store.StreamRead(ctx, DeskStream, DeskGroup, d.o.Name, 16, time.Second)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			d.log.Warn("read desk events", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		var wg sync.WaitGroup
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.process(ctx, m)
			}()
		}
		wg.Wait()
	}
	return nil
}

func (d *Desk) retryBudget() time.Duration {
	total, b := time.Duration(0), d.o.Backoff
	for range d.o.Retries {
		total += b + d.o.Timeout
		b = min(2*b, d.o.MaxBackoff)
	}
	return total + d.o.Timeout
}

// process delivers one event with retries; after the last it becomes a dead letter. It is
// acknowledged in both cases (not when ctx ended: the event stays pending for a claim).
func (d *Desk) process(ctx context.Context, m store.StreamMessage) {
	var env Envelope
	if err := json.Unmarshal(m.Payload, &env); err != nil {
		d.log.Error("drop undecodable desk event", "entry", m.ID, "err", err)
		d.ack(ctx, m.ID)
		return
	}
	backoff := d.o.Backoff
	var last error
	attempts := 0
	for attempt := 0; attempt <= d.o.Retries; attempt++ {
		if attempt > 0 {
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, d.o.MaxBackoff)
		}
		attempts++
		if last = d.post(ctx, env, m.Payload); last == nil {
			d.ack(ctx, m.ID)
			return
		}
		if ctx.Err() != nil {
			return
		}
		d.log.Warn("desk webhook failed", "event", env.Event, "delivery", env.ID, "attempt", attempts, "err", last)
	}
	dl := DeadLetter{ID: deadLetterID(env.ID), Event: env.Event, EventID: env.ID, Body: m.Payload,
		Attempts: attempts, LastError: last.Error(), FailedAt: d.o.Now().UTC()}
	data, _ := json.Marshal(dl)
	if _, err := d.o.Store.PutDoc(ctx, DeadLettersCollection, dl.ID, data, 0, 0); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrExists) {
		d.log.Error("store desk dead letter", "delivery", env.ID, "err", err)
		return // stays pending; claimed and retried later
	}
	d.log.Error("desk webhook dead-lettered", "event", env.Event, "delivery", env.ID, "attempts", attempts)
	d.ack(ctx, m.ID)
}

func (d *Desk) ack(ctx context.Context, id string) {
	if err := d.o.Store.StreamAck(ctx, DeskStream, DeskGroup, id); err != nil {
		d.log.Warn("ack desk event", "entry", id, "err", err)
	}
}

// post makes one signed delivery attempt; any non-2xx answer is a failure.
func (d *Desk) post(ctx context.Context, env Envelope, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build desk request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "deflectd-desk")
	req.Header.Set(HeaderSignature, Sign(d.o.Secret, body))
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(d.o.Now().Unix(), 10))
	req.Header.Set(HeaderEvent, env.Event)
	req.Header.Set(HeaderDelivery, env.ID)
	resp, err := d.o.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post desk webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post desk webhook: desk answered %d", resp.StatusCode)
	}
	return nil
}

// DeadLetters lists undelivered events, oldest failure first.
func (d *Desk) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	out := []DeadLetter{}
	if d == nil || d.o.Store == nil {
		return out, nil
	}
	docs, err := d.o.Store.ListDocs(ctx, DeadLettersCollection)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	for _, doc := range docs {
		var dl DeadLetter
		if json.Unmarshal(doc.Data, &dl) == nil {
			out = append(out, dl)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.Before(out[j].FailedAt) })
	return out, nil
}

// Replay delivers a dead letter once more, now; on success it is removed. store.ErrNotFound
// when there is no such dead letter.
func (d *Desk) Replay(ctx context.Context, id string) error {
	if !d.Enabled() {
		return errors.New("replay dead letter: no desk webhook configured")
	}
	doc, err := d.o.Store.GetDoc(ctx, DeadLettersCollection, id)
	if err != nil {
		return fmt.Errorf("get dead letter: %w", err)
	}
	var dl DeadLetter
	if err := json.Unmarshal(doc.Data, &dl); err != nil {
		return fmt.Errorf("decode dead letter: %w", err)
	}
	var env Envelope
	_ = json.Unmarshal(dl.Body, &env)
	if err := d.post(ctx, env, dl.Body); err != nil {
		dl.Attempts++
		dl.LastError, dl.FailedAt = err.Error(), d.o.Now().UTC()
		data, _ := json.Marshal(dl)
		_, _ = d.o.Store.PutDoc(ctx, DeadLettersCollection, id, data, doc.Version, 0)
		return fmt.Errorf("replay dead letter: %w", err)
	}
	if err := d.o.Store.DeleteDoc(ctx, DeadLettersCollection, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete dead letter: %w", err)
	}
	return nil
}

func deadLetterID(eventID string) string {
	sum := sha256.Sum256([]byte(eventID))
	return hex.EncodeToString(sum[:12])
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deskMessage is a message in desk events.
type deskMessage struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Text    string    `json:"text,omitempty"`
	Payload string    `json:"payload,omitempty"`
	At      time.Time `json:"at"`
}

// deskConversation is the conversation part of desk events: the customer and the call context.
func (s *Service) deskConversation(c *deflect.Conversation, r *Record) map[string]any {
	m := map[string]any{"conversation_id": r.WAID, "status": r.Status}
	if c != nil {
		m["customer"] = map[string]any{"wa_id": c.WAID, "name": c.Name, "phone": c.Caller}
		m["call"] = map[string]any{"session_id": c.SessionID, "queue": c.Queue, "customer_id": c.CustomerID,
			"language": c.Language, "context": c.Context, "ivr_path": c.IVRPath, "user_to_user": c.UserToUser}
	}
	return m
}
