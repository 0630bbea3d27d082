package inbox

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// inboundTexts is the texts of a conversation's inbound messages.
func (h *harness) inboundTexts(key string) []string {
	h.t.Helper()
	c, err := h.in.getConversation(h.t.Context(), key)
	if err != nil {
		h.t.Fatalf("conversation %s: %v", key, err)
	}
	var out []string
	for _, m := range c.Messages {
		if m.Direction == "in" {
			out = append(out, m.Text)
		}
	}
	return out
}

// A customer with a username writes without a phone number: the conversation is keyed by their
// business-scoped user id, the bot answers in their country's language, an agent's reply and
// the opt-out confirmation reach them through Meta's "recipient" field.
func TestUsernameCustomerIsAnswered(t *testing.T) {
	h := newHarnessStatuses(t, nil, time.Millisecond)
	const bsuid = "SA.13491208655302741918"
	h.text(bsuid, "hello")
	if got := h.inboundTexts(bsuid); !slices.Equal(got, []string{"hello"}) {
		t.Fatalf("conversation %s has %q", bsuid, got)
	}
	c, _ := h.in.getConversation(t.Context(), bsuid)
	if c.Language != "ar" || c.UserID != bsuid || c.Caller != "" {
		t.Fatalf("conversation language %q user_id %q caller %q, want ar (SA), the id and no caller", c.Language, c.UserID, c.Caller)
	}
	agentMsg, err := h.in.Send(t.Context(), "admin", bsuid, Reply{Text: "an agent here"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// Its statuses name only the business-scoped user id (recipient_user_id) and still reach it.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, _ := h.in.getConversation(t.Context(), bsuid)
		i := slices.IndexFunc(c.Messages, func(m deflect.ConversationMessage) bool { return m.ID == agentMsg })
		if i >= 0 && c.Messages[i].Status == "read" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's message never got its read status: %+v", c.Messages)
		}
	}
	if _, err := h.in.SendFile(t.Context(), "admin", bsuid, []byte("%PDF-1.4 licence"), "licence.pdf", "application/pdf", "your licence"); err != nil {
		t.Fatalf("agent's file: %v", err)
	}
	h.text(bsuid, "STOP")
	if opt, err := h.st.GetOpt(t.Context(), bsuid); err != nil || !opt.OptOut {
		t.Fatalf("opt-out of a customer without a number: %+v %v", opt, err)
	}
	if _, err := h.in.Send(t.Context(), "admin", bsuid, Reply{Type: "template", Template: "licence_renewal", Params: []string{"A", "B"}}, ""); !errors.Is(err, ErrOptedOut) {
		t.Fatalf("template after opt-out: %v, want ErrOptedOut", err)
	}
	out := h.sb.Sent(bsuid)
	if !slices.ContainsFunc(out, func(o sandbox.Outbound) bool { return o.Type == "document" }) {
		t.Fatalf("the agent's file did not reach the customer: %+v", out)
	}
	if len(out) < 4 { // greeting, the agent's text and file, the opt-out confirmation
		t.Fatalf("the customer received %d messages", len(out))
	}
	texts := h.received(bsuid)
	if !slices.ContainsFunc(texts, func(s sent) bool { return s.Text == "an agent here" }) {
		t.Fatalf("agent's reply not received: %+v", texts)
	}
	for _, o := range out {
		if o.Recipient != bsuid || strings.Contains(string(o.Body), `"to"`) {
			t.Fatalf("message %s was not addressed by recipient: %s", o.ID, o.Body)
		}
	}
}

// The same customer writing later with their phone number (Meta then sends both identifiers)
// stays in the conversation their business-scoped user id opened, and the other way round.
func TestPhoneAndBSUIDAreOneConversation(t *testing.T) {
	tests := []struct {
		name         string
		bsuid, phone string
		numberFirst  bool // the number (with its BSUID) writes first, then the BSUID alone
		redis        bool // on a real redis-server, else the memory store
	}{
		{"username first, then the number", "SA.5502576394655843", "966501239444", false, false},
		{"number first, then the username", "SA.7702576394655843", "966501239555", true, false},
		{"username first, then the number, on Redis", "SA.5502576394655843", "966501239444", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st store.Store
			if tt.redis {
				st = redisStore(t)
			}
			h := newHarness(t, st)
			if err := h.sb.SetUserID(tt.phone, tt.bsuid); err != nil {
				t.Fatal(err)
			}
			first, second := tt.bsuid, tt.phone
			if tt.numberFirst {
				first, second = tt.phone, tt.bsuid
			}
			h.text(first, "one")
			h.text(second, "two")
			h.text(first, "three")
			// The key is what the first message knew: the number when it came with it.
			if got := h.inboundTexts(first); !slices.Equal(got, []string{"one", "two", "three"}) {
				t.Fatalf("conversation %s has %q, want all three messages", first, got)
			}
			if _, err := h.st.GetDoc(t.Context(), deflect.ConversationsCollection, second); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a second conversation %s exists (err %v)", second, err)
			}
			// A deflection of a call from the number finds the same conversation.
			if k, err := deflect.PhoneKey(t.Context(), h.st, tt.phone); err != nil || k != first {
				t.Fatalf("PhoneKey(%s) = %q, %v; want %q", tt.phone, k, err, first)
			}
		})
	}
}
