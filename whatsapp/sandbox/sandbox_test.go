package sandbox_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func TestSendRejected(t *testing.T) {
	long := strings.Repeat("x", 4097)
	tests := []struct {
		name       string
		path       string // default /v23.0/{phoneID}/messages
		token      string // default the right one; "-" = none
		body       string
		openWindow bool
		wantHTTP   int
		wantCode   int
	}{
		{name: "missing token", token: "-", body: textBody(customer, "hi"), wantHTTP: 401, wantCode: 190},
		{name: "wrong token", token: "nope", body: textBody(customer, "hi"), wantHTTP: 401, wantCode: 190},
		{name: "other phone number id", path: "/v23.0/999/messages", body: textBody(customer, "hi"), wantHTTP: 400, wantCode: 100},
		{name: "not JSON", body: `{"messaging_product":`, wantHTTP: 400, wantCode: 100},
		{name: "no messaging_product", body: `{"to":"` + customer + `","type":"text","text":{"body":"hi"}}`, wantHTTP: 400, wantCode: 100},
		{name: "wrong messaging_product", body: `{"messaging_product":"sms","to":"` + customer + `","type":"text","text":{"body":"hi"}}`, wantHTTP: 400, wantCode: 100},
		{name: "misspelt field", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"text","txt":{"body":"hi"}}`, wantHTTP: 400, wantCode: 100},
		{name: "no recipient", body: `{"messaging_product":"whatsapp","type":"text","text":{"body":"hi"}}`, wantHTTP: 400, wantCode: 100},
		{name: "bad recipient", body: textBody("call me", "hi"), wantHTTP: 400, wantCode: 131009},
		{name: "unsupported type", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"fax"}`, wantHTTP: 400, wantCode: 100},
		{name: "type without its object", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"image"}`, wantHTTP: 400, wantCode: 100},
		{name: "template unknown name", body: templateBody(customer, "no_such_template", "en", "x"), wantHTTP: 404, wantCode: 132001},
		{name: "template unknown language", body: templateBody(customer, "call_deflection", "fr", "x"), wantHTTP: 404, wantCode: 132001},
		{name: "template without language", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"template","template":{"name":"call_deflection"}}`, wantHTTP: 400, wantCode: 100},
		{name: "template too few body params", body: templateBody(customer, "licence_renewal", "en", "one"), wantHTTP: 400, wantCode: 132000},
		{name: "template too many body params", body: templateBody(customer, "call_deflection", "en", "a", "b"), wantHTTP: 400, wantCode: 132000},
		{name: "template no params when one expected", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"template","template":{"name":"call_deflection","language":{"code":"en"}}}`, wantHTTP: 400, wantCode: 132000},
		{name: "template header params", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"template","template":{"name":"call_deflection","language":{"code":"en"},"components":[{"type":"header","parameters":[{"type":"text","text":"h"}]},{"type":"body","parameters":[{"type":"text","text":"q"}]}]}}`, wantHTTP: 400, wantCode: 132000},
		{name: "template empty text param", body: templateBody(customer, "call_deflection", "en", ""), wantHTTP: 400, wantCode: 131008},
		{name: "template param with newline", body: templateBody(customer, "call_deflection", "en", "a\nb"), wantHTTP: 400, wantCode: 131009},
		{name: "template quick reply index out of range", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"template","template":{"name":"call_deflection","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"q"}]},{"type":"button","sub_type":"quick_reply","index":"2","parameters":[{"type":"payload","payload":"p"}]}]}}`, wantHTTP: 400, wantCode: 131009},
		{name: "template quick reply without payload", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"template","template":{"name":"call_deflection","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"q"}]},{"type":"button","sub_type":"quick_reply","index":"0","parameters":[]}]}}`, wantHTTP: 400, wantCode: 131008},
		{name: "text outside the window", body: textBody(customer, "hi"), wantHTTP: 400, wantCode: 131047},
		{name: "image outside the window", body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"image","image":{"link":"https://127.0.0.1/a.jpg"}}`, wantHTTP: 400, wantCode: 131047},
		{name: "text too long", openWindow: true, body: textBody(customer, long), wantHTTP: 400, wantCode: 100},
		{name: "text empty", openWindow: true, body: textBody(customer, ""), wantHTTP: 400, wantCode: 100},
		{name: "four reply buttons", openWindow: true, body: buttonsBody(4, "Yes"), wantHTTP: 400, wantCode: 131009},
		{name: "no reply buttons", openWindow: true, body: buttonsBody(0, "Yes"), wantHTTP: 400, wantCode: 131009},
		{name: "button title of 21 characters", openWindow: true, body: buttonsBody(1, strings.Repeat("b", 21)), wantHTTP: 400, wantCode: 131009},
		{name: "interactive without body", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"interactive","interactive":{"type":"button","action":{"buttons":[{"type":"reply","reply":{"id":"1","title":"Yes"}}]}}}`, wantHTTP: 400, wantCode: 131008},
		{name: "list of 11 rows", openWindow: true, body: listBody(11, "Row"), wantHTTP: 400, wantCode: 131009},
		{name: "list row title of 25 characters", openWindow: true, body: listBody(1, strings.Repeat("r", 25)), wantHTTP: 400, wantCode: 131009},
		{name: "media with id and link", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"image","image":{"id":"123","link":"https://127.0.0.1/a.jpg"}}`, wantHTTP: 400, wantCode: 131009},
		{name: "document without id or link", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"document","document":{"filename":"a.pdf"}}`, wantHTTP: 400, wantCode: 131008},
		{name: "media link not http", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"video","video":{"link":"ftp://127.0.0.1/v.mp4"}}`, wantHTTP: 400, wantCode: 131009},
		{name: "audio with caption", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"audio","audio":{"id":"1","caption":"c"}}`, wantHTTP: 400, wantCode: 100},
		{name: "image with filename", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"image","image":{"id":"1","filename":"a.jpg"}}`, wantHTTP: 400, wantCode: 100},
		{name: "reaction without message id", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"reaction","reaction":{"emoji":"👍"}}`, wantHTTP: 400, wantCode: 131008},
		{name: "field of the wrong type", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"text","text":{"body":true}}`, wantHTTP: 400, wantCode: 100},
		{name: "location without latitude", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"location","location":{"longitude":-122.4}}`, wantHTTP: 400, wantCode: 131008},
		{name: "location out of range", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"location","location":{"latitude":91,"longitude":0}}`, wantHTTP: 400, wantCode: 131009},
		{name: "location with a misspelt key", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"location","location":{"lat":1,"longitude":0}}`, wantHTTP: 400, wantCode: 100},
		{name: "contacts without formatted name", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"contacts","contacts":[{"name":{"first_name":"Ann"}}]}`, wantHTTP: 400, wantCode: 131008},
		{name: "contacts empty", openWindow: true, body: `{"messaging_product":"whatsapp","to":"` + customer + `","type":"contacts","contacts":[]}`, wantHTTP: 400, wantCode: 131008},
		{name: "mark as read with bad status", body: `{"messaging_product":"whatsapp","status":"unread","message_id":"wamid.X"}`, wantHTTP: 400, wantCode: 100},
		{name: "mark as read without wamid", body: `{"messaging_product":"whatsapp","status":"read","message_id":"42"}`, wantHTTP: 400, wantCode: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.openWindow {
				if _, err := e.sb.CustomerText(t.Context(), customer, "hello"); err != nil {
					t.Fatal(err)
				}
				e.recv.next(t)
			}
			path := tt.path
			if path == "" {
				path = "/v23.0/" + phoneID + "/messages"
			}
			tok := tt.token
			switch tok {
			case "":
				tok = token
			case "-":
				tok = ""
			}
			r := e.do(t, http.MethodPost, path, tok, tt.body)
			if r.Status != tt.wantHTTP || r.errorCode() != tt.wantCode {
				t.Fatalf("got HTTP %d code %d, want HTTP %d code %d: %s", r.Status, r.errorCode(), tt.wantHTTP, tt.wantCode, r.Raw)
			}
			checkErrorObject(t, r)
			if got := e.sb.Sent(customer); len(got) != 0 {
				t.Fatalf("a rejected send was recorded: %+v", got)
			}
		})
	}
}

// checkErrorObject checks the Graph error object: message "(#code) title", type, fbtrace_id and,
// for WhatsApp errors, error_data.
func checkErrorObject(t *testing.T, r response) {
	t.Helper()
	eo, ok := r.Body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object: %s", r.Raw)
	}
	if eo["type"] != "OAuthException" {
		t.Errorf("error.type = %v", eo["type"])
	}
	if s, _ := eo["fbtrace_id"].(string); len(s) < 10 {
		t.Errorf("error.fbtrace_id = %q", s)
	}
	code := r.errorCode()
	msg, _ := eo["message"].(string)
	if code == 190 {
		if msg == "" {
			t.Errorf("190 without message")
		}
		return
	}
	if !strings.HasPrefix(msg, fmt.Sprintf("(#%d) ", code)) {
		t.Errorf("error.message = %q, want (#%d) prefix", msg, code)
	}
	ed, _ := eo["error_data"].(map[string]any)
	if ed["messaging_product"] != "whatsapp" || ed["details"] == "" || ed["details"] == nil {
		t.Errorf("error.error_data = %v", ed)
	}
}

func buttonsBody(n int, title string) string {
	bs := make([]map[string]any, n)
	for i := range bs {
		t := fmt.Sprint("B", i)
		if i == 0 {
			t = title
		}
		bs[i] = map[string]any{"type": "reply", "reply": map[string]string{"id": fmt.Sprint("b", i), "title": t}}
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp", "to": customer, "type": "interactive",
		"interactive": map[string]any{"type": "button", "body": map[string]string{"text": "Choose"},
			"action": map[string]any{"buttons": bs}},
	})
	return string(b)
}

func listBody(rows int, title string) string {
	rs := make([]map[string]string, rows)
	for i := range rs {
		rs[i] = map[string]string{"id": fmt.Sprint("r", i), "title": title, "description": "d"}
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp", "to": customer, "type": "interactive",
		"interactive": map[string]any{"type": "list", "body": map[string]string{"text": "Pick"},
			"action": map[string]any{"button": "Options", "sections": []any{map[string]any{"title": "S", "rows": rs}}}},
	})
	return string(b)
}

func TestSendAccepted(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		to         string
		body       string // %s = to
		openWindow bool
		template   bool
	}{
		{name: "template with version", path: "/v23.0/" + phoneID + "/messages", body: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"%s","type":"template","template":{"name":"call_deflection","language":{"code":"ar"},"components":[{"type":"body","parameters":[{"type":"text","text":"Billing"}]},{"type":"button","sub_type":"quick_reply","index":"0","parameters":[{"type":"payload","payload":"CALLBACK"}]},{"type":"button","sub_type":"quick_reply","index":1,"parameters":[{"type":"payload","payload":"AGENT"}]}]}}`, template: true},
		{name: "template without version", path: "/" + phoneID + "/messages", body: `{"messaging_product":"whatsapp","to":"%s","type":"template","template":{"name":"licence_renewal","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"A"},{"type":"text","text":"B"}]}]}}`, template: true},
		{name: "template under a mount prefix", path: "/graph/v23.0/" + phoneID + "/messages", body: `{"messaging_product":"whatsapp","to":"%s","type":"template","template":{"name":"licence_renewal","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"A"},{"type":"currency","currency":{"fallback_value":"$1","code":"USD","amount_1000":1000}}]}]}}`, template: true},
		{name: "template to a formatted E.164 number", to: "+966 50-123 4567", body: `{"messaging_product":"whatsapp","to":"%s","type":"template","template":{"name":"call_deflection","language":{"code":"en"},"components":[{"type":"body","parameters":[{"type":"text","text":"Q"}]}]}}`, template: true},
		{name: "text in the window", openWindow: true, body: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"%s","type":"text","text":{"preview_url":true,"body":"See https://127.0.0.1/x"}}`},
		{name: "text without type", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","text":{"body":"default type is text"}}`},
		{name: "reply buttons", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"interactive","interactive":{"type":"button","header":{"type":"text","text":"Hi"},"body":{"text":"Choose"},"footer":{"text":"f"},"action":{"buttons":[{"type":"reply","reply":{"id":"yes","title":"Yes"}},{"type":"reply","reply":{"id":"no","title":"No"}},{"type":"reply","reply":{"id":"agent","title":"Talk to an agent 20"}}]}}}`},
		{name: "list", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"interactive","interactive":{"type":"list","body":{"text":"Pick"},"action":{"button":"Options","sections":[{"title":"A","rows":[{"id":"1","title":"One","description":"first"}]},{"title":"B","rows":[{"id":"2","title":"Two"}]}]}}}`},
		{name: "image by link with caption", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"image","image":{"link":"https://127.0.0.1/a.jpg","caption":"c"}}`},
		{name: "document by id with filename", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"document","document":{"id":"1013859600285441","filename":"invoice.pdf","caption":"Invoice"}}`},
		{name: "video by id", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"video","video":{"id":"1166846181421424"}}`},
		{name: "audio by link", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"audio","audio":{"link":"https://127.0.0.1/a.ogg"}}`},
		{name: "reaction", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","type":"reaction","reaction":{"message_id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","emoji":"👍"}}`},
		{name: "text with context", openWindow: true, body: `{"messaging_product":"whatsapp","to":"%s","context":{"message_id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="},"type":"text","text":{"body":"reply"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
			if tt.openWindow {
				if _, err := e.sb.CustomerText(t.Context(), customer, "hello"); err != nil {
					t.Fatal(err)
				}
			}
			to := tt.to
			if to == "" {
				to = customer
			}
			path := tt.path
			if path == "" {
				path = "/v23.0/" + phoneID + "/messages"
			}
			body := fmt.Sprintf(tt.body, to)
			r := e.do(t, http.MethodPost, path, token, body)
			if r.Status != 200 {
				t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
			}
			var resp struct {
				MessagingProduct string `json:"messaging_product"`
				Contacts         []struct {
					Input string `json:"input"`
					WaID  string `json:"wa_id"`
				} `json:"contacts"`
				Messages []map[string]string `json:"messages"`
			}
			if err := json.Unmarshal(r.Raw, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.MessagingProduct != "whatsapp" || len(resp.Contacts) != 1 || resp.Contacts[0].Input != to ||
				resp.Contacts[0].WaID != customer || len(resp.Messages) != 1 || !strings.HasPrefix(resp.Messages[0]["id"], "wamid.") {
				t.Fatalf("response %s", r.Raw)
			}
			if st, ok := resp.Messages[0]["message_status"]; tt.template != ok || (ok && st != "accepted") {
				t.Fatalf("message_status = %q (present %v), template %v", st, ok, tt.template)
			}
			sent := e.sb.Sent("+" + customer)
			if len(sent) != 1 || sent[0].ID != resp.Messages[0]["id"] || sent[0].To != customer {
				t.Fatalf("Sent = %+v", sent)
			}
			var want, got any
			_ = json.Unmarshal([]byte(body), &want)
			_ = json.Unmarshal(sent[0].Body, &got)
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Fatalf("recorded body %s, sent %s", sent[0].Body, body)
			}
		})
	}
}

func TestAccessTokenQueryParameter(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, http.MethodPost, "/v23.0/"+phoneID+"/messages?access_token="+token, "", templateBody(customer, "call_deflection", "en", "Q"))
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
}

func TestMarkAsRead(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
	id, err := e.sb.CustomerText(t.Context(), customer, "hello")
	if err != nil {
		t.Fatal(err)
	}
	r := e.send(t, `{"messaging_product":"whatsapp","status":"read","message_id":"`+id+`"}`)
	if r.Status != 200 || r.Body["success"] != true {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	in := e.sb.Received(customer)
	if len(in) != 1 || in[0].ID != id || !in[0].ReadByBusiness {
		t.Fatalf("Received = %+v", in)
	}
}

func TestWindow(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
	steps := []struct {
		name     string
		advance  time.Duration
		customer bool // the customer writes first
		body     string
		wantCode int
	}{
		{name: "text before the customer wrote", body: textBody(customer, "hi"), wantCode: 131047},
		{name: "template is allowed any time", body: templateBody(customer, "call_deflection", "en", "Q")},
		{name: "text after the customer wrote", customer: true, body: textBody(customer, "hi")},
		{name: "text 23h59m later", advance: 23*time.Hour + 59*time.Minute, body: textBody(customer, "hi")},
		{name: "text 24h later", advance: time.Minute, body: textBody(customer, "hi"), wantCode: 131047},
		{name: "template after the window", body: templateBody(customer, "call_deflection", "en", "Q")},
		{name: "the customer reopens it", customer: true, body: textBody(customer, "hi")},
		{name: "another number has no window", body: textBody("447700900123", "hi"), wantCode: 131047},
	}
	for _, st := range steps {
		e.clk.Advance(st.advance)
		if st.customer {
			if _, err := e.sb.CustomerText(t.Context(), customer, "hello"); err != nil {
				t.Fatal(err)
			}
		}
		r := e.send(t, st.body)
		if r.errorCode() != st.wantCode || (st.wantCode == 0 && r.Status != 200) {
			t.Fatalf("%s: HTTP %d code %d, want code %d: %s", st.name, r.Status, r.errorCode(), st.wantCode, r.Raw)
		}
	}
}

func TestWindowAsync(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.AsyncWindowErrors = true })
	r := e.send(t, textBody(customer, "hi"))
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	h := e.recv.next(t)
	st := h.Payload.Entry[0].Changes[0].Value.Statuses
	if len(st) != 1 || st[0].ID != r.messageID() || st[0].Status != "failed" || len(st[0].Errors) != 1 || st[0].Errors[0].Code != 131047 {
		t.Fatalf("webhook %s", h.Raw)
	}
	e.recv.none(t, 100*time.Millisecond)
}

func TestNotOnWhatsApp(t *testing.T) {
	const absent = "447700900123"
	e := newEnv(t, func(c *sandbox.Config) { c.NotOnWhatsApp = []string{"+" + absent} })
	r := e.send(t, templateBody(absent, "call_deflection", "en", "Q"))
	if r.Status != 200 || !strings.HasPrefix(r.messageID(), "wamid.") {
		t.Fatalf("send to a number not on WhatsApp must be accepted like Meta does: HTTP %d %s", r.Status, r.Raw)
	}
	h := e.recv.next(t) // the receiver verified the signature
	v := h.Payload.Entry[0].Changes[0].Value
	if len(v.Statuses) != 1 {
		t.Fatalf("webhook %s", h.Raw)
	}
	s := v.Statuses[0]
	if s.ID != r.messageID() || s.Status != "failed" || s.RecipientID != absent || len(s.Errors) != 1 ||
		s.Errors[0].Code != 131026 || s.Errors[0].Title == "" || s.Errors[0].ErrorData.Details == "" || s.Pricing != nil {
		t.Fatalf("failed status %s", h.Raw)
	}
	e.recv.none(t, 100*time.Millisecond) // no sent/delivered/read after failed
	if _, bad := e.recv.counts(); bad != 0 {
		t.Fatalf("%d badly signed webhooks", bad)
	}
	testkit.Eventually(t, 5*time.Second, "the failed status recorded", func() bool {
		got := e.sb.Sent(absent)
		return len(got) == 1 && len(got[0].Statuses) == 1 && got[0].Statuses[0].Status == "failed" &&
			got[0].Statuses[0].Error == 131026 && got[0].Statuses[0].Delivered
	})
	if _, err := e.sb.CustomerText(t.Context(), absent, "hi"); !errors.Is(err, sandbox.ErrNotOnWhatsApp) {
		t.Fatalf("a number not on WhatsApp wrote: %v", err)
	}
}

func TestStatusOrder(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = 20 * time.Millisecond })
	tpl := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
	if tpl.Status != 200 {
		t.Fatalf("HTTP %d: %s", tpl.Status, tpl.Raw)
	}
	var last time.Time
	for i, want := range []string{"sent", "delivered", "read"} {
		h := e.recv.next(t)
		p := h.Payload
		if p.Object != "whatsapp_business_account" || len(p.Entry) != 1 || len(p.Entry[0].Changes) != 1 ||
			p.Entry[0].Changes[0].Field != "messages" {
			t.Fatalf("envelope %s", h.Raw)
		}
		v := p.Entry[0].Changes[0].Value
		if v.MessagingProduct != "whatsapp" || v.Metadata.PhoneNumberID != phoneID || v.Metadata.DisplayPhoneNumber == "" {
			t.Fatalf("value %s", h.Raw)
		}
		s := v.Statuses[0]
		if s.ID != tpl.messageID() || s.Status != want || s.RecipientID != customer || s.Timestamp == "" {
			t.Fatalf("status %d = %s, want %s", i, h.Raw, want)
		}
		switch want {
		case "sent", "delivered":
			if s.Pricing == nil || s.Pricing.Category != "utility" || !s.Pricing.Billable || s.Pricing.PricingModel != "PMP" || len(s.Conversation) == 0 {
				t.Fatalf("%s without conversation/pricing: %s", want, h.Raw)
			}
		case "read":
			if s.Pricing != nil || len(s.Conversation) != 0 {
				t.Fatalf("read with conversation/pricing: %s", h.Raw)
			}
		}
		now := time.Now()
		if i > 0 && now.Sub(last) < 15*time.Millisecond {
			t.Fatalf("%s came %v after the previous status, StatusDelay is 20ms", want, now.Sub(last))
		}
		last = now
	}
	testkit.Eventually(t, 5*time.Second, "three delivered statuses", func() bool {
		got := e.sb.Sent(customer)
		if len(got) != 1 || len(got[0].Statuses) != 3 {
			return false
		}
		for i, s := range got[0].Statuses {
			if s.Status != []string{"sent", "delivered", "read"}[i] || !s.Delivered {
				return false
			}
		}
		return true
	})

	// A free-form reply inside the window is a free service message.
	if _, err := e.sb.CustomerText(t.Context(), customer, "hi"); err != nil {
		t.Fatal(err)
	}
	e.recv.next(t)
	txt := e.send(t, textBody(customer, "hello"))
	h := e.recv.next(t)
	s := h.Payload.Entry[0].Changes[0].Value.Statuses[0]
	if s.ID != txt.messageID() || s.Status != "sent" || s.Pricing == nil || s.Pricing.Billable || s.Pricing.Category != "service" || s.Pricing.Type != "free_customer_service" {
		t.Fatalf("service message status %s", h.Raw)
	}
}

func TestStatusOrderUnderLoad(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookWorkers = 8 })
	const n = 30
	ids := map[string]int{}
	for i := range n {
		r := e.send(t, templateBody(fmt.Sprint("96650000", 1000+i), "call_deflection", "en", "Q"))
		if r.Status != 200 {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
		ids[r.messageID()] = 0
	}
	order := []string{"sent", "delivered", "read"}
	for range 3 * n {
		s := e.recv.next(t).Payload.Entry[0].Changes[0].Value.Statuses[0]
		step, ok := ids[s.ID]
		if !ok || step > 2 || order[step] != s.Status {
			t.Fatalf("message %s: got %s at step %d", s.ID, s.Status, step)
		}
		ids[s.ID] = step + 1
	}
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		name          string
		failN, always int
		retries       int
		wantCalls     int
		wantDelivered bool
	}{
		{name: "recovers after two 500s", failN: 2, retries: 3, wantCalls: 3, wantDelivered: true},
		{name: "gives up after the retries", always: 503, retries: 2, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.WebhookRetries = tt.retries; c.StatusDelay = time.Hour })
			e.recv.failN, e.recv.always = tt.failN, tt.always
			r := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
			deadline := time.Now().Add(5 * time.Second)
			for {
				got := e.sb.Sent(customer)
				calls, _ := e.recv.counts()
				if calls >= tt.wantCalls && len(got) == 1 && len(got[0].Statuses) == 1 && got[0].Statuses[0].Delivered == tt.wantDelivered {
					time.Sleep(50 * time.Millisecond) // no extra attempt
					if calls, _ = e.recv.counts(); calls != tt.wantCalls {
						t.Fatalf("%d attempts, want %d", calls, tt.wantCalls)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("attempts %d, Sent %+v", calls, got)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if tt.wantDelivered {
				if h := e.recv.next(t); h.Payload.Entry[0].Changes[0].Value.Statuses[0].ID != r.messageID() {
					t.Fatalf("webhook %s", h.Raw)
				}
			}
		})
	}
}

func TestCustomerWebhooks(t *testing.T) {
	tests := []struct {
		name  string
		path  string // under /_sandbox/customers/{wa_id}/
		body  string
		check func(t *testing.T, h hook, contextID string)
	}{
		{name: "text", path: "text", body: `{"body":"I need help","name":"Amal"}`, check: func(t *testing.T, h hook, _ string) {
			m := h.Payload.Entry[0].Changes[0].Value.Messages[0]
			if m.Type != "text" || m.Text == nil || m.Text.Body != "I need help" || m.Context != nil {
				t.Fatalf("%s", h.Raw)
			}
		}},
		{name: "quick-reply button", path: "button", body: `{"payload":"CALLBACK","text":"Call me back"}`, check: func(t *testing.T, h hook, ctxID string) {
			m := h.Payload.Entry[0].Changes[0].Value.Messages[0]
			if m.Type != "button" || m.Button == nil || m.Button.Payload != "CALLBACK" || m.Button.Text != "Call me back" ||
				m.Context == nil || m.Context.ID != ctxID || m.Context.From == "" {
				t.Fatalf("%s", h.Raw)
			}
		}},
		{name: "reply button", path: "interactive", body: `{"type":"button_reply","id":"agent","title":"Agent"}`, check: func(t *testing.T, h hook, ctxID string) {
			m := h.Payload.Entry[0].Changes[0].Value.Messages[0]
			if m.Type != "interactive" || m.Interactive == nil || m.Interactive.Type != "button_reply" ||
				m.Interactive.ButtonReply["id"] != "agent" || m.Interactive.ButtonReply["title"] != "Agent" || m.Context == nil || m.Context.ID != ctxID {
				t.Fatalf("%s", h.Raw)
			}
		}},
		{name: "list row", path: "interactive", body: `{"type":"list_reply","id":"r1","title":"Billing","description":"Invoices","context_message_id":"wamid.given"}`, check: func(t *testing.T, h hook, _ string) {
			m := h.Payload.Entry[0].Changes[0].Value.Messages[0]
			if m.Interactive == nil || m.Interactive.Type != "list_reply" || m.Interactive.ListReply["description"] != "Invoices" || m.Context == nil || m.Context.ID != "wamid.given" {
				t.Fatalf("%s", h.Raw)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = time.Hour })
			tpl := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
			e.recv.next(t) // sent
			r := e.do(t, http.MethodPost, "/_sandbox/customers/+"+customer+"/"+tt.path, "", tt.body)
			if r.Status != 200 {
				t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
			}
			h := e.recv.next(t)
			v := h.Payload.Entry[0].Changes[0].Value
			if h.Payload.Object != "whatsapp_business_account" || v.Metadata.PhoneNumberID != phoneID ||
				len(v.Contacts) != 1 || v.Contacts[0].WaID != customer || v.Contacts[0].Profile.Name == "" ||
				len(v.Messages) != 1 || v.Messages[0].From != customer || v.Messages[0].ID != r.Body["id"] ||
				!strings.HasPrefix(v.Messages[0].ID, "wamid.") || v.Messages[0].Timestamp == "" {
				t.Fatalf("inbound webhook %s", h.Raw)
			}
			tt.check(t, h, tpl.messageID())
			// The window is open now.
			if r := e.send(t, textBody(customer, "thanks")); r.Status != 200 {
				t.Fatalf("text after the customer wrote: HTTP %d %s", r.Status, r.Raw)
			}
		})
	}
	t.Run("profile name", func(t *testing.T) {
		e := newEnv(t, nil)
		e.do(t, http.MethodPost, "/_sandbox/customers/"+customer+"/text", "", `{"body":"hi","name":"Amal"}`)
		if h := e.recv.next(t); h.Payload.Entry[0].Changes[0].Value.Contacts[0].Profile.Name != "Amal" {
			t.Fatalf("%s", h.Raw)
		}
	})
}

func TestCustomerErrors(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, path, body string
		want             int
	}{
		{name: "empty text", path: "/_sandbox/customers/" + customer + "/text", body: `{"body":""}`, want: 400},
		{name: "bad number", path: "/_sandbox/customers/abc/text", body: `{"body":"x"}`, want: 400},
		{name: "unknown action", path: "/_sandbox/customers/" + customer + "/fax", body: `{}`, want: 404},
		{name: "unknown field", path: "/_sandbox/customers/" + customer + "/text", body: `{"bdy":"x"}`, want: 400},
		{name: "bad interactive type", path: "/_sandbox/customers/" + customer + "/interactive", body: `{"type":"x","id":"1","title":"t"}`, want: 400},
		{name: "button without payload", path: "/_sandbox/customers/" + customer + "/button", body: `{"text":"t"}`, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.do(t, http.MethodPost, tt.path, "", tt.body); r.Status != tt.want {
				t.Fatalf("HTTP %d, want %d: %s", r.Status, tt.want, r.Raw)
			}
		})
	}
	t.Run("receiver down", func(t *testing.T) {
		e := newEnv(t, func(c *sandbox.Config) { c.WebhookRetries = -1 })
		e.recv.always = 500
		r := e.do(t, http.MethodPost, "/_sandbox/customers/"+customer+"/text", "", `{"body":"x"}`)
		if r.Status != http.StatusBadGateway || r.Body["id"] == nil {
			t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
		}
	})
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name  string
		cfg   func(*sandbox.Config)
		steps []struct {
			advance time.Duration
			to      string
			code    int
		}
	}{
		{
			name: "throughput 2 per second",
			cfg:  func(c *sandbox.Config) { c.Throughput = 2 },
			steps: []struct {
				advance time.Duration
				to      string
				code    int
			}{
				{to: "966500000001"}, {to: "966500000002"}, {to: "966500000003", code: 130429},
				{advance: 500 * time.Millisecond, to: "966500000003"}, {to: "966500000004", code: 130429},
			},
		},
		{
			name: "pair limit one per 6s with a burst of 2",
			cfg:  func(c *sandbox.Config) { c.PairPeriod = 6 * time.Second; c.PairBurst = 2 },
			steps: []struct {
				advance time.Duration
				to      string
				code    int
			}{
				{to: customer}, {to: customer}, {to: customer, code: 131056}, {to: "966500000009"},
				{advance: 5 * time.Second, to: customer, code: 131056}, {advance: time.Second, to: customer}, {to: customer, code: 131056},
			},
		},
		{
			name: "rate limits answered with 429",
			cfg:  func(c *sandbox.Config) { c.Throughput = 2; c.PairPeriod = time.Minute; c.RateLimitStatus = 429 },
			steps: []struct {
				advance time.Duration
				to      string
				code    int
			}{
				{to: customer}, {to: customer, code: 131056}, {advance: time.Minute, to: "966500000009"}, {to: "966500000010"}, {to: "966500000011", code: 130429},
			},
		},
		{
			name: "a pair rejection does not spend throughput",
			cfg:  func(c *sandbox.Config) { c.Throughput = 2; c.PairPeriod = time.Minute },
			steps: []struct {
				advance time.Duration
				to      string
				code    int
			}{
				{to: customer}, {to: customer, code: 131056}, {to: customer, code: 131056}, {to: "966500000009"}, {to: "966500000010", code: 130429},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = ""; tt.cfg(c) })
			for i, st := range tt.steps {
				e.clk.Advance(st.advance)
				r := e.send(t, templateBody(st.to, "call_deflection", "en", "Q"))
				if r.errorCode() != st.code || (st.code == 0) != (r.Status == 200) {
					t.Fatalf("step %d: HTTP %d code %d, want code %d: %s", i, r.Status, r.errorCode(), st.code, r.Raw)
				}
				if st.code != 0 {
					if want := map[bool]int{false: 400, true: 429}[strings.Contains(tt.name, "429")]; r.Status != want {
						t.Fatalf("step %d: HTTP %d, want %d", i, r.Status, want)
					}
					checkErrorObject(t, r)
				}
			}
		})
	}
}

func TestInjectedFailures(t *testing.T) {
	tests := []struct {
		name     string
		failure  string // POST /_sandbox/fail body; empty = use InjectFailure
		code, n  int
		wantHTTP int
		wantCode int
		async    bool
	}{
		{name: "throughput", code: 130429, n: 2, wantHTTP: 400, wantCode: 130429},
		{name: "pair limit", code: 131056, n: 1, wantHTTP: 400, wantCode: 131056},
		{name: "server error", code: 500, n: 2, wantHTTP: 500, wantCode: 131000},
		{name: "service unavailable", code: 503, n: 1, wantHTTP: 503, wantCode: 131016},
		{name: "token expired", code: 190, n: 1, wantHTTP: 401, wantCode: 190},
		{name: "spam limit", code: 131048, n: 1, wantHTTP: 400, wantCode: 131048},
		{name: "app rate limit", code: 4, n: 1, wantHTTP: 429, wantCode: 4},
		{name: "undeliverable is asynchronous", code: 131026, n: 2, async: true},
		{name: "undeliverable made synchronous", failure: `{"code":131026,"count":1,"async":false}`, n: 1, wantHTTP: 400, wantCode: 131026},
		{name: "through the HTTP API", failure: `{"code":130429,"count":3}`, n: 3, wantHTTP: 400, wantCode: 130429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = time.Hour })
			if tt.failure != "" {
				if r := e.do(t, http.MethodPost, "/_sandbox/fail", "", tt.failure); r.Status != 204 {
					t.Fatalf("inject: HTTP %d %s", r.Status, r.Raw)
				}
			} else {
				e.sb.InjectFailure(tt.code, tt.n)
			}
			for i := range tt.n {
				r := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
				if tt.async {
					if r.Status != 200 {
						t.Fatalf("send %d: HTTP %d %s", i, r.Status, r.Raw)
					}
					s := e.recv.next(t).Payload.Entry[0].Changes[0].Value.Statuses[0]
					if s.ID != r.messageID() || s.Status != "failed" || s.Errors[0].Code != tt.code {
						t.Fatalf("send %d: status %+v", i, s)
					}
					continue
				}
				if r.Status != tt.wantHTTP || r.errorCode() != tt.wantCode {
					t.Fatalf("send %d: HTTP %d code %d, want %d %d: %s", i, r.Status, r.errorCode(), tt.wantHTTP, tt.wantCode, r.Raw)
				}
				checkErrorObject(t, r)
			}
			r := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
			if r.Status != 200 {
				t.Fatalf("send after the %d injected failures: HTTP %d %s", tt.n, r.Status, r.Raw)
			}
			if s := e.recv.next(t).Payload.Entry[0].Changes[0].Value.Statuses[0]; s.Status != "sent" {
				t.Fatalf("status after the failures: %+v", s)
			}
		})
	}
	t.Run("from config, in order", func(t *testing.T) {
		e := newEnv(t, func(c *sandbox.Config) {
			c.WebhookURL = ""
			c.FailNext = []sandbox.Failure{{Code: 500, Count: 1}, {Code: 130429, Count: 1}}
		})
		for i, want := range []int{131000, 130429, 0} {
			if r := e.send(t, templateBody(customer, "call_deflection", "en", "Q")); r.errorCode() != want {
				t.Fatalf("send %d: code %d, want %d: %s", i, r.errorCode(), want, r.Raw)
			}
		}
	})
	t.Run("bad injection", func(t *testing.T) {
		e := newEnv(t, nil)
		if r := e.do(t, http.MethodPost, "/_sandbox/fail", "", `{"code":500}`); r.Status != 400 {
			t.Fatalf("HTTP %d", r.Status)
		}
	})
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
	r := e.do(t, http.MethodGet, "/_sandbox/templates", "", "")
	var tpls []sandbox.TemplateInfo
	if err := json.Unmarshal(r.Raw, &tpls); err != nil || len(tpls) != 2 || tpls[0].Name != "call_deflection" || tpls[0].Buttons != 2 || tpls[1].BodyParams != 2 {
		t.Fatalf("templates %s (%v)", r.Raw, err)
	}
	sent := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
	e.send(t, templateBody("447700900123", "call_deflection", "en", "Q"))

	var msgs []sandbox.Outbound
	r = e.do(t, http.MethodGet, "/_sandbox/messages?to=%2B"+customer, "", "")
	if err := json.Unmarshal(r.Raw, &msgs); err != nil || len(msgs) != 1 || msgs[0].ID != sent.messageID() || msgs[0].Type != "template" || len(msgs[0].Body) == 0 {
		t.Fatalf("messages %s (%v)", r.Raw, err)
	}
	r = e.do(t, http.MethodGet, "/_sandbox/messages", "", "")
	if err := json.Unmarshal(r.Raw, &msgs); err != nil || len(msgs) != 2 {
		t.Fatalf("all messages %s (%v)", r.Raw, err)
	}
	if r = e.do(t, http.MethodGet, "/_sandbox/messages?to=447000000000", "", ""); strings.TrimSpace(string(r.Raw)) != "[]" {
		t.Fatalf("unknown recipient: %s", r.Raw)
	}
	if _, err := e.sb.CustomerText(t.Context(), customer, "hi"); err != nil {
		t.Fatal(err)
	}
	if r = e.do(t, http.MethodDelete, "/_sandbox/messages", "", ""); r.Status != 204 {
		t.Fatalf("reset: HTTP %d", r.Status)
	}
	if len(e.sb.Sent(customer)) != 0 || len(e.sb.All()) != 0 {
		t.Fatal("reset kept messages")
	}
	if r = e.send(t, textBody(customer, "hi")); r.errorCode() != 131047 {
		t.Fatalf("reset kept the window: %s", r.Raw)
	}
	if r = e.do(t, http.MethodGet, "/_sandbox/nope", "", ""); r.Status != 404 {
		t.Fatalf("unknown path: HTTP %d", r.Status)
	}
	if r = e.do(t, http.MethodGet, "/v23.0/"+phoneID+"/other", token, ""); r.Status != 400 || r.errorCode() != 100 {
		t.Fatalf("unknown graph path: HTTP %d %s", r.Status, r.Raw)
	}
	if r = e.do(t, http.MethodGet, "/v23.0/"+phoneID+"/messages", token, ""); r.Status != 400 || r.errorCode() != 100 {
		t.Fatalf("GET messages: HTTP %d %s", r.Status, r.Raw)
	}
}

func TestWamid(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
	seen := map[string]bool{}
	for i := range 200 {
		to := fmt.Sprint("9665", 10000000+i)
		id := e.send(t, templateBody(to, "call_deflection", "en", "Q")).messageID()
		if seen[id] {
			t.Fatalf("duplicate wamid %s", id)
		}
		seen[id] = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(id, "wamid."))
		if err != nil || !strings.HasPrefix(id, "wamid.HBg") {
			t.Fatalf("%s is not wamid.<base64>: %v", id, err)
		}
		// 0x1c 0x18 <len> <wa_id> 0x15 0x02 0x00 0x11 0x18 0x12 <18 hex> 0x00, as Meta's.
		if raw[0] != 0x1c || raw[1] != 0x18 || int(raw[2]) != len(to) || string(raw[3:3+len(to)]) != to ||
			len(raw) != 3+len(to)+3+3+18+1 || raw[len(raw)-1] != 0 {
			t.Fatalf("wamid %s decodes to %q", id, raw)
		}
	}
	in, err := e.sb.CustomerText(t.Context(), customer, "hi")
	if err != nil || seen[in] || !strings.HasPrefix(in, "wamid.HBg") {
		t.Fatalf("inbound wamid %q: %v", in, err)
	}
}

func TestBoundedMemory(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = ""; c.MaxPerRecipient = 3; c.MaxRecipients = 2 })
	var ids []string
	for range 5 {
		ids = append(ids, e.send(t, templateBody(customer, "call_deflection", "en", "Q")).messageID())
	}
	got := e.sb.Sent(customer)
	if len(got) != 3 || got[0].ID != ids[2] || got[2].ID != ids[4] {
		t.Fatalf("kept %+v, want the last 3 of %v", got, ids)
	}
	if _, ok := e.sb.Message(ids[0]); ok {
		t.Fatal("a trimmed message is still indexed")
	}
	e.clk.Advance(time.Second)
	e.send(t, templateBody("447700900001", "call_deflection", "en", "Q"))
	e.clk.Advance(time.Second)
	e.send(t, templateBody("447700900002", "call_deflection", "en", "Q"))
	if len(e.sb.Sent(customer)) != 0 || len(e.sb.Sent("447700900002")) != 1 || len(e.sb.All()) != 2 {
		t.Fatalf("recipients not bounded: %d messages kept", len(e.sb.All()))
	}
}

func TestLatency(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = ""; c.Latency = 50 * time.Millisecond })
	start := time.Now()
	if r := e.send(t, templateBody(customer, "call_deflection", "en", "Q")); r.Status != 200 {
		t.Fatalf("HTTP %d", r.Status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, Latency is 50ms", d)
	}
}

func TestConcurrentSends(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.MaxPerRecipient = 1000; c.WebhookURL = "" })
	const workers, each = 8, 40
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				r := e.send(t, templateBody(fmt.Sprint("96650", 1000000+w), "call_deflection", "en", fmt.Sprint(i)))
				if r.Status != 200 {
					t.Errorf("HTTP %d", r.Status)
					return
				}
				mu.Lock()
				ids[r.messageID()] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ids) != workers*each || len(e.sb.All()) != workers*each {
		t.Fatalf("%d unique ids, %d kept, want %d", len(ids), len(e.sb.All()), workers*each)
	}
}

func TestSignature(t *testing.T) {
	// Known answer: HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's
	// webhook documentation, which uses the same sha256=<hex> scheme as Meta.
	got := sandbox.Signature("It's a Secret to Everybody", []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}

func TestFromConfig(t *testing.T) {
	c := configs.Default()
	c.WhatsApp.Sandbox.Latency = 150 * time.Millisecond
	sc := sandbox.FromConfig(c)
	if sc.Latency != 150*time.Millisecond || sc.PhoneNumberID != c.WhatsApp.PhoneNumberID || sc.AccessToken != c.WhatsApp.AccessToken.Reveal() ||
		sc.AppSecret != c.WhatsApp.AppSecret.Reveal() || len(sc.Templates) != len(c.WhatsApp.Sandbox.Templates) ||
		sc.Throughput != c.WhatsApp.Throughput || sc.PairPeriod != c.WhatsApp.PairPeriod || sc.StatusDelay != c.WhatsApp.Sandbox.StatusDelay {
		t.Fatalf("FromConfig = %+v", sc)
	}
	tests := []struct {
		name, listen, public, explicit, want string
	}{
		{name: "listen address", listen: "127.0.0.1:8080", want: "http://127.0.0.1:8080/webhooks/whatsapp"},
		{name: "unspecified host", listen: ":9090", want: "http://127.0.0.1:9090/webhooks/whatsapp"},
		{name: "any IPv4", listen: "0.0.0.0:8080", want: "http://127.0.0.1:8080/webhooks/whatsapp"},
		{name: "IPv6 loopback", listen: "[::1]:8080", want: "http://[::1]:8080/webhooks/whatsapp"},
		{name: "public URL wins", listen: "127.0.0.1:8080", public: "https://127.0.0.1:8443/", want: "https://127.0.0.1:8443/webhooks/whatsapp"},
		{name: "explicit webhook URL wins", listen: "127.0.0.1:8080", public: "https://127.0.0.1:8443", explicit: "http://127.0.0.1:1/hook", want: "http://127.0.0.1:1/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configs.Default()
			c.HTTP.Listen, c.HTTP.PublicURL, c.WhatsApp.Sandbox.WebhookURL = tt.listen, tt.public, tt.explicit
			if got := sandbox.FromConfig(c).WebhookURL; got != tt.want {
				t.Fatalf("WebhookURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCloseBeforeStart(t *testing.T) {
	sb := sandbox.New(sandbox.Config{PhoneNumberID: phoneID, AccessToken: token}, nil)
	sb.Close()
	sb.Start(t.Context()) // a no-op now; must not leak or panic
	sb.Close()
}
