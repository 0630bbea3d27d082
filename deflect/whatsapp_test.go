package deflect

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/whatsapp"
)

func TestClassifySend(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		reason    string
		recipient bool
	}{
		{"131026 undeliverable", &whatsapp.APIError{HTTPStatus: 400, Code: 131026}, ReasonNotOnWhatsApp, true},
		{"131047 window", &whatsapp.APIError{HTTPStatus: 400, Code: 131047}, "window-closed", true},
		{"131048 spam", &whatsapp.APIError{HTTPStatus: 400, Code: 131048}, "spam-limit", true},
		{"130429 throughput", &whatsapp.APIError{HTTPStatus: 400, Code: 130429}, "rate-limited", false},
		{"131056 pair rate", fmt.Errorf("send: %w", &whatsapp.APIError{HTTPStatus: 400, Code: 131056}), "rate-limited", false},
		{"own limiter", &whatsapp.RateLimitError{Bucket: "pair", Wait: time.Second}, "rate-limited", false},
		{"190 token", &whatsapp.APIError{HTTPStatus: 401, Code: 190}, "config-error", false},
		{"132001 template", &whatsapp.APIError{HTTPStatus: 404, Code: 132001}, "config-error", false},
		{"validation", &whatsapp.ValidationError{Field: "template.name", Limit: "set"}, "config-error", false},
		{"connection refused", &whatsapp.TransportError{Op: "send", Err: errors.New("connect: connection refused")}, "api-unreachable", false},
		{"500", &whatsapp.APIError{HTTPStatus: 500, Code: 2}, "api-unavailable", false},
		{"deadline", context.DeadlineExceeded, "send-timeout", false},
		{"other 400", &whatsapp.APIError{HTTPStatus: 400, Code: 100}, "api-error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifySend(tt.err)
			var se *SendError
			if !errors.As(err, &se) || se.Reason != tt.reason || se.Recipient != tt.recipient {
				t.Fatalf("classifySend = %+v, want %s recipient=%v", err, tt.reason, tt.recipient)
			}
			if !errors.Is(err, tt.err) {
				t.Error("the original error is not wrapped")
			}
		})
	}
}

type fakeClient struct {
	got  whatsapp.Template
	to   string
	err  error
	resp whatsapp.SendResult
}

func (f *fakeClient) SendTemplate(_ context.Context, to string, t whatsapp.Template) (whatsapp.SendResult, error) {
	f.to, f.got = to, t
	return f.resp, f.err
}

func TestWhatsAppSender(t *testing.T) {
	fc := &fakeClient{resp: whatsapp.SendResult{MessageID: "wamid.1", WAID: "966501234567"}}
	s := WhatsAppSender(fc)
	sent, err := s.SendTemplate(context.Background(), Template{To: "+966501234567", Name: "n", Language: "ar", BodyParams: []string{"a"}, QuickReplyPayloads: []string{"p"}})
	if err != nil || sent.MessageID != "wamid.1" || sent.WAID != "966501234567" {
		t.Fatalf("= %+v, %v", sent, err)
	}
	if fc.to != "+966501234567" || fc.got.Name != "n" || fc.got.Language != "ar" || fc.got.BodyParams[0] != "a" || fc.got.QuickReplyPayloads[0] != "p" {
		t.Errorf("client got %s %+v", fc.to, fc.got)
	}
	fc.err = &whatsapp.APIError{HTTPStatus: 400, Code: 131026}
	if _, err := s.SendTemplate(context.Background(), Template{To: "+966501234567"}); sendReason(err) != ReasonNotOnWhatsApp || !recipientError(err) {
		t.Errorf("error = %v", err)
	}
}

func TestHandleEvent(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.ConfirmTimeout = 100 * time.Millisecond })
	ctx := context.Background()
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	h.svc.Accept(ctx, d.SessionID)
	msgID := h.session(t, d.SessionID).WAMessageID

	events := []whatsapp.Event{
		{Kind: whatsapp.KindStatus, Status: &whatsapp.Status{ID: msgID, Status: "delivered", RecipientID: "966501234567", Timestamp: time.Now()}},
		{Kind: whatsapp.KindMessage, ContactName: "Sara", Message: &whatsapp.Message{ID: "wamid.IN", From: "966501234567", Type: "button", Timestamp: time.Now(),
			Button: &whatsapp.ButtonReply{Payload: ButtonPayload(d.SessionID, "agent"), Text: "Agent"}}},
		{Kind: "unknown"},
	}
	for _, e := range events {
		if err := h.svc.HandleEvent(ctx, e); err != nil {
			t.Fatalf("HandleEvent(%s): %v", e.Kind, err)
		}
	}
	if s := h.session(t, d.SessionID); s.WAStatus != StatusDelivered {
		t.Errorf("status = %q", s.WAStatus)
	}
	doc, err := h.mem.GetDoc(ctx, ConversationsCollection, "966501234567")
	if err != nil {
		t.Fatal(err)
	}
	c := decodeConversation(t, doc.Data)
	if c.State != ConversationAgent || c.Name != "Sara" || c.Messages[len(c.Messages)-1].Text != "Agent" {
		t.Errorf("conversation = %+v", c)
	}

	// A failed status with 131026 teaches "no".
	_ = h.mem.DeletePresence(ctx, "+966501234567")
	err = h.svc.HandleEvent(ctx, whatsapp.Event{Kind: whatsapp.KindStatus, Status: &whatsapp.Status{ID: "wamid.other", Status: "failed", RecipientID: "966501234567",
		Errors: []whatsapp.EventError{{Code: 131026, Title: "Message undeliverable"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := h.mem.GetPresence(ctx, "+966501234567"); err != nil || p.Status != "no" {
		t.Errorf("presence = %+v, %v", p, err)
	}
}
