package sandbox_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

const bsuid = "SA.13491208655302741918"

// value is the first change's value of a webhook, decoded loosely (the typed hook payload has no
// business-scoped user id fields).
func value(t *testing.T, h hook) map[string]any {
	t.Helper()
	var p struct {
		Entry []struct {
			Changes []struct {
				Value map[string]any `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(h.Raw, &p); err != nil || len(p.Entry) == 0 || len(p.Entry[0].Changes) == 0 {
		t.Fatalf("webhook %s: %v", h.Raw, err)
	}
	return p.Entry[0].Changes[0].Value
}

func first(v map[string]any, key string) map[string]any {
	xs, _ := v[key].([]any)
	if len(xs) == 0 {
		return nil
	}
	m, _ := xs[0].(map[string]any)
	return m
}

// A customer with a username writes without a phone number; the business answers with
// "recipient" and the statuses name the business-scoped user id only.
func TestUsernameCustomer(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = time.Millisecond })
	r := e.do(t, http.MethodPost, "/_sandbox/customers/"+bsuid+"/text", "", `{"body":"hello","name":"Amal"}`)
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	h := e.recv.next(t)
	v := value(t, h)
	c, m := first(v, "contacts"), first(v, "messages")
	if c["user_id"] != bsuid || c["wa_id"] != nil || m["from_user_id"] != bsuid || m["from"] != nil {
		t.Fatalf("inbound webhook of a username customer: %s", h.Raw)
	}

	// "to" is for phone numbers: a business-scoped user id there is refused like a bad number.
	if r := e.send(t, textBody(bsuid, "hi")); r.errorCode() != 131009 {
		t.Fatalf("business-scoped user id in to: HTTP %d %s", r.Status, r.Raw)
	}
	body := `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"` + bsuid + `","type":"text","text":{"body":"hi"}}`
	r = e.send(t, body)
	if r.Status != 200 {
		t.Fatalf("send by recipient: HTTP %d %s", r.Status, r.Raw)
	}
	if rc := first(r.Body, "contacts"); rc["user_id"] != bsuid || rc["input"] != bsuid || rc["wa_id"] != nil {
		t.Fatalf("response contacts: %s", r.Raw)
	}
	sent := e.sb.Sent(bsuid)
	if len(sent) != 1 || sent[0].Recipient != bsuid || sent[0].To != bsuid {
		t.Fatalf("recorded %+v", sent)
	}
	st := first(value(t, e.recv.next(t)), "statuses")
	if st["recipient_user_id"] != bsuid || st["recipient_id"] != nil || st["status"] != "sent" {
		t.Fatalf("status %v", st)
	}

	if r := e.send(t, `{"messaging_product":"whatsapp","recipient":"966501234567","type":"text","text":{"body":"hi"}}`); r.errorCode() != 100 {
		t.Fatalf("a phone number in recipient: HTTP %d %s", r.Status, r.Raw)
	}
}

// A phone number given a business-scoped user id writes with both; the business may answer either.
func TestPhoneWithUserID(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = time.Hour })
	r := e.do(t, http.MethodPost, "/_sandbox/customers/"+customer+"/text", "", `{"body":"hello","user_id":"`+bsuid+`"}`)
	if r.Status != 200 {
		t.Fatalf("HTTP %d: %s", r.Status, r.Raw)
	}
	h := e.recv.next(t)
	v := value(t, h)
	c, m := first(v, "contacts"), first(v, "messages")
	if c["user_id"] != bsuid || c["wa_id"] != customer || m["from_user_id"] != bsuid || m["from"] != customer {
		t.Fatalf("inbound webhook: %s", h.Raw)
	}
	// The window the customer opened from their number is theirs under either id.
	body := `{"messaging_product":"whatsapp","recipient":"` + bsuid + `","type":"text","text":{"body":"hi"}}`
	if r := e.send(t, body); r.Status != 200 {
		t.Fatalf("send by recipient: HTTP %d %s", r.Status, r.Raw)
	}
	if r := e.do(t, http.MethodPost, "/_sandbox/customers/"+customer+"/text", "", `{"body":"x","user_id":"12345"}`); r.Status != 400 {
		t.Fatalf("bad user_id: HTTP %d %s", r.Status, r.Raw)
	}
}
