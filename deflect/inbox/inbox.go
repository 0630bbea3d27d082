// Package inbox answers customers on WhatsApp once a deflected call (or anyone) writes: opt-out
// and opt-in keywords, the menu bot, and the hand-off to human agents (presence, least-loaded
// assignment with a FIFO waiting queue, transfer, close with a disposition), with live updates
// for the agent console and signed webhooks for external desks.
//
// The conversation itself (call context, messages, bot|agent) is deflect's document in the
// "conversations" collection; the inbox keeps its own state per customer in the "inbox"
// collection (bot state, queue and assignment, 24-hour window), agents in "inbox_agents" and the
// waiting queue in "inbox_queue". Every claim is a compare-and-set on a store document, so
// several instances sharing Redis never assign a conversation twice.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/lookup/redact"
	"github.com/deflectd/deflectd/whatsapp"
)

// Collections the inbox owns.
const (
	RecordsCollection = "inbox"
	AgentsCollection  = "inbox_agents"
	QueueCollection   = "inbox_queue"
)

// Record statuses: who has the conversation now.
const (
	StatusBot      = "bot"
	StatusWaiting  = "waiting"
	StatusAssigned = "assigned"
	StatusClosed   = "closed"
)

// Store is what the inbox needs from the store.
type Store interface {
	store.Docs
	store.Once
	store.OptOuts
	store.Events
	store.Streams
}

// SessionCounter counts an outcome once for the deflection session a conversation came from
// (*stats.Recorder).
type SessionCounter interface {
	CountSession(ctx context.Context, sessionID, metric string)
}

// count records metric for the conversation's session, when it came from a call.
func (s *Service) count(ctx context.Context, sessionID, metric string) {
	if s.stats != nil && sessionID != "" {
		s.stats.CountSession(ctx, sessionID, metric)
	}
}

// Sender sends WhatsApp messages (*whatsapp.Client).
type Sender interface {
	SendText(ctx context.Context, to, body string, previewURL bool) (whatsapp.SendResult, error)
	SendButtons(ctx context.Context, to, body string, buttons []whatsapp.Button) (whatsapp.SendResult, error)
	SendList(ctx context.Context, to, body, buttonLabel string, sections []whatsapp.Section) (whatsapp.SendResult, error)
	SendMedia(ctx context.Context, to string, md whatsapp.Media) (whatsapp.SendResult, error)
	SendTemplate(ctx context.Context, to string, t whatsapp.Template) (whatsapp.SendResult, error)
}

var _ Sender = (*whatsapp.Client)(nil)

// Record is the inbox's state of one customer (collection "inbox", keyed by wa_id).
type Record struct {
	WAID        string    `json:"wa_id"`
	Status      string    `json:"status"` // bot|waiting|assigned|closed
	Agent       string    `json:"agent,omitempty"`
	SessionID   string    `json:"session_id,omitempty"` // the call the conversation came from
	Bot         bot.State `json:"bot"`
	LastInbound time.Time `json:"last_inbound,omitzero"`
	QueuedAt    time.Time `json:"queued_at,omitzero"`
	AssignedAt  time.Time `json:"assigned_at,omitzero"`
	Disposition string    `json:"disposition,omitempty"`
	ClosedBy    string    `json:"closed_by,omitempty"`
	ClosedAt    time.Time `json:"closed_at,omitzero"`
	// Handled holds the latest inbound message ids already acted on (redelivery guard).
	Handled []string `json:"handled,omitempty"`
	// Pending is the reply computed for the latest handled message, kept so that a redelivery
	// after a crash sends what was not sent yet (each action is guarded by SetOnce).
	Pending   *Pending  `json:"pending,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Pending is the bot's reply to one inbound message.
type Pending struct {
	MessageID string       `json:"message_id"`
	Actions   []bot.Action `json:"actions"`
}

const maxHandled = 32

// Options wires a Service. Store, Sender and Bot are required.
type Options struct {
	Config configs.Config
	Store  Store
	Sender Sender
	Bot    *bot.Bot
	// Agents are the people who may sign in to the console (see AgentsFromConfig).
	Agents []Agent
	Desk   *Desk // nil: no external desk
	// Media fetches and uploads media through the Graph API; nil: no media in the console.
	Media  MediaGraph
	Logger *slog.Logger
	Now    func() time.Time
	// StaleReservation is how old an agent slot reserved for a conversation that never got
	// assigned (a crash between the two writes) must be before it is freed; default 30 s.
	StaleReservation time.Duration
	// Stats counts hand-offs and conversations agents resolve, by the call they came from
	// (nil: not counted).
	Stats SessionCounter
	// PresenceTTL: an online agent whose console has not called Touch (or SetPresence) for this
	// long counts as offline for new assignments. 0 = presence never expires (API-only agents).
	PresenceTTL time.Duration
}

// Service is the inbox.
type Service struct {
	cfg    configs.Config
	st     Store
	send   Sender
	bot    *bot.Bot
	agents []Agent
	desk   *Desk
	media  MediaGraph
	// mediaCache keeps Graph API media on disk (nil: off).
	mediaCache *mediaCache
	log        *slog.Logger
	now        func() time.Time
	stale      time.Duration
	max        int

	presenceTTL time.Duration
	stats       SessionCounter
	calls       CallPayloads // nil: WhatsApp calls are off
	window      time.Duration
	ttl         time.Duration
}

var _ deflect.ChatCounter = (*Service)(nil)

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Sender == nil || o.Bot == nil {
		return nil, errors.New("new inbox: store, sender and bot are required")
	}
	s := &Service{cfg: o.Config, st: o.Store, send: o.Sender, bot: o.Bot, agents: slices.Clone(o.Agents),
		desk: o.Desk, media: o.Media, log: o.Logger, now: o.Now, stale: o.StaleReservation, presenceTTL: o.PresenceTTL, stats: o.Stats,
		max: o.Config.Inbox.MaxChatsPerAgent, window: o.Config.Inbox.WindowDuration, ttl: o.Config.Deflect.SessionTTL}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "inbox")
	if s.now == nil {
		s.now = time.Now
	}
	s.mediaCache = newMediaCache(o.Config.Inbox.MediaCacheDir, o.Config.Inbox.MediaCacheTTL, s.now)
	if s.stale <= 0 {
		s.stale = 30 * time.Second
	}
	if s.max <= 0 {
		s.max = 4
	}
	if s.window <= 0 {
		s.window = 24 * time.Hour
	}
	return s, nil
}

// HandleEvent handles one webhook event after deflect's handler (which records the message in
// the conversation). A status marks the conversation's message sent, delivered, read or failed. An error makes the consumer retry the event; every
// send is guarded per inbound message id, so a retry never replies twice.
func (s *Service) HandleEvent(ctx context.Context, e whatsapp.Event) error {
	if e.Kind == whatsapp.KindStatus && e.Status != nil {
		return s.onStatus(ctx, e.Status)
	}
	if e.Kind != whatsapp.KindMessage || e.Message == nil || e.Message.From == "" && e.Message.UserID == "" {
		return nil
	}
	m := e.Message
	// The conversation's key: the wa_id, or the business-scoped user id of a customer who wrote
	// without a phone number (deflect.LinksCollection keeps one customer in one conversation).
	cust, err := deflect.ResolveCustomer(ctx, s.st, s.ttl, s.now(), m.From, m.UserID)
	if err != nil {
		return err
	}
	waID := cust.Key
	if m.Type == "reaction" {
		return s.onReaction(ctx, waID, m) // shown on its message; not a message to answer
	}
	at := m.Timestamp
	if at.IsZero() {
		at = s.now()
	}
	text, replyID := m.Text, ""
	switch {
	case m.Interactive != nil:
		text, replyID = m.Interactive.Title, m.Interactive.ID
	case m.Button != nil:
		text = m.Button.Text
	case m.Media != nil && text == "":
		text = m.Media.Caption
	}

	conv, fresh, err := s.touchConversation(ctx, waID, e.ContactName, messageFrom(m, text, replyID, at))
	if err != nil {
		return err
	}
	if m.Type == "system" {
		// Meta's notice about the user's account (a changed number): agents see it in the
		// conversation; the customer did not say it, so neither the bot nor the desk answers.
		s.publish(ctx, Update{Type: UpdateMessage, WAID: waID})
		return nil
	}
	rec, created, err := s.touchRecord(ctx, waID, conv, at)
	if err != nil {
		return err
	}
	if created {
		s.desk.emit(ctx, EventConversationCreated, waID+":"+rec.CreatedAt.Format(time.RFC3339Nano), s.deskConversation(conv, rec))
	}
	if fresh {
		s.log.Info("conversation opened without a call", "wa_id", redact.Mask(waID))
	}
	if s.desk.Enabled() {
		// Once per message: a redelivered event is not posted to the desk again.
		if first, err := s.st.SetOnce(ctx, "inbox:desk:in:"+m.ID, 48*time.Hour); err != nil {
			return fmt.Errorf("claim desk event: %w", err)
		} else if first {
			s.desk.emit(ctx, EventMessageInbound, m.ID, map[string]any{"conversation_id": waID, "message": deskMessage{
				ID: m.ID, Type: m.Type, Text: text, Payload: replyID, At: at}})
		}
	}

	lang := s.bot.Language(rec.Bot.Language)
	if m.Type == "text" {
		if kw := s.keyword(text); kw != "" {
			return s.optKeyword(ctx, waID, m.ID, lang, kw == "out", at)
		}
	}

	if rec.Status == StatusWaiting || rec.Status == StatusAssigned {
		s.publish(ctx, Update{Type: UpdateMessage, WAID: waID, Agent: rec.Agent, Status: rec.Status})
		return nil
	}
	if conv.State == deflect.ConversationAgent {
		// The customer asked for a person (deflect's "agent" button or route_to: agent).
		if err := s.handoff(ctx, waID, "customer"); err != nil {
			return err
		}
		if l, ok := s.bot.Flows().Languages[lang]; ok && l.Handoff != "" && s.now().Sub(at) < s.window {
			// Tell the customer someone is coming, in their language (once per message).
			if err := s.sendAction(ctx, waID, m.ID+":handoff", bot.Action{Kind: bot.ActHandoff, Text: l.Handoff}); err != nil {
				return err
			}
		}
		return s.Dispatch(ctx)
	}
	return s.runBot(ctx, waID, m.ID, bot.Input{Text: text, ReplyID: replyID, WindowOpen: s.now().Sub(at) < s.window})
}

// touchConversation records the inbound message in deflect's conversation document (deflect's
// handler normally did already; the message is added only when missing), creating the document
// when the number wrote without a call: state bot, language from the number's region.
func (s *Service) touchConversation(ctx context.Context, waID, name string, in deflect.ConversationMessage) (*deflect.Conversation, bool, error) {
	var fresh bool
	c, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, isNew bool) error {
		fresh = isNew
		if c.Language == "" {
			c.Language = s.regionLanguage(waID)
		}
		if c.State == "" {
			c.State = deflect.ConversationBot
		}
		if name != "" && c.Name == "" {
			c.Name = name
		}
		mergeMessage(c, in)
		return nil
	})
	return c, fresh, err
}

// touchRecord creates or refreshes the inbox record: the 24-hour window starts at at.
func (s *Service) touchRecord(ctx context.Context, waID string, conv *deflect.Conversation, at time.Time) (*Record, bool, error) {
	var created bool
	rec, err := s.updateRecord(ctx, waID, func(r *Record, isNew bool) error {
		created = isNew
		switch {
		case isNew:
			r.Status = StatusBot
			r.Bot.Language = s.bot.Language(conv.Language)
		case r.Status == StatusBot || r.Status == StatusClosed:
			// A new deflected call, or a customer back after the window: the bot starts over
			// (greeting, main menu) instead of resuming an old menu.
			if conv.SessionID != r.SessionID || (!r.LastInbound.IsZero() && at.Sub(r.LastInbound) >= s.window) {
				r.Bot = toBotState(s.bot.Language(conv.Language))
			}
		}
		r.SessionID = conv.SessionID
		if at.After(r.LastInbound) {
			r.LastInbound = at
		}
		return nil
	})
	return rec, created, err
}

// regionLanguage is the language of the number's region (ivr.region_languages), else the
// default language. A business-scoped user id starts with its country code ("SA.…").
func (s *Service) regionLanguage(waID string) string {
	region := ""
	if whatsapp.IsBSUID(waID) {
		region = waID[:2]
	} else if n, err := lookup.Normalize("+"+waID, ""); err == nil {
		region = n.Region
	}
	if l, ok := s.cfg.IVR.RegionLanguages[region]; ok && region != "" {
		return l
	}
	if s.cfg.IVR.DefaultLanguage != "" {
		return s.cfg.IVR.DefaultLanguage
	}
	return "en"
}

// runBot advances the bot by one message and sends its reply.
func (s *Service) runBot(ctx context.Context, waID, msgID string, in bot.Input) error {
	var acts []bot.Action
	var handoff, switched bool
	var lang string
	rec, err := s.updateRecord(ctx, waID, func(r *Record, _ bool) error {
		acts, handoff, switched = nil, false, false
		if slices.Contains(r.Handled, msgID) {
			if r.Pending != nil && r.Pending.MessageID == msgID {
				acts = r.Pending.Actions
			}
			return errSkipWrite
		}
		before := r.Bot.Language
		st, out := s.bot.Handle(r.Bot, in)
		r.Bot, acts = st, out
		switched = st.Language != before
		lang = st.Language
		r.Handled = appendHandled(r.Handled, msgID)
		r.Pending = &Pending{MessageID: msgID, Actions: out}
		if st.Handoff {
			handoff = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	if switched {
		if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
			c.Language = lang
			return nil
		}); err != nil {
			s.log.Warn("record language switch", "wa_id", redact.Mask(waID), "err", err)
		}
	}
	_ = rec
	for i, a := range acts {
		if err := s.sendAction(ctx, waID, fmt.Sprintf("%s:%d", msgID, i), a); err != nil {
			return err
		}
	}
	if handoff {
		if err := s.handoff(ctx, waID, "bot"); err != nil {
			return err
		}
		return s.Dispatch(ctx)
	}
	return nil
}

var errSkipWrite = errors.New("nothing to write")

func appendHandled(h []string, id string) []string {
	h = append(h, id)
	if n := len(h) - maxHandled; n > 0 {
		h = slices.Clone(h[n:])
	}
	return h
}

// sendAction sends one bot action at most once (key: inbound message id and action index).
func (s *Service) sendAction(ctx context.Context, waID, key string, a bot.Action) error {
	if a.Kind == bot.ActHandoff && a.Text == "" {
		return nil
	}
	first, err := s.st.SetOnce(ctx, "inbox:send:"+key, 48*time.Hour)
	if err != nil {
		return fmt.Errorf("claim reply: %w", err)
	}
	if !first {
		return nil
	}
	var res whatsapp.SendResult
	out := deflect.ConversationMessage{Direction: "out", At: s.now()}
	switch a.Kind {
	case bot.ActText, bot.ActHandoff:
		res, err = s.send.SendText(ctx, waID, a.Text, strings.Contains(a.Text, "://"))
		out.Type, out.Text = "text", a.Text
	case bot.ActButtons:
		bs := make([]whatsapp.Button, 0, len(a.Choices))
		for _, c := range a.Choices {
			bs = append(bs, whatsapp.Button{ID: c.ID, Title: c.Title})
		}
		res, err = s.send.SendButtons(ctx, waID, a.Text, bs)
		out.Type, out.Text = "interactive", withChoices(a)
	case bot.ActList:
		rows := make([]whatsapp.Row, 0, len(a.Choices))
		for _, c := range a.Choices {
			rows = append(rows, whatsapp.Row{ID: c.ID, Title: c.Title})
		}
		label := a.Button
		if label == "" {
			label = "Menu"
		}
		res, err = s.send.SendList(ctx, waID, a.Text, label, []whatsapp.Section{{Rows: rows}})
		out.Type, out.Text = "interactive", withChoices(a)
	case bot.ActCall:
		res, out.Text, err = s.sendCallButton(ctx, waID, a.Text)
		out.Type, out.Payload = "interactive", "call_button"
	case bot.ActMedia:
		if a.Media == nil {
			return nil
		}
		res, err = s.send.SendMedia(ctx, waID, whatsapp.Media{Kind: whatsapp.MediaKind(a.Media.Kind), Link: a.Media.URL,
			Caption: a.Media.Caption, Filename: a.Media.Filename})
		out.Type, out.Text, out.Payload = a.Media.Kind, a.Media.Caption, a.Media.URL
	default:
		return nil
	}
	if err != nil {
		// Not retried through the consumer: the SetOnce claim is taken, and a reply that may
		// have reached the customer must not be sent twice.
		s.log.Warn("send bot reply", "wa_id", redact.Mask(waID), "kind", string(a.Kind), "err", err)
		return nil
	}
	out.ID = res.MessageID
	s.recordOutbound(ctx, waID, out)
	return nil
}

func withChoices(a bot.Action) string {
	var b strings.Builder
	b.WriteString(a.Text)
	for _, c := range a.Choices {
		b.WriteString("\n• " + c.Title)
	}
	return b.String()
}

// recordOutbound appends a sent message to the conversation and tells the consoles.
func (s *Service) recordOutbound(ctx context.Context, waID string, m deflect.ConversationMessage) {
	if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
		addMessage(c, m)
		return nil
	}); err != nil {
		s.log.Warn("record outbound message", "wa_id", redact.Mask(waID), "err", err)
	}
	// Statuses that came before the message was recorded: looked for after the write, so that
	// either this or onStatus (which keeps, then looks again) sees the other.
	if err := s.applyKeptStatuses(ctx, waID, m.ID); err != nil {
		s.log.Warn("apply early statuses", "wa_id", redact.Mask(waID), "err", err)
	}
	s.publish(ctx, Update{Type: UpdateMessage, WAID: waID})
}

// addMessage appends m unless it is already there, keeping at most MaxConversationMessages.
func addMessage(c *deflect.Conversation, m deflect.ConversationMessage) {
	if m.ID != "" {
		for _, x := range c.Messages {
			if x.ID == m.ID && x.Direction == m.Direction {
				return
			}
		}
	}
	c.Messages = append(c.Messages, m)
	if n := len(c.Messages) - deflect.MaxConversationMessages; n > 0 {
		c.Messages = slices.Clone(c.Messages[n:])
	}
}

// updateConversation reads, changes and writes deflect's conversation document with
// compare-and-set (the same document deflect's handler writes), creating it when missing.
func (s *Service) updateConversation(ctx context.Context, waID string, fn func(c *deflect.Conversation, isNew bool) error) (*deflect.Conversation, error) {
	c, err := store.UpdateJSON(ctx, s.st, deflect.ConversationsCollection, waID, s.ttl, 8,
		func() deflect.Conversation {
			return deflect.Conversation{WAID: waID, State: deflect.ConversationBot, CreatedAt: s.now()}
		},
		func(c *deflect.Conversation, isNew bool) error {
			if err := fn(c, isNew); err != nil {
				return err
			}
			c.UpdatedAt = s.now()
			return nil
		})
	return skipped(c, err)
}

// skipped turns fn's errSkipWrite into success: the document as it stands.
func skipped[T any](v *T, err error) (*T, error) {
	if errors.Is(err, errSkipWrite) {
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// getConversation reads deflect's conversation document.
func (s *Service) getConversation(ctx context.Context, waID string) (*deflect.Conversation, error) {
	doc, err := s.st.GetDoc(ctx, deflect.ConversationsCollection, waID)
	if err != nil {
		return nil, fmt.Errorf("get conversation: %w", err)
	}
	var c deflect.Conversation
	if err := json.Unmarshal(doc.Data, &c); err != nil {
		return nil, fmt.Errorf("decode conversation: %w", err)
	}
	return &c, nil
}

// updateRecord is updateConversation for the inbox record. fn returning errSkipWrite leaves the
// document as it is (and updateRecord returns it without error).
func (s *Service) updateRecord(ctx context.Context, waID string, fn func(r *Record, isNew bool) error) (*Record, error) {
	r, err := store.UpdateJSON(ctx, s.st, RecordsCollection, waID, s.ttl, 16,
		func() Record { return Record{WAID: waID, Status: StatusBot, CreatedAt: s.now()} },
		func(r *Record, isNew bool) error {
			if err := fn(r, isNew); err != nil {
				return err
			}
			r.UpdatedAt = s.now()
			return nil
		})
	return skipped(r, err)
}

// getRecord reads the inbox record; ErrNotFound when the customer never wrote.
func (s *Service) getRecord(ctx context.Context, waID string) (*Record, int64, error) {
	doc, err := s.st.GetDoc(ctx, RecordsCollection, waID)
	if err != nil {
		return nil, 0, fmt.Errorf("get inbox record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(doc.Data, &r); err != nil {
		return nil, 0, fmt.Errorf("decode inbox record: %w", err)
	}
	return &r, doc.Version, nil
}

// WindowOpen reports whether free-form messages may be sent to the customer (an inbound
// message less than the window ago).
func (s *Service) WindowOpen(r *Record) bool {
	return r != nil && !r.LastInbound.IsZero() && s.now().Sub(r.LastInbound) < s.window
}
