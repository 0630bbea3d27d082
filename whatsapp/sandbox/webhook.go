package sandbox

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Webhook payloads, in Meta's format for the "messages" field of a whatsapp_business_account
// subscription. Field order follows Meta's documented examples.
type webhookPayload struct {
	Object string         `json:"object"`
	Entry  []webhookEntry `json:"entry"`
}

type webhookEntry struct {
	ID      string          `json:"id"`
	Changes []webhookChange `json:"changes"`
}

type webhookChange struct {
	Value webhookValue `json:"value"`
	Field string       `json:"field"`
}

type webhookValue struct {
	MessagingProduct string          `json:"messaging_product"`
	Metadata         webhookMetadata `json:"metadata"`
	Contacts         []whContact     `json:"contacts,omitempty"`
	Messages         []whMessage     `json:"messages,omitempty"`
	Statuses         []whStatus      `json:"statuses,omitempty"`
}

type webhookMetadata struct {
	DisplayPhoneNumber string `json:"display_phone_number"`
	PhoneNumberID      string `json:"phone_number_id"`
}

// whContact: wa_id is withheld for a customer with a username; user_id is their business-scoped
// user id (Meta's "Business-scoped user IDs" documentation).
type whContact struct {
	Profile whProfile `json:"profile"`
	WaID    string    `json:"wa_id,omitempty"`
	UserID  string    `json:"user_id,omitempty"`
}

type whProfile struct {
	Name string `json:"name"`
}

type whStatus struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"`
	Timestamp    string          `json:"timestamp"`
	RecipientID  string          `json:"recipient_id,omitempty"` // withheld for a message sent by recipient
	RecipientUID string          `json:"recipient_user_id,omitempty"`
	Conversation *whConversation `json:"conversation,omitempty"`
	Pricing      *whPricing      `json:"pricing,omitempty"`
	Errors       []whError       `json:"errors,omitempty"`
}

type whConversation struct {
	ID                  string   `json:"id"`
	ExpirationTimestamp string   `json:"expiration_timestamp,omitempty"`
	Origin              whOrigin `json:"origin"`
}

type whOrigin struct {
	Type string `json:"type"`
}

type whPricing struct {
	Billable     bool   `json:"billable"`
	PricingModel string `json:"pricing_model"`
	Category     string `json:"category"`
	Type         string `json:"type"`
}

type whError struct {
	Code      int         `json:"code"`
	Title     string      `json:"title"`
	Message   string      `json:"message"`
	ErrorData whErrorData `json:"error_data"`
	Href      string      `json:"href"`
}

type whErrorData struct {
	Details string `json:"details"`
}

type whMessage struct {
	Context     *whContext      `json:"context,omitempty"`
	From        string          `json:"from,omitempty"`
	FromUserID  string          `json:"from_user_id,omitempty"`
	ID          string          `json:"id"`
	Timestamp   string          `json:"timestamp"`
	Type        string          `json:"type"`
	Text        *whText         `json:"text,omitempty"`
	Button      *whButton       `json:"button,omitempty"`
	Interactive *whInteractive  `json:"interactive,omitempty"`
	Image       *whMedia        `json:"image,omitempty"`
	Document    *whMedia        `json:"document,omitempty"`
	Audio       *whMedia        `json:"audio,omitempty"`
	Video       *whMedia        `json:"video,omitempty"`
	Sticker     *whMedia        `json:"sticker,omitempty"`
	Location    *whLocation     `json:"location,omitempty"`
	Contacts    []whContactCard `json:"contacts,omitempty"`
	Reaction    *whReaction     `json:"reaction,omitempty"`
}

type whContext struct {
	From string `json:"from"`
	ID   string `json:"id"`
}

type whText struct {
	Body string `json:"body"`
}

type whButton struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

type whInteractive struct {
	Type        string   `json:"type"`
	ButtonReply *whReply `json:"button_reply,omitempty"`
	ListReply   *whReply `json:"list_reply,omitempty"`
}

type whReply struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

const errorCodesHref = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func (s *Sandbox) envelope(v webhookValue) webhookPayload {
	v.MessagingProduct = "whatsapp"
	v.Metadata = webhookMetadata{DisplayPhoneNumber: s.cfg.DisplayPhoneNumber, PhoneNumberID: s.cfg.PhoneNumberID}
	return webhookPayload{
		Object: "whatsapp_business_account",
		Entry:  []webhookEntry{{ID: s.cfg.BusinessAccountID, Changes: []webhookChange{{Value: v, Field: "messages"}}}},
	}
}

// statusEvent is one status webhook waiting for its time.
type statusEvent struct {
	due      time.Time
	seq      uint64
	msgID    string
	waID     string
	userID   string // recipient_user_id
	byUserID bool   // sent by recipient: the phone number is withheld
	status   string // sent|delivered|read|failed
	errCode  int
	category string // pricing category: utility|marketing|authentication|service
	billable bool
	conv     conversation
}

func (s *Sandbox) statusPayload(ev statusEvent, at time.Time) webhookPayload {
	st := whStatus{ID: ev.msgID, Status: ev.status, Timestamp: unix(at), RecipientID: ev.waID, RecipientUID: ev.userID}
	if ev.byUserID {
		st.RecipientID = ""
	}
	switch ev.status {
	case "failed":
		info := lookupError(ev.errCode)
		st.Errors = []whError{{
			Code: ev.errCode, Title: info.Title, Message: info.Title,
			ErrorData: whErrorData{Details: info.Details}, Href: errorCodesHref,
		}}
	case "sent", "delivered":
		// Meta attaches conversation and pricing to sent and delivered, not to read.
		c := &whConversation{ID: ev.conv.id, Origin: whOrigin{Type: ev.category}}
		if ev.status == "sent" {
			c.ExpirationTimestamp = unix(ev.conv.expires)
		}
		st.Conversation = c
		pt := "regular"
		if !ev.billable {
			pt = "free_customer_service"
		}
		st.Pricing = &whPricing{Billable: ev.billable, PricingModel: "PMP", Category: ev.category, Type: pt}
	}
	return s.envelope(webhookValue{Statuses: []whStatus{st}})
}

// process runs on a webhook worker: it records the status, posts it, and schedules the next one,
// so the statuses of one message are always posted in order.
func (s *Sandbox) process(ctx context.Context, ev statusEvent) {
	now := time.Now()
	s.mu.Lock()
	o := s.byID[ev.msgID]
	idx := -1
	if o != nil {
		o.Statuses = append(o.Statuses, Status{Status: ev.status, At: now, Error: ev.errCode})
		idx = len(o.Statuses) - 1
	}
	s.mu.Unlock()

	delivered := true
	if s.cfg.WebhookURL != "" {
		body, _ := json.Marshal(s.statusPayload(ev, now))
		if err := s.deliver(ctx, body); err != nil {
			delivered = false
			s.log.Warn("status webhook not delivered", "wa_msg_id", ev.msgID, "status", ev.status, "err", err)
		}
	}
	if delivered && idx >= 0 {
		s.mu.Lock()
		if o := s.byID[ev.msgID]; o != nil && idx < len(o.Statuses) {
			o.Statuses[idx].Delivered = true
		}
		s.mu.Unlock()
	}
	next := ""
	switch ev.status {
	case "sent":
		next = "delivered"
	case "delivered":
		next = "read"
	}
	if next != "" && ctx.Err() == nil {
		ev.status = next
		ev.due = time.Now().Add(s.cfg.StatusDelay)
		s.q.push(ev)
	}
}

// deliver POSTs a signed webhook, retrying non-2xx answers and transport errors with doubling
// backoff, as Meta retries (Meta keeps trying for days; the sandbox a few times).
func (s *Sandbox) deliver(ctx context.Context, body []byte) error {
	backoff := s.cfg.WebhookBackoff
	var last error
	for attempt := 0; ; attempt++ {
		last = s.postOnce(ctx, body)
		if last == nil {
			return nil
		}
		if attempt >= s.cfg.WebhookRetries {
			return fmt.Errorf("post webhook after %d attempts: %w", attempt+1, last)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("post webhook: %w", ctx.Err())
		case <-t.C:
		}
		backoff *= 2
	}
}

func (s *Sandbox) postOnce(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set("X-Hub-Signature-256", Signature(s.cfg.AppSecret, body))
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post webhook: receiver answered %d", resp.StatusCode)
	}
	return nil
}

// scheduler holds status events until they are due and hands them to workers. Events are kept
// in a heap guarded by a mutex, so scheduling never blocks a request, even before Start.
type scheduler struct {
	mu      sync.Mutex
	h       eventHeap
	max     int
	seq     uint64
	dropped int
	wake    chan struct{}

	once   sync.Once
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (q *scheduler) init(max int) {
	q.max = max
	q.wake = make(chan struct{}, 1)
}

func (q *scheduler) push(ev statusEvent) bool {
	q.mu.Lock()
	if len(q.h) >= q.max {
		q.dropped++
		q.mu.Unlock()
		return false
	}
	q.seq++
	ev.seq = q.seq
	heap.Push(&q.h, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *scheduler) clear() {
	q.mu.Lock()
	q.h = nil
	q.mu.Unlock()
}

func (q *scheduler) start(ctx context.Context, workers int, process func(context.Context, statusEvent)) {
	q.once.Do(func() {
		ctx, q.cancel = context.WithCancel(ctx)
		jobs := make(chan statusEvent)
		q.wg.Add(1 + workers)
		go func() {
			defer q.wg.Done()
			q.run(ctx, jobs)
		}()
		for range workers {
			go func() {
				defer q.wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case ev := <-jobs:
						process(ctx, ev)
					}
				}
			}()
		}
	})
}

func (q *scheduler) stop() {
	q.once.Do(func() {}) // a Close before Start makes a later Start a no-op
	if q.cancel != nil {
		q.cancel()
	}
	q.wg.Wait()
}

func (q *scheduler) run(ctx context.Context, jobs chan<- statusEvent) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		q.mu.Lock()
		var ev statusEvent
		ready := len(q.h) > 0 && !q.h[0].due.After(now)
		wait := time.Hour
		if ready {
			ev = heap.Pop(&q.h).(statusEvent)
		} else if len(q.h) > 0 {
			wait = q.h[0].due.Sub(now)
		}
		q.mu.Unlock()
		if ready {
			select {
			case jobs <- ev:
			case <-ctx.Done():
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

type eventHeap []statusEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].due.Equal(h[j].due) {
		return h[i].seq < h[j].seq
	}
	return h[i].due.Before(h[j].due)
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(statusEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	ev := old[n-1]
	*h = old[:n-1]
	return ev
}
