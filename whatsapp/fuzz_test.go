package whatsapp_test

import (
	"encoding/json"
	"testing"

	"github.com/deflectd/deflectd/whatsapp"
)

// FuzzParseWebhook: any body parses or errors, never panics, and every event can travel through
// the queue (JSON round trip) with a kind and a dedupe key. The seed corpus in
// testdata/fuzz/FuzzParseWebhook (Meta's documented payloads and edge cases) runs with go test.
func FuzzParseWebhook(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		events, err := whatsapp.ParseWebhook(body)
		if err != nil {
			if len(events) != 0 {
				t.Fatal("events with an error")
			}
			return
		}
		for _, e := range events {
			set := 0
			for _, p := range []bool{e.Message != nil, e.Status != nil, e.Template != nil, e.Account != nil} {
				if p {
					set++
				}
			}
			if set != 1 {
				t.Fatalf("event without exactly one of message, status, template: %+v", e)
			}
			if e.Kind != whatsapp.KindMessage && e.Kind != whatsapp.KindStatus && e.Kind != whatsapp.KindTemplate && e.Kind != whatsapp.KindAccount || e.Key() == "" {
				t.Fatalf("kind %q key %q", e.Kind, e.Key())
			}
			if e.Message != nil && e.Message.Type == "" {
				t.Fatal("message without a type")
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatalf("event cannot be queued: %v", err)
			}
			var back whatsapp.Event
			if err := json.Unmarshal(b, &back); err != nil || back.Key() != e.Key() {
				t.Fatalf("round trip: %v, key %q → %q", err, e.Key(), back.Key())
			}
		}
	})
}
