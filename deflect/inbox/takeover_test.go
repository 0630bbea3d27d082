package inbox

import (
	"errors"
	"testing"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
)

// TestTakeoverFromBot: a customer talking to the bot is listed "with the bot" (who, since,
// last message) for every agent; an offline agent takes it over, the bot stops answering, and
// nobody else can take it.
func TestTakeoverFromBot(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230901"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	botReplies := len(h.received(waID))
	if botReplies == 0 {
		t.Fatal("the bot did not answer")
	}

	for _, agent := range []string{"alice", "admin"} {
		l, err := h.in.List(t.Context(), agent, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Bot) != 1 || l.BotTotal != 1 || l.Bot[0].ID != waID || l.Bot[0].Queue != "Licensing" || l.Bot[0].Since.IsZero() ||
			l.Bot[0].LastMessage == nil || l.Bot[0].LastMessage.Direction != "out" {
			t.Fatalf("%s's bot list = %+v", agent, l.Bot)
		}
	}

	if err := h.in.Takeover(t.Context(), "alice", waID); err != nil { // alice is offline: her own choice
		t.Fatalf("takeover: %v", err)
	}
	if r := h.record(waID); r.Status != StatusAssigned || r.Agent != "alice" {
		t.Fatalf("after takeover record = %+v", r)
	}
	if c, _ := h.in.getConversation(t.Context(), waID); c.State != deflect.ConversationAgent {
		t.Fatalf("conversation state %q, want agent", c.State)
	}
	h.text(waID, "1")
	if n := len(h.received(waID)); n != botReplies {
		t.Fatalf("the bot answered %d more messages after the takeover", n-botReplies)
	}
	l, err := h.in.List(t.Context(), "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Bot) != 0 || len(l.Mine) != 1 || l.Mine[0].ID != waID {
		t.Fatalf("after takeover alice sees bot %+v mine %+v", l.Bot, l.Mine)
	}
	if err := h.in.Takeover(t.Context(), "bob", waID); !errors.Is(err, ErrTaken) {
		t.Fatalf("bob's takeover of alice's conversation: %v, want ErrTaken", err)
	}
	if err := h.in.Takeover(t.Context(), "alice", "447700900404"); err == nil {
		t.Fatal("takeover of an unknown conversation succeeded")
	}
}

// TestTakeoverHonoursChatLimit: taking over needs a free slot.
func TestTakeoverHonoursChatLimit(t *testing.T) {
	h := newHarness(t, nil, func(c *configs.Config, _ *Options) { c.Inbox.MaxChatsPerAgent = 1 })
	for _, waID := range []string{"966501230911", "966501230912"} {
		h.deflected("+"+waID, "en")
		h.text(waID, "hello")
	}
	if err := h.in.Takeover(t.Context(), "bob", "966501230911"); err != nil {
		t.Fatal(err)
	}
	if err := h.in.Takeover(t.Context(), "bob", "966501230912"); !errors.Is(err, ErrFull) {
		t.Fatalf("second takeover with max 1: %v, want ErrFull", err)
	}
	if r := h.record("966501230912"); r.Status != StatusBot {
		t.Fatalf("refused takeover left status %q", r.Status)
	}
}
