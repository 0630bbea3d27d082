package sandbox_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

const wabaPath = "/v23.0/" + sandbox.DefaultBusinessAccountID + "/message_templates"

// TestTemplateSubmissionErrors: Meta's answers to bad submissions, by table.
func TestTemplateSubmissionErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := `{"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Sam"]]}}`
	tests := []struct {
		name, path, tok, req string
		code, subcode        int
		detail               string
	}{
		{"no token", wabaPath, "", `{}`, 190, 0, ""},
		{"other business account", "/v23.0/42/message_templates", token, `{}`, 100, 0, "Object with ID '42' does not exist"},
		{"missing category", wabaPath, token, `{"name":"a","language":"en","components":[` + body + `]}`, 100, 0, "category is required"},
		{"unknown category", wabaPath, token, `{"name":"a","language":"en","category":"SALES","components":[` + body + `]}`, 100, 0, "must be one of {AUTHENTICATION, MARKETING, UTILITY}"},
		{"upper-case name", wabaPath, token, `{"name":"A","language":"en","category":"UTILITY","components":[` + body + `]}`, 100, 0, "lowercase"},
		{"variables without example", wabaPath, token, `{"name":"a","language":"en","category":"UTILITY","components":[{"type":"BODY","text":"Hi {{1}}"}]}`, 100, 0, "example.body_text"},
		{"no body", wabaPath, token, `{"name":"a","language":"en","category":"UTILITY","components":[]}`, 100, 0, "exactly one BODY"},
		{"misspelt field", wabaPath, token, `{"name":"a","language":"en","categroy":"UTILITY"}`, 100, 0, "Unexpected key"},
		{"duplicate name and language", wabaPath, token, `{"name":"call_deflection","language":"en","category":"UTILITY","components":[` + body + `]}`, 100, 2388024, "already en content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, tt.path, tt.tok, tt.req)
			eo, _ := r.Body["error"].(map[string]any)
			sub, _ := eo["error_subcode"].(float64)
			if r.errorCode() != tt.code || int(sub) != tt.subcode || !strings.Contains(string(r.Raw), tt.detail) {
				t.Errorf("answer %d %s, want code %d subcode %d with %q", r.Status, r.Raw, tt.code, tt.subcode, tt.detail)
			}
		})
	}
}

// TestTemplateReviewWebhook: a submitted template is reviewed after the delay with a signed
// message_template_status_update webhook (APPROVED, or REJECTED with the injected reason);
// a paused template's sends are refused with 132015.
func TestTemplateReviewWebhook(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *sandbox.Config) { c.ReviewDelay = 20 * time.Millisecond })
	submit := func(name string) {
		t.Helper()
		r := e.do(t, http.MethodPost, wabaPath, token, `{"name":"`+name+`","language":"fr","category":"UTILITY","components":[{"type":"BODY","text":"Bonjour"}]}`)
		if r.Status != 200 || r.Body["status"] != "PENDING" || r.Body["category"] != "UTILITY" {
			t.Fatalf("submit %s: %d %s", name, r.Status, r.Raw)
		}
	}
	submit("welcome")
	h := e.recv.next(t)
	if !strings.Contains(string(h.Raw), `"field":"message_template_status_update"`) || !strings.Contains(string(h.Raw), `"event":"APPROVED"`) ||
		!strings.Contains(string(h.Raw), `"message_template_name":"welcome"`) {
		t.Errorf("review webhook: %s", h.Raw)
	}
	if r := e.do(t, http.MethodPost, "/_sandbox/templates/goodbye/fr/reject", "", `{"reason":"TAG_CONTENT_MISMATCH"}`); r.Status != http.StatusNoContent {
		t.Fatalf("inject rejection: %d", r.Status)
	}
	submit("goodbye")
	if h := e.recv.next(t); !strings.Contains(string(h.Raw), `"event":"REJECTED"`) || !strings.Contains(string(h.Raw), `"reason":"TAG_CONTENT_MISMATCH"`) {
		t.Errorf("rejection webhook: %s", h.Raw)
	}
	if r := e.do(t, http.MethodGet, wabaPath+"?name=goodbye", token, ""); !strings.Contains(string(r.Raw), `"rejected_reason":"TAG_CONTENT_MISMATCH"`) {
		t.Errorf("list of goodbye: %s", r.Raw)
	}

	if r := e.do(t, http.MethodPost, "/_sandbox/templates/call_deflection/en/status", "", `{"event":"PAUSED"}`); r.Status != http.StatusNoContent {
		t.Fatalf("pause: %d", r.Status)
	}
	e.recv.next(t)
	if r := e.send(t, templateBody("447700900123", "call_deflection", "en", "Billing")); r.errorCode() != 132015 {
		t.Errorf("send of a paused template: %d %s, want 132015", r.Status, r.Raw)
	}
}
