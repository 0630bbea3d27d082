package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// EarlyStatusCollection keeps a status that arrived before its message was recorded in the
// conversation (Meta's "sent" can beat the send's own answer); recording the message applies it.
const EarlyStatusCollection = "inbox_early_status"

// earlyStatusTTL bounds how long an early status waits for its message.
const earlyStatusTTL = 10 * time.Minute

// statusRank orders delivery states; a status never moves a message backwards.
func statusRank(s string) int {
	switch s {
	case "sent":
		return 1
	case "delivered":
		return 2
	case "read":
		return 3
	case "failed":
		return 4
	}
	return 0
}

// applyStatus sets m's status when it moves forward (failed wins over anything but read).
func applyStatus(m *deflect.ConversationMessage, status string, errs []whatsapp.EventError) bool {
	if statusRank(status) == 0 || statusRank(status) <= statusRank(m.Status) || (status == "failed" && m.Status == "read") {
		return false
	}
	m.Status = status
	if status == "failed" {
		m.Error = messageError(errs)
	}
	return true
}

// messageError is the first of Meta's errors with a plain reason and action.
func messageError(errs []whatsapp.EventError) *deflect.MessageError {
	e := &deflect.MessageError{}
	if len(errs) > 0 {
		e.Code, e.Title = errs[0].Code, errs[0].Title
		if e.Title == "" {
			e.Title = errs[0].Message
		}
	}
	e.Reason, e.Action = Explain(e.Code)
	return e
}

// Explain returns a plain-language reason for one of Meta's error codes and what to do (the
// whatsapp package's table).
func Explain(code int) (reason, action string) { return whatsapp.Explain(code) }

// onStatus records a delivery status on the conversation message it belongs to and tells the
// consoles. A status for a message not recorded (yet) is kept for a while: recordOutbound
// applies it.
func (s *Service) onStatus(ctx context.Context, st *whatsapp.Status) error {
	if st.ID == "" || statusRank(st.Status) == 0 || st.RecipientID == "" && st.RecipientUserID == "" {
		return nil
	}
	// A message sent by "recipient" has a status without the number (recipient_user_id only).
	cust, err := deflect.LookupCustomer(ctx, s.st, st.RecipientID, st.RecipientUserID)
	if err != nil {
		return err
	}
	waID := cust.Key
	found, changed := false, false
	if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, isNew bool) error {
		found, changed = false, false
		if isNew {
			return errSkipWrite // not a conversation of ours: nothing to create
		}
		for i := range c.Messages {
			if m := &c.Messages[i]; m.ID == st.ID && m.Direction == "out" {
				found = true
				changed = applyStatus(m, st.Status, st.Errors)
				break
			}
		}
		if !changed {
			return errSkipWrite
		}
		return nil
	}); err != nil {
		return err
	}
	if changed {
		s.publish(ctx, Update{Type: UpdateMessage, WAID: waID, Status: st.Status})
	}
	if !found {
		if err := s.keepEarlyStatus(ctx, st); err != nil {
			return err
		}
		// The message may have been recorded between our look and the keep: recordOutbound
		// then looked for early statuses before this one was kept. Look once more; one of the
		// two always sees the other's write.
		return s.applyKeptStatuses(ctx, waID, st.ID)
	}
	return nil
}

type earlyStatus struct {
	Statuses []whatsapp.Status `json:"statuses"`
}

func (s *Service) keepEarlyStatus(ctx context.Context, st *whatsapp.Status) error {
	_, err := store.UpdateJSON(ctx, s.st, EarlyStatusCollection, st.ID, earlyStatusTTL, 8,
		func() earlyStatus { return earlyStatus{} },
		func(e *earlyStatus, _ bool) error {
			e.Statuses = append(e.Statuses, *st)
			return nil
		})
	if err != nil {
		return fmt.Errorf("keep early status: %w", err)
	}
	return nil
}

// applyKeptStatuses applies the kept early statuses of message id if it is in the
// conversation now, then forgets them.
func (s *Service) applyKeptStatuses(ctx context.Context, waID, id string) error {
	kept := s.earlyStatuses(ctx, id)
	if len(kept) == 0 {
		return nil
	}
	found, changed := false, false
	if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, isNew bool) error {
		found, changed = false, false
		if isNew {
			return errSkipWrite
		}
		for i := range c.Messages {
			if m := &c.Messages[i]; m.ID == id && m.Direction == "out" {
				found = true
				for _, st := range kept {
					changed = applyStatus(m, st.Status, st.Errors) || changed
				}
				break
			}
		}
		if !changed {
			return errSkipWrite
		}
		return nil
	}); err != nil {
		return err
	}
	if found {
		_ = s.st.DeleteDoc(ctx, EarlyStatusCollection, id)
	}
	if changed {
		s.publish(ctx, Update{Type: UpdateMessage, WAID: waID})
	}
	return nil
}

// earlyStatuses are the statuses kept for message id before it was recorded.
func (s *Service) earlyStatuses(ctx context.Context, id string) []whatsapp.Status {
	if id == "" {
		return nil
	}
	doc, err := s.st.GetDoc(ctx, EarlyStatusCollection, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("read early statuses", "err", err)
		}
		return nil
	}
	var e earlyStatus
	if json.Unmarshal(doc.Data, &e) != nil {
		return nil
	}
	return e.Statuses
}

// renderTemplate is the template's body in lang (else its base language, else English, else
// any) with {{n}} replaced by params; ok is false when inbox.template_texts lacks it.
func (s *Service) renderTemplate(name, lang string, params []string) (string, bool) {
	texts := s.cfg.Inbox.TemplateTexts[name]
	if len(texts) == 0 {
		return "", false
	}
	base, _, _ := strings.Cut(lang, "_")
	base, _, _ = strings.Cut(base, "-")
	body, ok := texts[lang]
	for _, l := range []string{base, "en"} {
		if !ok {
			body, ok = texts[l]
		}
	}
	if !ok {
		for _, t := range texts {
			body = t
			break
		}
	}
	args := make([]string, 0, 2*len(params))
	for i, p := range params {
		args = append(args, "{{"+strconv.Itoa(i+1)+"}}", p)
	}
	return strings.NewReplacer(args...).Replace(body), true
}

// rendered returns the messages with each template's Text as the customer read it.
func (s *Service) rendered(msgs []deflect.ConversationMessage, convLang string) []deflect.ConversationMessage {
	for i := range msgs {
		m := &msgs[i]
		if m.Type != "template" {
			continue
		}
		if m.Template == "" { // recorded before templates kept their name apart
			m.Template = m.Text
		}
		lang := m.Lang
		if lang == "" {
			lang = convLang
		}
		if text, ok := s.renderTemplate(m.Template, lang, m.Params); ok {
			m.Text = text
		}
	}
	return msgs
}

// TemplateTexts are the templates' bodies by name and language (inbox.template_texts), for the
// console's preview.
func (s *Service) TemplateTexts() map[string]map[string]string {
	out := make(map[string]map[string]string, len(s.cfg.Inbox.TemplateTexts))
	for name, texts := range s.cfg.Inbox.TemplateTexts {
		out[name] = make(map[string]string, len(texts))
		for lang, t := range texts {
			out[name][lang] = t
		}
	}
	return out
}
