package deflect

import (
	"context"
	"errors"

	"github.com/deflectd/deflectd/whatsapp"
)

// TemplateClient is the part of *whatsapp.Client the engine sends with.
type TemplateClient interface {
	SendTemplate(ctx context.Context, to string, t whatsapp.Template) (whatsapp.SendResult, error)
}

// WhatsAppSender adapts the WhatsApp client to Sender, classifying its errors into reason codes.
func WhatsAppSender(c TemplateClient) Sender { return waSender{c} }

type waSender struct{ c TemplateClient }

func (w waSender) SendTemplate(ctx context.Context, t Template) (Sent, error) {
	res, err := w.c.SendTemplate(ctx, t.To, whatsapp.Template{
		Name: t.Name, Language: t.Language, BodyParams: t.BodyParams, QuickReplyPayloads: t.QuickReplyPayloads,
	})
	if err != nil {
		return Sent{}, classifySend(err)
	}
	return Sent{MessageID: res.MessageID, WAID: res.WAID}, nil
}

// classifySend turns a whatsapp error into a SendError with a bounded reason code.
func classifySend(err error) error {
	var ae *whatsapp.APIError
	var te *whatsapp.TransportError
	var rl *whatsapp.RateLimitError
	var ve *whatsapp.ValidationError
	se := &SendError{Reason: "api-error", Err: err}
	switch {
	case whatsapp.IsNotOnWhatsApp(err):
		se.Reason, se.Recipient = ReasonNotOnWhatsApp, true
	case whatsapp.IsWindowClosed(err):
		se.Reason, se.Recipient = "window-closed", true
	case errors.As(err, &ae) && ae.Code == whatsapp.CodeSpamRateLimit:
		se.Reason, se.Recipient = "spam-limit", true
	case errors.As(err, &rl):
		se.Reason = "rate-limited"
	case errors.As(err, &ae) && (ae.Code == whatsapp.CodeThroughput || ae.Code == whatsapp.CodePairRateLimit || ae.Code == whatsapp.CodeAPITooManyCalls || ae.Code == whatsapp.CodeWABARateLimit):
		se.Reason = "rate-limited"
	case whatsapp.ClassOf(err) == whatsapp.Config || errors.As(err, &ve):
		se.Reason = "config-error"
	case errors.As(err, &te):
		se.Reason = "api-unreachable"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		se.Reason = "send-timeout"
	case whatsapp.IsRetryable(err):
		se.Reason = "api-unavailable"
	}
	return se
}

// HandleEvent is the whatsapp.Consumer handler: statuses update sessions and wake the waiting
// call, messages attach to conversations. An error makes the consumer retry the event.
func (s *Service) HandleEvent(ctx context.Context, e whatsapp.Event) error {
	switch {
	case e.Kind == whatsapp.KindStatus && e.Status != nil:
		st := e.Status
		u := StatusUpdate{MessageID: st.ID, Status: st.Status, RecipientID: st.RecipientID, At: st.Timestamp,
			PricingCategory: st.PricingCategory, Billable: st.Billable}
		if len(st.Errors) > 0 {
			u.ErrorCode, u.ErrorTitle = st.Errors[0].Code, st.Errors[0].Title
		}
		return s.OnStatus(ctx, u)
	case e.Kind == whatsapp.KindMessage && e.Message != nil:
		m := e.Message
		in := InboundMessage{ID: m.ID, From: m.From, UserID: m.UserID, Name: e.ContactName, Type: m.Type, Text: m.Text, At: m.Timestamp}
		switch {
		case m.Button != nil:
			in.Payload, in.Text = m.Button.Payload, m.Button.Text
		case m.Interactive != nil:
			in.Payload, in.Text = m.Interactive.ID, m.Interactive.Title
		}
		return s.OnMessage(ctx, in)
	case e.Kind == whatsapp.KindTemplate && e.Template != nil:
		return s.OnTemplate(ctx, e.Template)
	case e.Kind == whatsapp.KindAccount && e.Account != nil:
		return s.OnAccount(ctx, e.Account)
	}
	return nil
}
