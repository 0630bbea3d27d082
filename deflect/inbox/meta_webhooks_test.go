package inbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/store"
)

// metaWebhooks holds Meta's 16 webhook examples from its OpenAPI document (see the README there).
var metaWebhooks = filepath.Join("..", "..", "whatsapp", "testdata", "meta-openapi", "webhooks")

// TestMetaWebhookExamplesReachConversation posts each of Meta's webhook examples to the receiver
// (deflect's handler then the inbox's, as serve chains them) and checks that each kind arrives
// in the customer's conversation with its content.
func TestMetaWebhookExamplesReachConversation(t *testing.T) {
	const waID = "16505551234"
	const reacted = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA" // the reaction example's target
	in := func(c *deflect.Conversation) *deflect.ConversationMessage {
		for i := range c.Messages {
			if c.Messages[i].Direction == "in" {
				return &c.Messages[i]
			}
		}
		return nil
	}
	tests := []struct {
		file  string
		check func(c *deflect.Conversation) bool // nil: no conversation
	}{
		{"text_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "text" && m.Text == "Does it come in another color?" && c.Name == "Sheena Nelson"
		}},
		{"text_message_with_context_product_inquiry", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Text == "Is this still available?"
		}},
		{"text_message_from_click_to_whatsapp_ad", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Text == "Hello! Can I get more info on this?"
		}},
		{"reaction_message", func(c *deflect.Conversation) bool {
			// Not a message of its own: the emoji sits on the message it reacts to.
			return len(c.Messages) == 1 && c.Messages[0].ID == reacted && c.Messages[0].Reaction == "👍"
		}},
		{"image_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "image" && m.Media != nil && m.Media.ID == "1003383421387256" &&
				m.Media.MimeType == "image/jpeg" && m.Text == "Taj Mahal"
		}},
		{"location_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Location != nil && m.Location.Latitude == 37.44221496582 &&
				m.Location.Longitude == -122.16165924072 && m.Location.Name == "Philz Coffee"
		}},
		{"contact_sharing_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && len(m.Contacts) == 1 && m.Contacts[0].Name == "Lucía Gómez" &&
				len(m.Contacts[0].Phones) == 1 && m.Contacts[0].Phones[0] == "+1 (983) 555-2319"
		}},
		{"unsupported_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "unsupported"
		}},
		{"button_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "button" && m.Payload == "Unsubscribe" && m.Text == "Unsubscribe"
		}},
		{"interactive_list_reply_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Payload == "priority_express" && m.Text == "Priority Mail Express"
		}},
		{"interactive_button_reply_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Payload == "cancel-button" && m.Text == "Cancel"
		}},
		{"order_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "order" && m.Text == "Order: 2 × di9ozbzfi4 at 30 USD, 1 × nqryix03ez at 25 USD"
		}},
		{"system_message", func(c *deflect.Conversation) bool {
			m := in(c)
			return m != nil && m.Type == "system" && m.Text == "User Sheena Nelson changed from 16505551234 to 12195555358"
		}},
		{"group_create_message", nil},
		{"group_settings_update", nil},
		{"group_remove_participants", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(metaWebhooks, tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, nil)
			if strings.HasPrefix(tt.file, "reaction") {
				h.in.recordOutbound(t.Context(), waID, deflect.ConversationMessage{ID: reacted, Direction: "out", Type: "text",
					Text: "It comes in blue and green.", At: time.Now()})
			}
			srv := httptest.NewServer(http.HandlerFunc(h.webhook))
			defer srv.Close()
			resp, err := http.Post(srv.URL, "application/json", strings.NewReader(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("receiver answered %d", resp.StatusCode)
			}
			c, err := h.in.getConversation(t.Context(), waID)
			if tt.check == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("a group webhook made a conversation (err %v): %+v", err, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				b, _ := json.MarshalIndent(c.Messages, "", " ")
				t.Errorf("content not in the conversation: %s", b)
			}
		})
	}
}

// TestSystemMessageNotAnswered: Meta's system message (the user changed number) is shown in the
// conversation but is not something the customer said: the bot does not answer it.
func TestSystemMessageNotAnswered(t *testing.T) {
	const waID = "16505551234"
	h := newHarness(t, nil)
	h.text(waID, "hello") // the window is open, and the bot has answered once
	before := len(h.sb.Sent(waID))
	if before == 0 {
		t.Fatal("the bot did not answer the customer's hello")
	}
	raw, err := os.ReadFile(filepath.Join(metaWebhooks, "system_message.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Sent now, within the window (Meta's example is from 2025).
	body := strings.Replace(string(raw), `"1750269342"`, `"`+strconv.FormatInt(time.Now().Unix(), 10)+`"`, 1)
	srv := httptest.NewServer(http.HandlerFunc(h.webhook))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("receiver answered %d", resp.StatusCode)
	}
	c, err := h.in.getConversation(t.Context(), waID)
	if err != nil {
		t.Fatal(err)
	}
	if last := c.Messages[len(c.Messages)-1]; last.Type != "system" {
		t.Fatalf("last message %+v, want the system message", last)
	}
	if after := h.sb.Sent(waID); len(after) != before {
		t.Fatalf("the bot answered a system message: %+v", after[before:])
	}
}
