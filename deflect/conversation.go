package deflect

import (
	"maps"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// ConversationsCollection is the store Docs collection of conversations, keyed by wa_id, or by
// business-scoped user id for a customer who wrote without a phone number (see LinksCollection).
const ConversationsCollection = "conversations"

// Conversation states: who answers the customer.
const (
	ConversationBot   = "bot"
	ConversationAgent = "agent"
)

// MaxConversationMessages caps the history kept in the document; older messages are dropped.
const MaxConversationMessages = 200

// Conversation is the WhatsApp side of a deflected call: the customer (wa_id), the call's full
// context for the bot or agent, and the recent messages. The conversations/inbox work builds on
// this document; keep additions backwards compatible.
type Conversation struct {
	WAID       string                `json:"wa_id"`             // the key: wa_id digits or a BSUID
	UserID     string                `json:"user_id,omitempty"` // business-scoped user id, when known
	Name       string                `json:"name,omitempty"`    // WhatsApp profile name
	SessionID  string                `json:"session_id,omitempty"`
	Caller     string                `json:"caller,omitempty"` // E.164
	Queue      string                `json:"queue,omitempty"`
	CustomerID string                `json:"customer_id,omitempty"`
	Language   string                `json:"language,omitempty"`
	Context    map[string]string     `json:"context,omitempty"`
	UserToUser string                `json:"user_to_user,omitempty"`
	IVRPath    []string              `json:"ivr_path,omitempty"`
	State      string                `json:"state"` // bot|agent
	Messages   []ConversationMessage `json:"messages"`
	CreatedAt  time.Time             `json:"created_at"`
	UpdatedAt  time.Time             `json:"updated_at"`
}

// ConversationMessage is one message in or out.
type ConversationMessage struct {
	ID        string    `json:"id"`
	Direction string    `json:"direction"` // in|out
	Type      string    `json:"type"`
	Text      string    `json:"text,omitempty"`
	Payload   string    `json:"payload,omitempty"`
	At        time.Time `json:"at"`
	// Template messages: the name, body parameters and language code (Text is the body as the
	// customer read it when the inbox knows the template's text, else the name).
	Template string   `json:"template,omitempty"`
	Params   []string `json:"params,omitempty"`
	Lang     string   `json:"lang,omitempty"`
	// Outbound messages: the latest delivery state from Meta's status webhooks, and why a
	// failed one failed.
	Status string        `json:"status,omitempty"` // sent|delivered|read|failed
	Error  *MessageError `json:"error,omitempty"`
	// Media, location and contact cards as WhatsApp carries them; Reaction is the customer's
	// emoji on this message.
	Media    *MessageMedia    `json:"media,omitempty"`
	Location *MessageLocation `json:"location,omitempty"`
	Contacts []MessageContact `json:"contacts,omitempty"`
	Reaction string           `json:"reaction,omitempty"`
}

// MessageMedia is an image, document, audio, video or sticker, by Meta's media id (fetched
// through the Graph API when shown).
type MessageMedia struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"` // a voice note
}

// MessageLocation is a shared place.
type MessageLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// MessageContact is a shared contact card.
type MessageContact struct {
	Name   string   `json:"name"`
	Phones []string `json:"phones,omitempty"`
}

// MessageError is Meta's error on a failed message, with a plain-language reason and what the
// agent can do about it.
type MessageError struct {
	Code   int    `json:"code"`
	Title  string `json:"title,omitempty"`
	Reason string `json:"reason,omitempty"`
	Action string `json:"action,omitempty"`
}

// seedFrom points the conversation at a session and copies its context.
func (c *Conversation) seedFrom(s *store.Session, routeTo string) {
	c.SessionID = s.ID
	c.Caller = s.Caller
	c.Queue = s.Queue
	c.CustomerID = s.CustomerID
	c.Language = s.Language
	c.Context = maps.Clone(s.Context)
	if s.Variant != "" {
		// The agent (and an external desk) sees which offer the customer heard.
		if c.Context == nil {
			c.Context = map[string]string{}
		}
		c.Context["Experiment variant"] = s.Variant
	}
	c.UserToUser = s.UserToUser
	c.IVRPath = s.IVRPath
	c.State = routeTo
}

// add appends m unless it is already there (a redelivered webhook), dropping the oldest beyond
// the cap.
func (c *Conversation) add(m ConversationMessage) {
	if m.ID != "" {
		for _, x := range c.Messages {
			if x.ID == m.ID && x.Direction == m.Direction {
				return
			}
		}
	}
	c.Messages = append(c.Messages, m)
	if n := len(c.Messages) - MaxConversationMessages; n > 0 {
		c.Messages = append([]ConversationMessage(nil), c.Messages[n:]...)
	}
}
