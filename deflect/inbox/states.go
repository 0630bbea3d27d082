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

// failures explains Meta's message error codes to an agent: what happened, what to do. From
// Meta's Cloud API error-code reference (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
var failures = map[int][2]string{
	131047: {"More than 24 hours have passed since the customer last wrote, so WhatsApp only accepts an approved template.", "Send a template; free text works again once the customer answers."},
	131026: {"WhatsApp could not deliver the message: the number may not be on WhatsApp, or the customer's app is outdated or has not accepted the latest terms.", "Reach the customer another way (call back) or try again later."},
	131049: {"Meta did not deliver this marketing template, to keep the customer's experience healthy.", "Do not resend at once; try later or use a utility template."},
	131050: {"The customer has stopped marketing messages from this business.", "Do not send marketing templates to this customer."},
	131048: {"Too many of this number's messages were blocked or reported, so WhatsApp is limiting sends.", "Wait before sending more and review message quality."},
	131056: {"Too many messages to this customer in a short time.", "Wait a few seconds and send again."},
	130429: {"The business number reached its sending rate limit.", "Wait a moment and send again."},
	131051: {"WhatsApp does not support this message type.", "Send text or a supported media type."},
	131052: {"WhatsApp could not download the media the customer sent.", "Ask the customer to send it again."},
	131053: {"WhatsApp could not upload the media of this message.", "Check the file's type and size and attach it again."},
	131000: {"Something went wrong on WhatsApp's side.", "Send again; if it keeps failing, contact an administrator."},
	131008: {"A required part of the message is missing.", "Check the template's parameters and send again."},
	131009: {"A value in the message is not valid.", "Check the parameters and send again."},
	132000: {"The template got a different number of parameters than it has placeholders.", "Fill in every parameter and send again."},
	132001: {"The template does not exist in this language or is not approved.", "Pick another template or language."},
	132005: {"The template's text with its parameters is too long.", "Shorten the parameters."},
	132012: {"A template parameter has the wrong format.", "Check the parameters and send again."},
	132015: {"The template is paused because of low quality.", "Pick another template."},
	132016: {"The template was disabled because of low quality.", "Pick another template."},
	130472: {"Meta held this message back as part of an experiment on this customer's number.", "Try again later."},
	131031: {"The business account is locked.", "Contact an administrator."},
	131042: {"There is a payment problem with the business account.", "Contact an administrator."},
	368:    {"The business account is restricted for violating WhatsApp's policies.", "Contact an administrator."},
	190:    {"deflectd's WhatsApp access token expired or is invalid.", "Contact an administrator."},
}

// Explain returns a plain-language reason and what to do for one of Meta's error codes.
func Explain(code int) (reason, action string) {
	if f, ok := failures[code]; ok {
		return f[0], f[1]
	}
	if code == 0 {
		return "WhatsApp reported the message as failed without a reason.", "Send again; if it keeps failing, contact an administrator."
	}
	return "WhatsApp refused the message (error " + strconv.Itoa(code) + ").", "Send again; if it keeps failing, contact an administrator."
}

// onStatus records a delivery status on the conversation message it belongs to and tells the
// consoles. A status for a message not recorded (yet) is kept for a while: recordOutbound
// applies it.
func (s *Service) onStatus(ctx context.Context, st *whatsapp.Status) error {
	waID := strings.TrimPrefix(st.RecipientID, "+")
	if waID == "" || st.ID == "" || statusRank(st.Status) == 0 {
		return nil
	}
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
