package deflect

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/ivr/voice"
	"github.com/deflectd/deflectd/lookup/redact"
	"github.com/deflectd/deflectd/whatsapp"
)

// WhatsApp call buttons: a voice_call button (interactive message or template button) carries a
// payload Meta hands back with the call. Ours names the deflection session and is signed, so a
// customer cannot make their call arrive with someone else's context:
//
//	d1.<session id>.<expiry, unix seconds, base 36>.<HMAC-SHA256, 16 bytes, base64url>
//
// ≤ 80 characters (Meta allows 512). The key is voice.payload_secret, or one derived from
// whatsapp.app_secret, so every instance verifies what any other signed.

var (
	// ErrPayloadInvalid: not ours, or altered.
	ErrPayloadInvalid = errors.New("call button payload is not one deflectd signed")
	// ErrPayloadExpired: ours, but older than voice.button_ttl.
	ErrPayloadExpired = errors.New("call button payload has expired")
)

const payloadVersion = "d1"

func (s *Service) payloadKey() []byte {
	if k := s.cfg.Voice.PayloadSecret; k.IsSet() {
		return []byte(k.Reveal())
	}
	m := hmac.New(sha256.New, []byte(s.cfg.WhatsApp.AppSecret.Reveal()))
	m.Write([]byte("deflectd call button payload"))
	return m.Sum(nil)
}

func payloadMAC(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// CallPayload signs a call button payload for a session, valid voice.button_ttl.
func (s *Service) CallPayload(sessionID string) string {
	exp := s.now().Add(s.cfg.Voice.ButtonTTL).Unix()
	msg := payloadVersion + "." + sessionID + "." + strconv.FormatInt(exp, 36)
	return msg + "." + payloadMAC(s.payloadKey(), msg)
}

// verifyPayload returns the session a payload names.
func (s *Service) verifyPayload(p string) (string, error) {
	parts := strings.Split(p, ".")
	if len(parts) != 4 || parts[0] != payloadVersion || parts[1] == "" {
		return "", ErrPayloadInvalid
	}
	msg := strings.Join(parts[:3], ".")
	if !hmac.Equal([]byte(parts[3]), []byte(payloadMAC(s.payloadKey(), msg))) {
		return "", ErrPayloadInvalid
	}
	exp, err := strconv.ParseInt(parts[2], 36, 64)
	if err != nil {
		return "", ErrPayloadInvalid
	}
	if s.now().After(time.Unix(exp, 0)) {
		return "", ErrPayloadExpired
	}
	return parts[1], nil
}

var _ voice.Resolver = (*Service)(nil)

// ErrNoDeflection: a call without a payload from a customer with no recent deflection.
var ErrNoDeflection = errors.New("no deflection of this customer within voice.button_ttl")

// ResolveCall finds the deflection a WhatsApp call's button payload names. Without a payload
// (the call icon of the chat, or a template's call button, which carries none) it takes the
// customer's latest deflection within voice.button_ttl: Meta asserts who is calling, and their
// number is what the deflection knows them by.
func (s *Service) ResolveCall(ctx context.Context, payload, waID string) (voice.CallContext, error) {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	var sess *store.Session
	if payload == "" {
		var err error
		if sess, err = s.latestDeflection(sctx, waID); err != nil {
			return voice.CallContext{}, err
		}
	} else {
		id, err := s.verifyPayload(payload)
		if err != nil {
			return voice.CallContext{}, err
		}
		if sess, err = s.st.GetSession(sctx, id); err != nil {
			return voice.CallContext{}, fmt.Errorf("session of the call button: %w", err)
		}
	}
	wa := sess.WAID
	if wa == "" {
		wa = strings.TrimPrefix(sess.Caller, "+")
	}
	if waID != "" && wa != "" && waID != wa {
		// A forwarded button: the context belongs to someone else.
		return voice.CallContext{}, fmt.Errorf("call button of %s tapped by %s: %w", redact.Mask(wa), redact.Mask(waID), ErrPayloadInvalid)
	}
	conv, err := PhoneKey(sctx, s.st, wa)
	if err != nil {
		conv = wa // the link is a convenience: the call still gets its context
	}
	return voice.CallContext{SessionID: sess.ID, WAID: wa, Conversation: conv, Queue: sess.Queue, CustomerID: sess.CustomerID,
		Language: sess.Language, Context: sess.Context, UserToUser: sess.UserToUser}, nil
}

func (s *Service) latestDeflection(ctx context.Context, waID string) (*store.Session, error) {
	if waID == "" || whatsapp.IsBSUID(waID) {
		return nil, ErrNoDeflection
	}
	list, err := s.st.ListSessions(ctx, store.SessionFilter{Caller: "+" + strings.TrimPrefix(waID, "+"),
		Since: s.now().Add(-s.cfg.Voice.ButtonTTL), Outcome: OutcomeDeflected, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("latest deflection of the caller: %w", err)
	}
	if len(list) == 0 {
		return nil, ErrNoDeflection
	}
	return list[0], nil
}

// RecordCall puts the call in the customer's conversation, for the agent and the history.
func (s *Service) RecordCall(ctx context.Context, r voice.CallRecord) {
	if r.WAID == "" {
		return
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	text := callSummary(r)
	key, err := PhoneKey(sctx, s.st, r.WAID) // a customer with a username: their conversation
	if err != nil || key == "" {
		key = r.WAID
	}
	err = s.updateConversation(sctx, key, func(c *Conversation, fresh bool) error {
		if fresh && r.SessionID == "" {
			c.Caller = "+" + r.WAID
		}
		c.Messages = append(c.Messages, ConversationMessage{ID: "call-" + r.CallID, Direction: "in", Type: "call",
			Text: text, At: r.Start})
		if n := len(c.Messages) - MaxConversationMessages; n > 0 {
			c.Messages = c.Messages[n:]
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("record whatsapp call in the conversation", "wa_id", redact.Mask(r.WAID), "session_id", r.SessionID, "err", err)
	}
}

// callSummary: "Called on WhatsApp, 3 min 12 s, answered by queue billing".
func callSummary(r voice.CallRecord) string {
	var b strings.Builder
	b.WriteString("Called on WhatsApp")
	if r.Talk > 0 {
		d := r.Talk.Round(time.Second)
		fmt.Fprintf(&b, ", %d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	switch r.Result {
	case voice.ResultAnswered:
		b.WriteString(", answered by")
		if r.Queue != "" {
			b.WriteString(" queue " + r.Queue)
		} else {
			b.WriteString(" the contact centre")
		}
	case voice.ResultCancelled:
		b.WriteString(", hung up before an answer")
	default:
		b.WriteString(", not answered (" + r.Result + ")")
	}
	return b.String()
}
