package whatsapp_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

const sbWABA = "100000000000000" // the sandbox's default business account id

var offerTemplate = whatsapp.MessageTemplate{Name: "call_offer", Language: "en", Category: "UTILITY", Components: []whatsapp.TemplateComponent{
	{Type: "BODY", Text: "About {{1}}: continue here.", Example: &whatsapp.TemplateExample{BodyText: [][]string{{"billing"}}}},
	{Type: "BUTTONS", Buttons: []whatsapp.TemplateButton{{Type: "QUICK_REPLY", Text: "Continue"}, {Type: "VOICE_CALL", Text: "Call us"}}},
}}

// TestTemplateLifecycleAgainstSandbox: a created template is PENDING, APPROVED after the review
// delay and then sendable; Meta's errors for a duplicate and a missing category; an injected
// rejection carries its reason; an edit goes back to review.
func TestTemplateLifecycleAgainstSandbox(t *testing.T) {
	t.Parallel()
	_, base := newSandbox(t, func(c *sandbox.Config) { c.ReviewDelay = 50 * time.Millisecond })
	c := sandboxClient(t, base, nil, nil)
	ctx := t.Context()

	got, err := c.CreateTemplate(ctx, sbWABA, offerTemplate)
	if err != nil || got.ID == "" || got.Status != "PENDING" || got.Category != "UTILITY" {
		t.Fatalf("create = %+v, %v; want an id, PENDING, UTILITY", got, err)
	}
	if _, err := c.SendTemplate(ctx, "+447700900123", whatsapp.Template{Name: "call_offer", Language: "en", BodyParams: []string{"x"}, QuickReplyPayloads: []string{"a"}}); !hasCode(err, 132001) {
		t.Errorf("send while PENDING: %v, want 132001", err)
	}
	_, err = c.CreateTemplate(ctx, sbWABA, offerTemplate)
	var ae *whatsapp.APIError
	if !errors.As(err, &ae) || ae.Code != 100 || ae.Subcode != 2388024 {
		t.Errorf("duplicate create: %v, want Meta's 100/2388024", err)
	}
	noCat := offerTemplate
	noCat.Name, noCat.Category = "other", ""
	if _, err := c.CreateTemplate(ctx, sbWABA, noCat); !hasCode(err, 100) || !strings.Contains(err.Error(), "category") {
		t.Errorf("create without category: %v, want 100 naming category", err)
	}

	st := waitStatus(t, c, "call_offer", "en", "APPROVED")
	if len(st.Components) != 2 || st.Components[1].Buttons[1].Type != "VOICE_CALL" || st.Components[0].Example.BodyText[0][0] != "billing" {
		t.Errorf("listed components = %+v, want the body with its example and the call button", st.Components)
	}
	if _, err := c.SendTemplate(ctx, "+447700900123", whatsapp.Template{Name: "call_offer", Language: "en", BodyParams: []string{"x"}, QuickReplyPayloads: []string{"a"}}); err != nil {
		t.Errorf("send once APPROVED: %v", err)
	}

	// Rejection injected for the next review, which an edit starts.
	res, err := http.Post(strings.TrimSuffix(base, "/v23.0")+"/_sandbox/templates/call_offer/en/reject", "application/json", strings.NewReader(`{"reason":"INCORRECT_CATEGORY"}`))
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("inject rejection: %v %v", res, err)
	}
	res.Body.Close()
	edited := slices.Clone(offerTemplate.Components)
	edited[0].Text = "About {{1}}: carry on here."
	if err := c.UpdateTemplate(ctx, st.ID, "", edited); err != nil {
		t.Fatalf("update: %v", err)
	}
	if st := waitStatus(t, c, "call_offer", "en", "REJECTED"); st.RejectedReason != "INCORRECT_CATEGORY" || st.Components[0].Text != edited[0].Text {
		t.Errorf("after the edit: %+v, want REJECTED INCORRECT_CATEGORY with the new text", st)
	}
	if err := c.UpdateTemplate(ctx, "999", "", edited); !hasCode(err, 100) {
		t.Errorf("update of an unknown id: %v, want 100", err)
	}
}

func hasCode(err error, code int) bool {
	var ae *whatsapp.APIError
	return errors.As(err, &ae) && ae.Code == code
}

func waitStatus(t *testing.T, c *whatsapp.Client, name, lang, want string) whatsapp.TemplateStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := c.ListTemplates(t.Context(), sbWABA)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.Name == name && s.Language == lang && s.Status == want {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%s never became %s: %+v", name, lang, want, list)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestListTemplatesFollowsPaging: against a Graph API stand-in serving two pages, the client
// asks for Meta's documented fields and follows the after cursor until no next page.
func TestListTemplatesFollowsPaging(t *testing.T) {
	t.Parallel()
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v23.0/123/message_templates" || r.Header.Get("Authorization") != "Bearer "+sbToken {
			http.Error(w, "wrong path or token", http.StatusBadRequest)
			return
		}
		queries = append(queries, r.URL.Query())
		page := map[string]any{"data": []map[string]any{{"id": "1", "name": "a", "language": "en", "status": "APPROVED", "category": "UTILITY", "quality_score": map[string]string{"score": "GREEN"}}},
			"paging": map[string]any{"cursors": map[string]string{"before": "b1", "after": "c1"}, "next": "http://" + r.Host + r.URL.Path + "?after=c1"}}
		if r.URL.Query().Get("after") == "c1" {
			page = map[string]any{"data": []map[string]any{{"id": "2", "name": "b", "language": "ar", "status": "REJECTED", "rejected_reason": "SCAM", "category": "MARKETING"}},
				"paging": map[string]any{"cursors": map[string]string{"before": "c1", "after": "c2"}}}
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	c := sandboxClient(t, srv.URL+"/v23.0", nil, nil)
	list, err := c.ListTemplates(t.Context(), "123")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].QualityScore.Score != "GREEN" || list[1].RejectedReason != "SCAM" || list[1].Category != "MARKETING" {
		t.Errorf("list = %+v", list)
	}
	if len(queries) != 2 || queries[0].Get("fields") != "name,language,status,category,quality_score,rejected_reason,components" || queries[1].Get("after") != "c1" {
		t.Errorf("queries = %v", queries)
	}
}
