package inbox

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup/redact"
)

// Confirmations of opt-out and opt-in, by language; languages without one get English.
var (
	optOutText = map[string]string{
		"en": "You will no longer receive messages from us. Reply START to subscribe again.",
		"ar": "لن تصلك رسائل منا بعد الآن. أرسل «اشتراك» أو START للاشتراك من جديد.",
	}
	optInText = map[string]string{
		"en": "You are subscribed again. Reply STOP to unsubscribe.",
		"ar": "تم اشتراكك من جديد. أرسل «إلغاء» أو STOP لإلغاء الاشتراك.",
	}
)

func localized(m map[string]string, lang string) string {
	if t, ok := m[lang]; ok {
		return t
	}
	return m["en"]
}

// keyword returns "out" or "in" when the whole message is an opt-out or opt-in keyword.
func (s *Service) keyword(text string) string {
	t := foldKeyword(text)
	if t == "" {
		return ""
	}
	for _, k := range s.cfg.Inbox.OptOutKeywords {
		if foldKeyword(k) == t {
			return "out"
		}
	}
	for _, k := range s.cfg.Inbox.OptInKeywords {
		if foldKeyword(k) == t {
			return "in"
		}
	}
	return ""
}

// foldKeyword compares keywords the way people type them: case-insensitive, surrounding
// punctuation ignored, Arabic diacritics and tatweel dropped and the alef forms (أ إ آ) folded,
// so "الغاء" matches "إلغاء".
func foldKeyword(s string) string {
	s = strings.TrimFunc(strings.ToLower(s), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '\u064B' && r <= '\u0652', r == '\u0670', r == '\u0640': // harakat, superscript alef, tatweel
			continue
		case r == 'أ' || r == 'إ' || r == 'آ' || r == 'ٱ':
			r = 'ا'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// optKeyword records an opt-out or opt-in (source "keyword") and confirms it once per message.
func (s *Service) optKeyword(ctx context.Context, waID, msgID, lang string, out bool, at time.Time) error {
	e164, err := s.optKey(ctx, waID)
	if err != nil {
		return err
	}
	if err := s.st.SetOpt(ctx, store.OptRecord{E164: e164, OptOut: out, Source: "keyword", At: at}); err != nil {
		return fmt.Errorf("record opt-out: %w", err)
	}
	s.log.Info("opt keyword", "wa_id", redact.Mask(waID), "opt_out", out)
	text := localized(optInText, lang)
	if out {
		text = localized(optOutText, lang)
	}
	first, err := s.st.SetOnce(ctx, "inbox:send:"+msgID+":opt", 48*time.Hour)
	if err != nil {
		return fmt.Errorf("claim opt confirmation: %w", err)
	}
	if !first {
		return nil
	}
	res, err := s.send.SendText(ctx, waID, text, false)
	if err != nil {
		s.log.Warn("send opt confirmation", "wa_id", redact.Mask(waID), "err", err)
		return nil
	}
	s.recordOutbound(ctx, waID, deflect.ConversationMessage{ID: res.MessageID, Direction: "out", Type: "text", Text: text, At: s.now()})
	return nil
}

// optKey is where a conversation's opt-out is recorded: the customer's number in E.164 (which
// deflection offers check), or for a customer known only by business-scoped user id, that id
// (no offer can reach a number nobody knows; the console's templates check it).
func (s *Service) optKey(ctx context.Context, waID string) (string, error) {
	phone, err := deflect.CustomerPhone(ctx, s.st, strings.TrimPrefix(waID, "+"))
	switch {
	case err != nil:
		return "", fmt.Errorf("find customer's number: %w", err)
	case phone != "":
		return "+" + phone, nil
	}
	return waID, nil
}

// OptedOut reports whether the customer opted out (templates must not be sent then).
func (s *Service) OptedOut(ctx context.Context, waID string) (bool, error) {
	key, err := s.optKey(ctx, waID)
	if err != nil {
		return false, err
	}
	r, err := s.st.GetOpt(ctx, key)
	if err != nil {
		if isNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get opt-out: %w", err)
	}
	return r.OptOut, nil
}
