package deflect

import (
	"context"
	"errors"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

// Store is the part of store.Store the engine uses.
type Store interface {
	store.Sessions
	store.Offers
	store.OptOuts
	store.Events
	store.Docs
}

// Template is one template message to send.
type Template struct {
	To                 string // E.164
	Name               string
	Language           string // template language code
	BodyParams         []string
	QuickReplyPayloads []string
}

// Sent is what the Graph API answered to an accepted message.
type Sent struct {
	MessageID string // wamid
	WAID      string // contacts[].wa_id; may be empty
}

// Sender sends template messages (the WhatsApp client through an adapter, or a fake).
type Sender interface {
	SendTemplate(ctx context.Context, t Template) (Sent, error)
}

// SendError is a classified send failure. Senders return it so that the engine can give the
// caller a precise reason and keep the circuit breaker honest.
type SendError struct {
	// Reason is the bounded reason code: not-on-whatsapp, rate-limited, config-error, api-error,
	// unreachable...
	Reason string
	// Recipient is true when the API worked but this recipient cannot get the message: such
	// errors do not count against the circuit breaker.
	Recipient bool
	Err       error
}

func (e *SendError) Error() string { return "send template: " + e.Reason + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// sendReason is the reason code for any send error.
func sendReason(err error) string {
	var se *SendError
	if errors.As(err, &se) && se.Reason != "" {
		return se.Reason
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return "send-timeout"
	}
	return "api-error"
}

// recipientError reports whether err is about the recipient, not about the API's health.
func recipientError(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Recipient
}

// PresenceLearner records what a status or inbound message taught about a number: yes
// (delivered, read, inbound) or no (131026). *lookup.Chain is one.
type PresenceLearner interface {
	Learn(ctx context.Context, e164 string, yes bool, source string) error
}

// ChatCounter counts open agent conversations for the chat-capacity rule.
type ChatCounter interface {
	OpenAgentChats(ctx context.Context) (int, error)
}

// StoreLearner learns presence straight into the store's facts with the configured TTLs; used
// when no lookup chain with its own Learn is wired.
type StoreLearner struct {
	Facts  store.PresenceFacts
	YesTTL time.Duration
	NoTTL  time.Duration
	Now    func() time.Time
}

// Learn stores yes or no for e164 with its TTL.
func (l StoreLearner) Learn(ctx context.Context, e164 string, yes bool, source string) error {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	f := store.PresenceFact{E164: e164, Status: lookup.No.String(), Source: source, Since: now, Expires: now.Add(l.NoTTL)}
	if yes {
		f.Status, f.Expires = lookup.Yes.String(), now.Add(l.YesTTL)
	}
	return l.Facts.SetPresence(ctx, f)
}

var _ PresenceLearner = (*lookup.Chain)(nil)
