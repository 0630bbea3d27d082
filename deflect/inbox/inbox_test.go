package inbox

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func TestOptKeywords(t *testing.T) {
	tests := []struct {
		name    string
		waID    string // +966 is Saudi Arabia (Arabic), +44 the UK (English)
		text    string
		wantOut bool
		reply   string // a substring of the confirmation
	}{
		{"english STOP", "447700900123", "STOP", true, "no longer receive"},
		{"lower case stop with punctuation", "447700900124", " stop! ", true, "no longer receive"},
		{"arabic cancel", "966501234567", "إلغاء", true, "لن تصلك"},
		{"arabic cancel without hamza", "966501234568", "الغاء", true, "لن تصلك"},
		{"arabic stop", "966501234569", "ايقاف", true, "لن تصلك"},
		{"english START", "447700900125", "Start", false, "subscribed again"},
		{"arabic subscribe", "966501234570", "اشتراك", false, "تم اشتراكك"},
	}
	h := newHarness(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h.text(tc.waID, tc.text)
			opt, err := h.st.GetOpt(t.Context(), "+"+tc.waID)
			if err != nil {
				t.Fatalf("GetOpt: %v", err)
			}
			if opt.OptOut != tc.wantOut || opt.Source != "keyword" || opt.At.IsZero() {
				t.Fatalf("opt record = %+v, want opt_out=%v source keyword with a time", opt, tc.wantOut)
			}
			got := h.received(tc.waID)
			if len(got) != 1 || !strings.Contains(got[0].Text, tc.reply) {
				t.Fatalf("phone received %+v, want one confirmation containing %q", got, tc.reply)
			}
			// Redelivered: no second confirmation.
			h.redeliver()
			if n := len(h.received(tc.waID)); n != 1 {
				t.Fatalf("after redelivery the phone has %d messages, want 1", n)
			}
		})
	}
}

func TestOptedOutGetsNoTemplates(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "447700900200"
	h.text(waID, "STOP")
	before := len(h.received(waID))
	_, err := h.in.Send(t.Context(), "admin", waID, Reply{Type: "template", Template: "licence_renewal", Params: []string{"A", "B"}}, "")
	if !errors.Is(err, ErrOptedOut) {
		t.Fatalf("template to an opted-out number: err = %v, want ErrOptedOut", err)
	}
	if n := len(h.received(waID)); n != before {
		t.Fatalf("the phone received %d more messages", n-before)
	}
	// Opting in again allows templates.
	h.text(waID, "START")
	if _, err := h.in.Send(t.Context(), "admin", waID, Reply{Type: "template", Template: "licence_renewal", Params: []string{"A", "B"}}, ""); err != nil {
		t.Fatalf("template after opt-in: %v", err)
	}
	got := h.received(waID)
	if last := got[len(got)-1]; last.Type != "template" || last.Text != "licence_renewal" {
		t.Fatalf("last message = %+v, want the template", last)
	}
}

func TestBotWiring(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230001"
	h.deflected("+"+waID, "ar")

	h.text(waID, "مرحبا")
	got := h.received(waID)
	if len(got) != 2 || got[0].Type != "text" || !strings.Contains(got[0].Text, "مرحبًا بك") || got[1].Type != "interactive/list" {
		t.Fatalf("first bot reply = %+v, want the Arabic greeting and the main menu as a list", got)
	}
	conv, err := h.in.getConversation(t.Context(), waID)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Queue != "Licensing" || conv.Context["Case"] != "R-2291" || conv.Language != "ar" {
		t.Fatalf("conversation lost the call context: %+v", conv)
	}
	if n := countDir(conv.Messages, "out"); n != 2 {
		t.Fatalf("conversation records %d outbound messages, want 2", n)
	}

	// Documents: a document answer reaches the phone.
	h.tap(waID, "m:main:2", "المستندات المطلوبة")
	got = h.received(waID)
	if got[2].Type != "text" || got[3].Type != "document" || !strings.HasSuffix(got[3].Text, "-ar.pdf") {
		t.Fatalf("documents answer = %+v", got[2:])
	}

	// Redelivery of everything so far sends nothing more.
	n := len(got)
	h.redeliver()
	if m := len(h.received(waID)); m != n {
		t.Fatalf("redelivery sent %d more messages", m-n)
	}

	// Talk to an agent: handoff text, queued (nobody online), then assigned when alice comes online.
	h.tap(waID, "m:main:4", "التحدث إلى موظف")
	got = h.received(waID)
	if last := got[len(got)-1]; !strings.Contains(last.Text, "جارٍ تحويلك") {
		t.Fatalf("handoff reply = %+v", last)
	}
	if r := h.record(waID); r.Status != StatusWaiting || !r.Bot.Handoff {
		t.Fatalf("after handoff record = %+v, want waiting", r)
	}
	if conv, _ := h.in.getConversation(t.Context(), waID); conv.State != deflect.ConversationAgent {
		t.Fatalf("conversation state = %q, want agent", conv.State)
	}
	if n, _ := h.in.OpenAgentChats(t.Context()); n != 1 {
		t.Fatalf("OpenAgentChats = %d, want 1", n)
	}
	if err := h.in.SetPresence(t.Context(), "alice", PresenceOnline); err != nil {
		t.Fatal(err)
	}
	if r := h.record(waID); r.Status != StatusAssigned || r.Agent != "alice" {
		t.Fatalf("after alice came online record = %+v, want assigned to alice", r)
	}

	// The bot stays silent while an agent has the conversation; alice answers.
	n = len(h.received(waID))
	h.text(waID, "هل من أحد؟")
	if m := len(h.received(waID)); m != n {
		t.Fatalf("the bot answered %d times during the agent conversation", m-n)
	}
	id, err := h.in.Send(t.Context(), "alice", waID, Reply{Text: "أهلاً، معك أليس"}, "k1")
	if err != nil || id == "" {
		t.Fatalf("agent reply: %q, %v", id, err)
	}
	if id2, err := h.in.Send(t.Context(), "alice", waID, Reply{Text: "أهلاً، معك أليس"}, "k1"); err != nil || id2 != "" {
		t.Fatalf("repeated reply with the same key: %q, %v, want nothing sent", id2, err)
	}
	if _, err := h.in.Send(t.Context(), "bob", waID, Reply{Text: "not mine"}, ""); !errors.Is(err, ErrNotYours) {
		t.Fatalf("bob replying to alice's conversation: %v, want ErrNotYours", err)
	}

	// Close with a disposition: the next message starts the bot again.
	if err := h.in.Close(t.Context(), "alice", waID, "resolved"); err != nil {
		t.Fatal(err)
	}
	if r := h.record(waID); r.Status != StatusClosed || r.Disposition != "resolved" {
		t.Fatalf("closed record = %+v", r)
	}
	if n, _ := h.in.OpenAgentChats(t.Context()); n != 0 {
		t.Fatalf("OpenAgentChats after close = %d, want 0", n)
	}
	h.text(waID, "شكرا")
	got = h.received(waID)
	if last := got[len(got)-1]; last.Type != "interactive/list" {
		t.Fatalf("after close the bot should answer with its menu, got %+v", last)
	}
}

func TestNumberWithoutCallGetsBotInRegionLanguage(t *testing.T) {
	h := newHarness(t, nil)
	h.text("447700900300", "hello")
	got := h.received("447700900300")
	if len(got) < 1 || !strings.Contains(got[0].Text, "Welcome") {
		t.Fatalf("a UK number should get the English greeting, got %+v", got)
	}
	conv, err := h.in.getConversation(t.Context(), "447700900300")
	if err != nil {
		t.Fatal(err)
	}
	if conv.State != deflect.ConversationBot || conv.Language != "en" {
		t.Fatalf("conversation = state %q language %q, want bot/en", conv.State, conv.Language)
	}
}

func TestAgentButtonFromTemplateQueues(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230002"
	sess := h.deflected("+"+waID, "ar")
	// The deflection template's "agent" quick reply: deflect marks the conversation agent.
	if _, err := h.sb.CustomerButton(t.Context(), waID, sandboxButton(deflect.ButtonPayload(sess.ID, "agent"))); err != nil {
		t.Fatal(err)
	}
	if r := h.record(waID); r.Status != StatusWaiting {
		t.Fatalf("record = %+v, want waiting", r)
	}
	if got := h.received(waID); len(got) != 1 || !strings.Contains(got[0].Text, "جارٍ تحويلك") {
		t.Fatalf("an agent request gets only the Arabic handoff notice, sent %+v", got)
	}
	h.redeliver()
	if got := h.received(waID); len(got) != 1 {
		t.Fatalf("redelivery sent the notice again: %+v", got)
	}
}

func TestWindowClosedNeedsTemplate(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "447700900400"
	h.text(waID, "agent")
	if err := h.in.SetPresence(t.Context(), "alice", PresenceOnline); err != nil {
		t.Fatal(err)
	}
	// Move the inbound time back past the window.
	if _, err := h.in.updateRecord(t.Context(), waID, func(r *Record, _ bool) error {
		r.LastInbound = r.LastInbound.Add(-25 * 60 * 60 * 1e9)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.in.Send(t.Context(), "alice", waID, Reply{Text: "hello?"}, ""); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("text outside the window: %v, want ErrWindowClosed", err)
	}
	if _, err := h.in.Send(t.Context(), "alice", waID, Reply{Type: "template", Template: "licence_renewal", Params: []string{"x", "y"}}, ""); err != nil {
		t.Fatalf("template outside the window: %v", err)
	}
}

func TestTransfer(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "447700900500"
	for _, a := range []string{"alice", "bob"} {
		if err := h.in.SetPresence(t.Context(), a, PresenceOnline); err != nil {
			t.Fatal(err)
		}
	}
	h.text(waID, "agent")
	r := h.record(waID)
	if r.Status != StatusAssigned {
		t.Fatalf("record = %+v", r)
	}
	other := map[string]string{"alice": "bob", "bob": "alice"}[r.Agent]
	if err := h.in.Transfer(t.Context(), other, waID, other); !errors.Is(err, ErrNotYours) {
		t.Fatalf("transfer by a non-holder: %v, want ErrNotYours", err)
	}
	if err := h.in.Transfer(t.Context(), r.Agent, waID, other); err != nil {
		t.Fatal(err)
	}
	if r2 := h.record(waID); r2.Agent != other || r2.Status != StatusAssigned {
		t.Fatalf("after transfer: %+v", r2)
	}
	views, _ := h.in.Agents(t.Context())
	for _, v := range views {
		want := 0
		if v.ID == other {
			want = 1
		}
		if v.Chats != want {
			t.Fatalf("agent %s has %d chats, want %d", v.ID, v.Chats, want)
		}
	}
	// Back to the bot: the next message gets the menu.
	if err := h.in.Transfer(t.Context(), other, waID, "bot"); err != nil {
		t.Fatal(err)
	}
	n := len(h.received(waID))
	h.text(waID, "hi")
	if got := h.received(waID); len(got) <= n {
		t.Fatal("the bot did not answer after the transfer back")
	}
	if r3 := h.record(waID); r3.Status != StatusBot {
		t.Fatalf("record = %+v, want bot", r3)
	}
}

func countDir(ms []deflect.ConversationMessage, dir string) int {
	n := 0
	for _, m := range ms {
		if m.Direction == dir {
			n++
		}
	}
	return n
}

var _ = store.ErrNotFound

func sandboxButton(payload string) sandbox.Button {
	return sandbox.Button{Payload: payload, Text: "Agent"}
}

func TestBotStartsOverForNewCallOrAfterWindow(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "447700900700"
	h.text(waID, "hello") // greeting + main menu
	h.tap(waID, "m:main:1", "Renewal status")
	greetings := func() int {
		n := 0
		for _, s := range h.received(waID) {
			if strings.Contains(s.Text, "Welcome to the Licensing Service") {
				n++
			}
		}
		return n
	}
	if greetings() != 1 {
		t.Fatalf("greetings = %d, want 1", greetings())
	}
	// A later deflected call: its template's button re-points the conversation at the new session.
	sess := h.deflected("+"+waID, "en")
	if _, err := h.sb.CustomerButton(t.Context(), waID, sandbox.Button{Payload: deflect.ButtonPayload(sess.ID, "wa"), Text: "WhatsApp"}); err != nil {
		t.Fatal(err)
	}
	if greetings() != 2 {
		t.Fatalf("a new call should restart the bot: greetings = %d, want 2", greetings())
	}
	// Back after the 24-hour window: the bot starts over too.
	if _, err := h.in.updateRecord(t.Context(), waID, func(r *Record, _ bool) error {
		r.LastInbound = r.LastInbound.Add(-25 * time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h.text(waID, "hi again")
	if greetings() != 3 {
		t.Fatalf("after the window the bot should start over: greetings = %d, want 3", greetings())
	}
}

func TestLogsMaskNumbers(t *testing.T) {
	var buf bytes.Buffer
	h := newHarness(t, nil, func(_ *configs.Config, o *Options) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	const waID = "966501230777"
	h.deflected("+"+waID, "ar")
	h.text(waID, "STOP")
	h.text(waID, "START")
	h.text(waID, "موظف")
	if err := h.in.SetPresence(t.Context(), "alice", PresenceOnline); err != nil {
		t.Fatal(err)
	}
	if err := h.in.Close(t.Context(), "alice", waID, "resolved"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "conversation closed") {
		t.Fatalf("expected log lines, got %q", out)
	}
	if strings.Contains(out, waID) || strings.Contains(out, "501230777") {
		t.Fatalf("a phone number appears unmasked in the logs:\n%s", out)
	}
}
