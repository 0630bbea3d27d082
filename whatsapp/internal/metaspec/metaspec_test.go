package metaspec

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func load(t *testing.T) *Spec {
	t.Helper()
	s, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The /messages examples Meta's document still refuses after the relaxations, and why. None is a
// kind of message deflectd sends; each is listed so that a new mismatch fails the test.
var messageExamplesRefused = map[string]string{
	"Send Catalog Template Message":         "button sub_type CATALOG (upper case) is not in the enum quick_reply, url, catalog",
	"Send Flow Template Message":            "button sub_type flow is not in the enum quick_reply, url, catalog",
	"Send Multi-Product Message":            "header type is the placeholder <HEADER_TYPE>",
	"Send Order Details Message":            "interactive type order_details is not in InteractiveObject's enum, and ActionObject requires button",
	"Send Order Status Message":             "interactive type order_status is not in InteractiveObject's enum, and ActionObject requires button",
	"Send Sample Issue Resolution Template": "quick_reply buttons with a boolean text parameter; the reference says a quick reply takes a payload",
	"Send Reply to List Message":            "type is left out: Meta defaults it to text, but the body is an interactive list",
	"Send Text Message with Preview URL":    "type is left out (Meta defaults it to text); the schema's oneOf needs it",
}

// TestMessageExamples: every request example of /messages conforms to the merged and relaxed
// schema, but for the documented exceptions; the read receipt example conforms to the schema
// of a mark-read request (the document's operation schema covers messages only).
func TestMessageExamples(t *testing.T) {
	s := load(t)
	exs, err := s.Examples(MessagesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 50 {
		t.Fatalf("%d examples, want Meta's 50", len(exs))
	}
	for _, e := range exs {
		t.Run(Slug(e.Name), func(t *testing.T) {
			var err error
			if strings.Contains(e.Name, "read receipt") {
				err = s.ValidateNamed("MarkMessageRequestPayload", e.Body)
			} else {
				err = s.ValidateRequest(MessagesPath, e.Body)
			}
			why, refused := messageExamplesRefused[e.Name]
			switch {
			case refused && err == nil:
				t.Errorf("expected refusal (%s), but it conforms: update the list", why)
			case !refused && err != nil:
				t.Errorf("does not conform: %s\n%s", firstLine(err), e.Body)
			}
		})
	}
}

// The webhook examples the document refuses: the group webhooks (deflectd takes no group
// messages).
var webhookExamplesRefused = map[string]string{
	"Group Create Message":      "GroupValue is not matched: IncomingMessageValueGeneral's required contacts wins the oneOf",
	"Group Settings Update":     "as Group Create Message",
	"Group Remove Participants": "field group_participants_update is not in the enum (group_participant_update)",
}

func TestWebhookExamples(t *testing.T) {
	s := load(t)
	exs, err := s.Examples(WebhooksPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 16 {
		t.Fatalf("%d examples, want Meta's 16", len(exs))
	}
	for _, e := range exs {
		t.Run(Slug(e.Name), func(t *testing.T) {
			err := s.ValidateRequest(WebhooksPath, e.Body)
			why, refused := webhookExamplesRefused[e.Name]
			switch {
			case refused && err == nil:
				t.Errorf("expected refusal (%s), but it conforms: update the list", why)
			case !refused && err != nil:
				t.Errorf("does not conform: %s\n%s", firstLine(err), e.Body)
			}
		})
	}
}

// TestRenamedSchemaField: the same text body fails once the schema names the field differently,
// and a misspelt field fails against the unchanged schema — the validation is not vacuous.
func TestRenamedSchemaField(t *testing.T) {
	body := []byte(`{"messaging_product":"whatsapp","recipient_type":"individual","to":"447700900123","type":"text","text":{"body":"hi"}}`)
	if err := load(t).ValidateRequest(MessagesPath, body); err != nil {
		t.Fatalf("text body refused: %v", err)
	}
	misspelt := []byte(strings.Replace(string(body), `"body"`, `"bdy"`, 1))
	if err := load(t).ValidateRequest(MessagesPath, misspelt); err == nil {
		t.Error("a misspelt text.body conforms")
	}
	renamed, err := LoadWith(Options{Edit: func(schemas map[string]any) {
		text := member(schemas, "TextMessage", "text")
		props := dig(text, "properties")
		props["content"] = props["body"]
		delete(props, "body")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := renamed.ValidateRequest(MessagesPath, body); err == nil {
		t.Error("text.body conforms to a schema that renamed it to text.content")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Send Text Message":                           "send_text_message",
		"Text Message with Context (Product Inquiry)": "text_message_with_context_product_inquiry",
		"Send Multi-Product Message":                  "send_multi_product_message",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestRenameKey(t *testing.T) {
	v := map[string]any{"a": []any{map[string]any{"b": 1}}, "c": map[string]any{"d": 2}}
	if got := KeyPaths(v); !slices.Equal(got, []string{"a", "a[0].b", "c", "c.d"}) {
		t.Fatalf("KeyPaths = %v", got)
	}
	b, _ := json.Marshal(RenameKey(v, "a[0].b"))
	if string(b) != `{"a":[{"bx":1}],"c":{"d":2}}` {
		t.Errorf("RenameKey a[0].b = %s", b)
	}
	b, _ = json.Marshal(RenameKey(v, "c.d"))
	if string(b) != `{"a":[{"b":1}],"c":{"dx":2}}` {
		t.Errorf("RenameKey c.d = %s", b)
	}
}

// TestValidationRefuses: bodies that break the (relaxed) schema in one place each are refused.
func TestValidationRefuses(t *testing.T) {
	s := load(t)
	const head = `"messaging_product":"whatsapp","to":"447700900123",`
	for name, body := range map[string]string{
		"button index beyond 9":        `{` + head + `"type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":"12","parameters":[{"type":"payload","payload":"p"}]}]}}`,
		"button index number beyond 9": `{` + head + `"type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":12,"parameters":[{"type":"payload","payload":"p"}]}]}}`,
		"template without name":        `{` + head + `"type":"template","template":{"language":{"code":"en"}}}`,
		"text body a number":           `{` + head + `"type":"text","text":{"body":5}}`,
		"four reply buttons":           `{` + head + `"type":"interactive","interactive":{"type":"button","body":{"text":"b"},"action":{"buttons":[` + strings.Repeat(`{"type":"reply","reply":{"id":"a","title":"A"}},`, 3) + `{"type":"reply","reply":{"id":"d","title":"D"}}]}}}`,
		"latitude a string":            `{` + head + `"type":"location","location":{"latitude":"37.4","longitude":-122.1}}`,
		"image with id and link":       `{` + head + `"type":"image","image":{"id":"1","link":"https://127.0.0.1/a.jpg"}}`,
		"unknown type":                 `{` + head + `"type":"fax","fax":{}}`,
	} {
		if err := s.ValidateRequest(MessagesPath, []byte(body)); err == nil {
			t.Errorf("%s: conforms", name)
		}
	}
	ok := `{` + head + `"type":"template","template":{"name":"t","language":{"code":"en"},"components":[{"type":"button","sub_type":"quick_reply","index":0,"parameters":[{"type":"payload","payload":"p"}]}]}}`
	if err := s.ValidateRequest(MessagesPath, []byte(ok)); err != nil {
		t.Errorf("numeric index 0 refused: %s", firstLine(err))
	}
}

// TestTemplateExamples: Meta's 11 template creation examples conform to the relaxed schema, also
// in strict mode, and a misspelt component field does not.
func TestTemplateExamples(t *testing.T) {
	strict, err := LoadStrict()
	if err != nil {
		t.Fatal(err)
	}
	exs, err := strict.Examples(TemplatesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 11 {
		t.Fatalf("%d examples, want Meta's 11", len(exs))
	}
	for _, e := range exs {
		for _, s := range []*Spec{load(t), strict} {
			if err := s.ValidateRequest(TemplatesPath, e.Body); err != nil {
				t.Errorf("%s: %s", e.Name, firstLine(err))
			}
		}
	}
	bad := `{"name":"call_deflection","language":"en","category":"UTILITY","components":[{"type":"BODY","txt":"Hello {{1}}"}]}`
	if err := strict.ValidateRequest(TemplatesPath, []byte(bad)); err == nil {
		t.Error("components[].txt conforms")
	}
}

// TestBSUID: a send by recipient, and webhooks of a customer known only by business-scoped user
// id, conform (strict too); a send with neither to nor recipient does not.
func TestBSUID(t *testing.T) {
	strict, err := LoadStrict()
	if err != nil {
		t.Fatal(err)
	}
	const bsuid = "US.13491208655302741918"
	send := `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"` + bsuid + `","type":"text","text":{"body":"hi"}}`
	meta := `"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"}`
	inbound := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` + meta +
		`,"contacts":[{"profile":{"name":"Sheena","username":"@sheena"},"user_id":"` + bsuid + `"}],` +
		`"messages":[{"from_user_id":"` + bsuid + `","id":"wamid.X","timestamp":"1749416383","type":"text","text":{"body":"hi"}}]}}]}]}`
	status := `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{` + meta +
		`,"statuses":[{"id":"wamid.X","status":"read","timestamp":"1749416383","recipient_user_id":"` + bsuid + `"}]}}]}]}`
	for _, s := range []*Spec{load(t), strict} {
		if err := s.ValidateRequest(MessagesPath, []byte(send)); err != nil {
			t.Errorf("send by recipient: %s", firstLine(err))
		}
		if err := s.ValidateRequest(WebhooksPath, []byte(inbound)); err != nil {
			t.Errorf("inbound by user id: %s", firstLine(err))
		}
		if err := s.ValidateRequest(WebhooksPath, []byte(status)); err != nil {
			t.Errorf("status by user id: %s", firstLine(err))
		}
		neither := strings.Replace(send, `"recipient":"`+bsuid+`",`, "", 1)
		if err := s.ValidateRequest(MessagesPath, []byte(neither)); err == nil {
			t.Error("a send with neither to nor recipient conforms")
		}
	}
}

func TestCheckExplains(t *testing.T) {
	check := func(body string) error {
		return Check(func(s *Spec) error { return s.ValidateRequest(MessagesPath, []byte(body)) })
	}
	const head = `{"messaging_product":"whatsapp","to":"447700900123","type":"image",`
	if err := check(head + `"image":{"link":"https://127.0.0.1/a.jpg"}}`); err != nil {
		t.Errorf("image by link: %v", err)
	}
	// MediaObject is open in Meta's document: an unknown key breaks only the strict form.
	if err := check(head + `"image":{"link":"https://127.0.0.1/a.jpg","captoin":"x"}}`); err == nil || !strings.HasPrefix(err.Error(), "names a field") {
		t.Errorf("misspelt caption: %v", err)
	}
	if err := check(head + `"image":{}}`); err == nil || !strings.HasPrefix(err.Error(), "does not conform") {
		t.Errorf("image without id or link: %v", err)
	}
}
