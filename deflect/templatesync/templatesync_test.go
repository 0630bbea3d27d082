package templatesync_test

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/templatesync"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// TestMessageTemplatesShape: a definition with header, footer and a WhatsApp call button
// becomes Meta's components in Meta's order, the call button after the quick replies.
func TestMessageTemplatesShape(t *testing.T) {
	defs, err := configs.LoadTemplates("testdata/voice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(templatesync.MessageTemplates(defs))
	want := `[{"name":"call_deflection","language":"en","category":"UTILITY","components":[` +
		`{"type":"HEADER","format":"TEXT","text":"Your call"},` +
		`{"type":"BODY","text":"Thanks for calling about {{1}}. Continue here, or call us on WhatsApp.","example":{"body_text":[["billing"]]}},` +
		`{"type":"FOOTER","text":"Reply STOP to opt out"},` +
		`{"type":"BUTTONS","buttons":[{"type":"QUICK_REPLY","text":"Continue here"},{"type":"QUICK_REPLY","text":"Talk to an agent"},{"type":"VOICE_CALL","text":"Call us"}]}]}]`
	if string(got) != want {
		t.Errorf("creation bodies:\n got %s\nwant %s", got, want)
	}
}

// TestPushToSandbox: over real HTTP, pushing to a sandbox that starts with the same definitions
// approved changes nothing (the sandbox and push render definitions alike); to an empty one it
// creates every template language, and once reviewed a second push finds them unchanged.
func TestPushToSandbox(t *testing.T) {
	defs, err := configs.LoadTemplates("testdata/voice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, seeded := range []bool{true, false} {
		cfg := sandbox.Config{PhoneNumberID: "1", AccessToken: "tok", ReviewDelay: 10 * time.Millisecond}
		if seeded {
			cfg.Definitions = defs
		}
		sb := sandbox.New(cfg, nil)
		srv := httptest.NewServer(sb.Handler())
		c, err := whatsapp.New(whatsapp.ClientConfig{BaseURL: srv.URL, PhoneNumberID: "1", AccessToken: "tok"}, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &templatesync.Manager{Client: c, WABAID: sandbox.DefaultBusinessAccountID, Defs: defs}
		acts, err := m.Push(t.Context())
		want := templatesync.Unchanged
		if !seeded {
			want = templatesync.Created
		}
		if err != nil || len(acts) != 1 || acts[0].Action != want {
			t.Errorf("seeded %v: push = %+v, %v; want %s", seeded, acts, err, want)
		}
		if !seeded {
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				acts, err := m.Push(t.Context())
				if err == nil && acts[0].Action == templatesync.Unchanged && acts[0].Status == "APPROVED" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("second push = %+v, %v; want unchanged and approved", acts, err)
				}
			}
		}
		srv.Close()
		sb.Close()
	}
}
