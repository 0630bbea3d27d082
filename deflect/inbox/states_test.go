package inbox

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// message waits until the conversation's message with id satisfies ok.
func (h *harness) message(waID, id string, ok func(deflect.ConversationMessage) bool) deflect.ConversationMessage {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := h.in.Get(h.t.Context(), waID, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, m := range v.Messages {
			if m.ID == id && ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("message %s never reached the wanted state: %+v", id, v.Messages)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplyStatesFollowMeta: an agent's reply goes sent → delivered → read as the sandbox phone
// reports it; an undeliverable one turns failed with Meta's code and a plain reason.
func TestReplyStatesFollowMeta(t *testing.T) {
	h := newHarnessStatuses(t, nil, 20*time.Millisecond)
	const waID = "966501230801"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	if err := h.in.Takeover(t.Context(), "alice", waID); err != nil {
		t.Fatal(err)
	}
	id, err := h.in.Send(t.Context(), "alice", waID, Reply{Text: "How can I help?"}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := h.message(waID, id, func(m deflect.ConversationMessage) bool { return m.Status == "read" })
	if m.Error != nil {
		t.Fatalf("read message carries an error: %+v", m.Error)
	}

	h.sb.InjectFailures(sandbox.Failure{Code: 131026, Count: 1}) // accepted, then a failed status
	id, err = h.in.Send(t.Context(), "alice", waID, Reply{Text: "Are you there?"}, "")
	if err != nil {
		t.Fatal(err)
	}
	m = h.message(waID, id, func(m deflect.ConversationMessage) bool { return m.Status == "failed" })
	if m.Error == nil || m.Error.Code != 131026 || !strings.Contains(m.Error.Reason, "not be on WhatsApp") || m.Error.Action == "" {
		t.Fatalf("failed message error = %+v", m.Error)
	}
}

// TestReplyOutsideMetaWindowIsRecordedFailed: Meta refusing a reply with 131047 answers
// ErrWindowClosed (the console offers templates) and the message shows as failed with why.
func TestReplyOutsideMetaWindowIsRecordedFailed(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230802"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	if err := h.in.Takeover(t.Context(), "alice", waID); err != nil {
		t.Fatal(err)
	}
	h.sb.InjectFailures(sandbox.Failure{Code: 131047, Count: 1})
	if _, err := h.in.Send(t.Context(), "alice", waID, Reply{Text: "late answer"}, ""); !errors.Is(err, ErrWindowClosed) {
		t.Fatalf("send = %v, want ErrWindowClosed", err)
	}
	v, err := h.in.Get(t.Context(), waID, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Messages[len(v.Messages)-1]
	if last.Text != "late answer" || last.Status != "failed" || last.Error == nil || last.Error.Code != 131047 ||
		!strings.Contains(last.Error.Action, "template") {
		t.Fatalf("refused reply recorded as %+v (error %+v)", last, last.Error)
	}
}

// TestTemplatesShownAsTheCustomerReadThem: a template is shown with its body and parameters
// (inbox.template_texts), in the template's language.
func TestTemplatesShownAsTheCustomerReadThem(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230803"
	h.deflected("+"+waID, "ar")
	h.text(waID, "مرحبا")
	if err := h.in.Takeover(t.Context(), "alice", waID); err != nil {
		t.Fatal(err)
	}
	id, err := h.in.Send(t.Context(), "alice", waID, Reply{Type: "template", Template: "licence_renewal", Params: []string{"L-1", "2027-01-31"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	m := h.message(waID, id, func(deflect.ConversationMessage) bool { return true })
	if m.Text != "رخصتك L-1 تنتهي في 2027-01-31. رد هنا لتجديدها." || m.Template != "licence_renewal" || m.Lang != "ar" {
		t.Fatalf("template shown as %q (template %q, lang %q)", m.Text, m.Template, m.Lang)
	}
	// A template the configuration has no text for is shown by name.
	if text, ok := h.in.renderTemplate("unknown", "en", nil); ok || text != "" {
		t.Fatalf("unknown template rendered as %q", text)
	}
}

func TestExplainNamesEveryCodeItKnows(t *testing.T) {
	tests := []struct {
		name string
		code int
		want string
	}{
		{"window closed", 131047, "24 hours"},
		{"not on whatsapp", 131026, "not be on WhatsApp"},
		{"pair rate limit", 131056, "short time"},
		{"unknown code", 999999, "error 999999"},
		{"no code", 0, "without a reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, action := Explain(tc.code)
			if !strings.Contains(reason, tc.want) || action == "" {
				t.Fatalf("Explain(%d) = %q, %q", tc.code, reason, action)
			}
		})
	}
}
