package sandbox_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp/internal/metaspec"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func strictSpec(t *testing.T) *metaspec.Spec { return metaspec.Strict(t) }

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// emitted is one webhook the sandbox posted, by what made it.
type emitted struct {
	name string
	body []byte
}

// emitAll makes the sandbox post every kind of messages webhook it can: each inbound message
// type the customer can send, and each status of an outbound message.
func emitAll(t *testing.T) []emitted {
	t.Helper()
	e := newEnv(t, func(c *sandbox.Config) { c.StatusDelay = time.Millisecond })
	const wa = "16505551234"
	var out []emitted
	take := func(name string) {
		t.Helper()
		out = append(out, emitted{name, e.recv.next(t).Raw})
	}
	ctx := t.Context()
	must := func(_ string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(e.sb.CustomerText(ctx, wa, "Does it come in another colour?"))
	take("message text")

	// A template, so that button and interactive replies have the message they answer.
	r := e.send(t, templateBody("+"+wa, "call_deflection", "en", "Billing"))
	if r.Status != http.StatusOK {
		t.Fatalf("template refused: %s", r.Raw)
	}
	for _, st := range []string{"sent", "delivered", "read"} {
		take("status " + st)
	}
	must(e.sb.CustomerButton(ctx, wa, sandbox.Button{Payload: "s1:yes", Text: "Yes"}))
	take("message button")
	must(e.sb.CustomerInteractive(ctx, wa, sandbox.Reply{Type: "button_reply", ID: "yes", Title: "Yes"}))
	take("message interactive button_reply")
	must(e.sb.CustomerInteractive(ctx, wa, sandbox.Reply{Type: "list_reply", ID: "inv", Title: "Invoice", Description: "A question"}))
	take("message interactive list_reply")
	png := []byte("\x89PNG\r\n\x1a\n0000")
	for _, m := range []struct {
		kind string
		f    sandbox.MediaFile
	}{
		{"image", sandbox.MediaFile{MimeType: "image/png", Data: png, Caption: "Taj Mahal"}},
		{"document", sandbox.MediaFile{MimeType: "application/pdf", Data: []byte("%PDF-1.4"), Caption: "Invoice", Filename: "invoice.pdf"}},
		{"audio", sandbox.MediaFile{MimeType: "audio/ogg", Data: []byte("OggS0000"), Voice: true}},
		{"video", sandbox.MediaFile{MimeType: "video/mp4", Data: []byte("0000ftypmp42"), Caption: "Clip"}},
		{"sticker", sandbox.MediaFile{MimeType: "image/webp", Data: []byte("RIFF0000WEBP")}},
	} {
		must(e.sb.CustomerMedia(ctx, wa, m.kind, m.f))
		take("message " + m.kind)
	}
	must(e.sb.CustomerLocation(ctx, wa, sandbox.Location{Latitude: 37.44221496582, Longitude: -122.16165924072, Name: "Philz Coffee", Address: "101 Forest Ave"}))
	take("message location")
	must(e.sb.CustomerContact(ctx, wa, sandbox.Contact{Name: "Lucía Gómez", Phones: []string{"+19835552319"}}))
	take("message contacts")
	must(e.sb.CustomerReaction(ctx, wa, r.messageID(), "👍"))
	take("message reaction")

	// A customer with a username writes as a business-scoped user id, without a phone number,
	// and is answered by recipient.
	const bsuid = "US.13491208655302741918"
	must(e.sb.CustomerText(ctx, bsuid, "hello"))
	take("message text from a business-scoped user id")
	byRecipient := `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"` + bsuid + `","type":"text","text":{"body":"hi"}}`
	if r := e.send(t, byRecipient); r.Status != http.StatusOK {
		t.Fatalf("send by recipient refused: %s", r.Raw)
	}
	for _, st := range []string{"sent", "delivered", "read"} {
		take("status " + st + " to a business-scoped user id")
	}

	e.sb.InjectFailures(sandbox.Failure{Code: 131026, Count: 1})
	if r := e.send(t, textBody("+"+wa, "hello")); r.Status != http.StatusOK {
		t.Fatalf("send refused: %s", r.Raw)
	}
	take("status failed")
	return out
}

// TestConformanceWebhooks: every messages webhook the sandbox emits conforms to the webhook
// payload schema of Meta's document (as written, and strict: no field the document does not
// name), and renaming any field of it makes the strict validation fail.
func TestConformanceWebhooks(t *testing.T) {
	strict := strictSpec(t)
	for _, w := range emitAll(t) {
		t.Run(w.name, func(t *testing.T) {
			if err := metaspec.Check(func(s *metaspec.Spec) error { return s.ValidateRequest(metaspec.WebhooksPath, w.body) }); err != nil {
				t.Fatalf("%s %s", w.body, firstLine(err))
			}
		})
		t.Run(w.name+"/every field renamed", func(t *testing.T) {
			var v any
			if err := json.Unmarshal(w.body, &v); err != nil {
				t.Fatal(err)
			}
			for _, p := range metaspec.KeyPaths(v) {
				mutated, err := json.Marshal(metaspec.RenameKey(v, p))
				if err != nil {
					t.Fatal(err)
				}
				if err := strict.ValidateRequest(metaspec.WebhooksPath, mutated); err == nil {
					t.Errorf("renaming %s still conforms: %s", p, mutated)
				}
			}
		})
	}
}

// TestConformanceWABAWebhooks: the template and account webhooks (message_template_status_update,
// template_category_update, phone_number_quality_update) have no schema in Meta's document — its
// Change.field lists only messages and the group fields. This test fails when a new version of
// the document adds them, so that they are then validated too.
func TestConformanceWABAWebhooks(t *testing.T) {
	change, err := strictSpec(t).Schema("Change")
	if err != nil {
		t.Fatal(err)
	}
	field := change.Properties["field"]
	if field == nil || field.Value == nil {
		t.Fatal("Change.field not found")
	}
	var fields []string
	for _, v := range field.Value.Enum {
		fields = append(fields, v.(string))
	}
	if !slices.Contains(fields, "messages") {
		t.Fatalf("Change.field enum %v lacks messages", fields)
	}
	for _, f := range []string{"message_template_status_update", "template_category_update", "message_template_quality_update", "phone_number_quality_update", "account_update"} {
		if slices.Contains(fields, f) {
			t.Errorf("Meta's document now documents %s: validate the sandbox's %s webhooks against it", f, f)
		}
	}
	// The sandbox's template webhook still has the envelope every WABA webhook has.
	e := newEnv(t, nil)
	if r := e.do(t, http.MethodPost, "/_sandbox/templates/call_deflection/en/status", "", `{"event":"PAUSED"}`); r.Status != http.StatusNoContent {
		t.Fatalf("status change: %d %s", r.Status, r.Raw)
	}
	var env struct {
		Object string `json:"object"`
		Entry  []struct {
			ID      string `json:"id"`
			Changes []struct {
				Field string          `json:"field"`
				Value json.RawMessage `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	raw := e.recv.next(t).Raw
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatal(err)
	}
	if env.Object != "whatsapp_business_account" || len(env.Entry) != 1 || env.Entry[0].ID == "" ||
		len(env.Entry[0].Changes) != 1 || env.Entry[0].Changes[0].Field != "message_template_status_update" {
		t.Fatalf("template webhook envelope: %s", raw)
	}
}
