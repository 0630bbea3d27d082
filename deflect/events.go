package deflect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/deflect/store"
)

// InboundMessage is a customer's message or button tap as the webhook reported it.
type InboundMessage struct {
	ID      string    `json:"id"`
	From    string    `json:"from"`              // wa_id; empty when Meta withholds the number
	UserID  string    `json:"user_id,omitempty"` // business-scoped user id, when Meta sent one
	Name    string    `json:"name,omitempty"`
	Type    string    `json:"type"` // text, button, interactive, image...
	Text    string    `json:"text,omitempty"`
	Payload string    `json:"payload,omitempty"` // quick-reply / button reply payload or id
	At      time.Time `json:"at"`
}

// OnStatus applies a message status webhook: it is published to the instance waiting for it,
// recorded on the session (never moving backwards), and teaches presence. Safe to call twice
// for the same status.
func (s *Service) OnStatus(ctx context.Context, u StatusUpdate) error {
	if u.MessageID == "" || u.Status == "" {
		return nil
	}
	if u.At.IsZero() {
		u.At = s.now()
	}
	payload, _ := json.Marshal(u)
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	// Publish first: the caller on the line is waiting for exactly this.
	if err := s.st.Publish(sctx, StatusChannel, payload); err != nil {
		return fmt.Errorf("publish status: %w", err)
	}
	s.m.statuses.WithLabelValues(statusLabel(u.Status)).Inc()

	e164 := ""
	sess, err := s.st.FindSessionByMessage(sctx, u.MessageID)
	switch {
	case err == nil:
		e164 = sess.Caller
		var prior, settled string
		if _, err := s.st.UpdateSession(sctx, sess.ID, func(x *store.Session) error {
			prior, settled = x.PresencePrior, applyStatus(x, u.Status, u.ErrorCode)
			stamp(x, stepOf(u.Status), u.At)
			x.UpdatedAt = s.now()
			return nil
		}); err != nil {
			return fmt.Errorf("update session status: %w", err)
		}
		s.m.countOffer(prior, settled)
		s.countStatus(sctx, sess, u)
		s.countBillable(sctx, sess, u)
	case errors.Is(err, store.ErrNotFound):
		s.countBillable(sctx, nil, u)
		// Not a deflection message (or its id is not stored yet: the waiting instance records
		// the status itself). Still worth learning from.
		if u.RecipientID != "" {
			e164 = "+" + strings.TrimPrefix(u.RecipientID, "+")
		}
	default:
		return fmt.Errorf("find session by message: %w", err)
	}
	switch {
	case u.Status == StatusDelivered || u.Status == StatusRead:
		s.learn(ctx, e164, true)
	case u.Status == StatusFailed && u.ErrorCode == 131026:
		s.learn(ctx, e164, false)
	}
	return nil
}

// countStatus records a deflection message's status in the statistics, once per session (a
// read implies it was delivered, whether or not the delivered status came), and what Meta bills.
func (s *Service) countStatus(ctx context.Context, sess *store.Session, u StatusUpdate) {
	if s.stats == nil {
		return
	}
	d := stats.SessionDims(sess)
	switch u.Status {
	case StatusRead:
		s.stats.CountOnce(ctx, sess.ID, d, stats.Read)
		fallthrough
	case StatusDelivered:
		s.stats.CountOnce(ctx, sess.ID, d, stats.Delivered)
	}
}

// countBillable records a message Meta bills (its status's pricing object), once per message:
// every one in deflectd_whatsapp_billable_messages_total, a deflection's also in the cost
// statistics under its session's dimensions. sess is nil when no session sent the message (or
// its id is not recorded yet: a later status of the same message, which carries the pricing
// too, then counts it in the statistics).
func (s *Service) countBillable(ctx context.Context, sess *store.Session, u StatusUpdate) {
	if !u.Billable || u.PricingCategory == "" {
		return
	}
	if s.stats.Once(ctx, "billable-metric:"+u.MessageID) {
		s.m.billable.WithLabelValues(pricingLabel(u.PricingCategory)).Inc()
	}
	if sess != nil {
		s.stats.Billable(ctx, u.MessageID, stats.SessionDims(sess), u.PricingCategory, sess.Region)
	}
}

// pricingLabel bounds the category label to Meta's pricing categories.
func pricingLabel(c string) string {
	switch c = strings.ToLower(c); c {
	case "utility", "marketing", "authentication", "authentication_international", "service":
		return c
	}
	return "other"
}

func stepOf(status string) string {
	switch status {
	case StatusDelivered:
		return StepDelivered
	case StatusRead:
		return StepRead
	case StatusFailed:
		return StepFailed
	}
	return "wa-" + statusLabel(status) // "sent" is taken by the send request itself
}

func statusLabel(s string) string {
	switch s {
	case StatusSent, StatusDelivered, StatusRead, StatusFailed:
		return s
	}
	return "other"
}

// OnMessage attaches an inbound message or button tap to the customer's conversation (seeding
// it from the session a tap refers to, or the caller's latest session) and learns presence.
func (s *Service) OnMessage(ctx context.Context, m InboundMessage) error {
	if m.From == "" && m.UserID == "" {
		return nil
	}
	if m.At.IsZero() {
		m.At = s.now()
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	cust, err := ResolveCustomer(sctx, s.st, s.cfg.Deflect.SessionTTL, s.now(), m.From, m.UserID)
	if err != nil {
		return err
	}
	e164 := "" // the customer's number, when known
	if cust.Phone != "" {
		e164 = "+" + cust.Phone
		s.learn(ctx, e164, true)
	}

	var sess *store.Session
	sid, choice, tapped := ParseButtonPayload(m.Payload)
	if tapped {
		if x, err := s.st.GetSession(sctx, sid); err == nil {
			sess = x
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("get session of button tap: %w", err)
		}
	}
	msg := ConversationMessage{ID: m.ID, Direction: "in", Type: m.Type, Text: m.Text, Payload: m.Payload, At: m.At}
	var replyTo *store.Session // the deflection this message answers, for the statistics
	convSession := ""          // else the session the conversation was seeded from
	defer func() {
		switch {
		case replyTo != nil:
			s.stats.CountOnce(ctx, replyTo.ID, stats.SessionDims(replyTo), stats.Replied)
		case convSession != "":
			s.stats.CountSession(ctx, convSession, stats.Replied)
		}
	}()
	return s.updateConversation(sctx, cust.Key, func(c *Conversation, fresh bool) error {
		if m.UserID != "" {
			c.UserID = m.UserID
		}
		if fresh && sess == nil && e164 != "" {
			// No tap to go by: the caller's latest deflected session, if any.
			if list, err := s.st.ListSessions(sctx, store.SessionFilter{Caller: e164, Outcome: OutcomeDeflected, Limit: 1}); err == nil && len(list) > 0 {
				sess = list[0]
			}
		}
		if sess != nil && (fresh || c.SessionID != sess.ID) {
			c.seedFrom(sess, s.cfg.Deflect.RouteTo)
		}
		if sess != nil {
			replyTo = sess
		}
		convSession = c.SessionID
		if m.Name != "" {
			c.Name = m.Name
		}
		if tapped && choice == "agent" {
			c.State = ConversationAgent
		}
		c.add(msg)
		return nil
	})
}

// seed opens (or re-points) the customer's conversation at a deflected session, so that a reply
// lands with the bot or an agent together with the call's context. status is the delivery
// state already known (its webhook came before the message was in the conversation).
func (s *Service) seed(ctx context.Context, sess *store.Session, sent Sent, status string) {
	waID := sent.WAID
	if waID == "" {
		waID = strings.TrimPrefix(sess.Caller, "+")
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	key, err := PhoneKey(sctx, s.st, waID) // the number may be a customer known by BSUID
	if err != nil {
		s.log.Error("seed conversation", "session_id", sess.ID, "err", err)
		return
	}
	err = s.updateConversation(sctx, key, func(c *Conversation, _ bool) error {
		c.seedFrom(sess, s.cfg.Deflect.RouteTo)
		m := ConversationMessage{ID: sent.MessageID, Direction: "out", Type: "template", Text: s.cfg.Deflect.Template.Name,
			Template: s.cfg.Deflect.Template.Name, Status: status, At: s.now()}
		if t, err := s.render(sess); err == nil { // the console shows what the customer read
			m.Params, m.Lang = t.BodyParams, t.Language
		}
		c.add(m)
		return nil
	})
	if err != nil {
		s.log.Error("seed conversation", "session_id", sess.ID, "err", err)
	}
}

// conversationPath adds the finished call's IVR path to its conversation, for the agent.
func (s *Service) conversationPath(ctx context.Context, sessionID string, path []string) {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	sess, err := s.st.GetSession(sctx, sessionID)
	if err != nil || sess.WAID == "" && sess.Caller == "" {
		return
	}
	waID := sess.WAID
	if waID == "" {
		waID = strings.TrimPrefix(sess.Caller, "+")
	}
	if waID, err = PhoneKey(sctx, s.st, waID); err != nil {
		s.log.Warn("add ivr path to conversation", "session_id", sessionID, "err", err)
		return
	}
	err = s.updateConversation(sctx, waID, func(c *Conversation, fresh bool) error {
		if fresh || c.SessionID != sessionID {
			return errSkip // not seeded, or already another call's
		}
		c.IVRPath = path
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		s.log.Warn("add ivr path to conversation", "session_id", sessionID, "err", err)
	}
}

var errSkip = errors.New("skip")

// updateConversation reads, changes and writes a conversation with compare-and-set, retrying
// lost races a few times.
func (s *Service) updateConversation(ctx context.Context, waID string, fn func(c *Conversation, fresh bool) error) error {
	_, err := store.UpdateJSON(ctx, s.st, ConversationsCollection, waID, s.cfg.Deflect.SessionTTL, 5,
		func() Conversation { return Conversation{WAID: waID, State: s.cfg.Deflect.RouteTo, CreatedAt: s.now()} },
		func(c *Conversation, fresh bool) error {
			if err := fn(c, fresh); err != nil {
				return err
			}
			c.UpdatedAt = s.now()
			return nil
		})
	return err
}
