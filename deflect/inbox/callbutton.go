package inbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/deflectd/deflectd/whatsapp"
)

// WhatsApp call buttons: the bot's call option and the console's "send call button" send an
// interactive voice_call message whose payload names the conversation's deflection (signed by
// the engine), so the call reaches the queue with the context of the phone call it replaced.

// CallPayloads signs call button payloads (deflect.Service).
type CallPayloads interface {
	CallPayload(sessionID string) string
}

// callButtonSender is the part of the WhatsApp client that sends call buttons.
type callButtonSender interface {
	SendCallButton(ctx context.Context, to string, b whatsapp.CallButton) (whatsapp.SendResult, error)
}

// ErrCallsOff: WhatsApp calls are not enabled (voice.enabled).
var ErrCallsOff = errors.New("WhatsApp calls are off (voice.enabled)")

// EnableCalls turns on call buttons: the bot offers its call options, agents may send one.
func (s *Service) EnableCalls(p CallPayloads) {
	s.calls = p
	if s.bot != nil {
		s.bot.WithCalls(true)
	}
}

// CallsEnabled reports whether call buttons can be sent.
func (s *Service) CallsEnabled() bool { return s.calls != nil }

// sendCallButton sends a call button with body text, signed for the conversation's session.
func (s *Service) sendCallButton(ctx context.Context, waID, body string) (whatsapp.SendResult, string, error) {
	cs, ok := s.send.(callButtonSender)
	if s.calls == nil || !ok {
		return whatsapp.SendResult{}, "", ErrCallsOff
	}
	payload := ""
	if c, err := s.getConversation(ctx, waID); err == nil && c.SessionID != "" {
		payload = s.calls.CallPayload(c.SessionID)
	}
	v := s.cfg.Voice
	res, err := cs.SendCallButton(ctx, waID, whatsapp.CallButton{Body: body, DisplayText: v.ButtonText, TTL: v.ButtonTTL, Payload: payload})
	if err != nil {
		return res, "", fmt.Errorf("send call button: %w", err)
	}
	return res, body + "\n• " + v.ButtonText, nil
}
