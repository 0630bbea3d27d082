package whatsapp_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/internal/metaspec"
)

// metaWebhookDir holds Meta's 16 webhook examples, one file each (named by metaspec.Slug).
var metaWebhookDir = filepath.Join("testdata", "meta-openapi", "webhooks")

// TestMetaWebhookFixtures: the fixture files are exactly the webhook examples of Meta's document.
func TestMetaWebhookFixtures(t *testing.T) {
	spec, err := metaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	exs, err := spec.Examples(metaspec.WebhooksPath)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(metaWebhookDir, "*.json"))
	if len(exs) != 16 || len(files) != len(exs) {
		t.Fatalf("%d examples in the document, %d fixture files; want 16 of each", len(exs), len(files))
	}
	for _, ex := range exs {
		raw, err := os.ReadFile(filepath.Join(metaWebhookDir, metaspec.Slug(ex.Name)+".json"))
		if err != nil {
			t.Fatalf("%s: %v", ex.Name, err)
		}
		var a, b any
		_ = json.Unmarshal(raw, &a)
		_ = json.Unmarshal(ex.Body, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: the fixture differs from the document's example", ex.Name)
		}
	}
}

// TestMetaWebhookExamples: the receiver's parser takes each of Meta's webhook examples and keeps
// each kind's content.
func TestMetaWebhookExamples(t *testing.T) {
	const from = "16505551234"
	tests := []struct {
		file  string
		check func(m *whatsapp.Message) bool // nil: no event expected
	}{
		{"text_message", func(m *whatsapp.Message) bool {
			return m.Type == "text" && m.Text == "Does it come in another color?"
		}},
		{"text_message_with_context_product_inquiry", func(m *whatsapp.Message) bool {
			return m.Text == "Is this still available?" && m.Context != nil &&
				m.Context.ID == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA"
		}},
		{"text_message_from_click_to_whatsapp_ad", func(m *whatsapp.Message) bool {
			return m.Type == "text" && m.Text == "Hello! Can I get more info on this?"
		}},
		{"reaction_message", func(m *whatsapp.Message) bool {
			return m.Reaction != nil && m.Reaction.MessageID == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA" && m.Reaction.Emoji == "👍"
		}},
		{"image_message", func(m *whatsapp.Message) bool {
			return m.Media != nil && m.Media.ID == "1003383421387256" && m.Media.Caption == "Taj Mahal" && m.Media.MimeType == "image/jpeg"
		}},
		{"location_message", func(m *whatsapp.Message) bool {
			l := m.Location
			return l != nil && l.Latitude == 37.44221496582 && l.Longitude == -122.16165924072 && l.Name == "Philz Coffee" &&
				l.Address == "101 Forest Ave, Palo Alto, CA 94301"
		}},
		{"contact_sharing_message", func(m *whatsapp.Message) bool {
			return len(m.Contacts) == 1 && m.Contacts[0].Name == "Lucía Gómez" &&
				slices.Equal(m.Contacts[0].Phones, []string{"+1 (983) 555-2319"}) && slices.Equal(m.Contacts[0].WAIDs, []string{"19835552319"})
		}},
		{"unsupported_message", func(m *whatsapp.Message) bool {
			return m.Type == "unsupported" && len(m.Errors) == 1 && m.Errors[0].Code == 131051
		}},
		{"button_message", func(m *whatsapp.Message) bool {
			return m.Button != nil && m.Button.Payload == "Unsubscribe" && m.Context != nil &&
				m.Context.ID == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA"
		}},
		{"interactive_list_reply_message", func(m *whatsapp.Message) bool {
			return m.Interactive != nil && *m.Interactive == whatsapp.InteractiveReply{Type: "list_reply", ID: "priority_express",
				Title: "Priority Mail Express", Description: "Next Day to 2 Days"}
		}},
		{"interactive_button_reply_message", func(m *whatsapp.Message) bool {
			return m.Interactive != nil && *m.Interactive == whatsapp.InteractiveReply{Type: "button_reply", ID: "cancel-button", Title: "Cancel"}
		}},
		{"order_message", func(m *whatsapp.Message) bool {
			return m.Type == "order" && m.Order != nil && m.Order.CatalogID == "194836987003835" &&
				slices.Equal(m.Order.Items, []whatsapp.OrderItem{
					{ProductRetailerID: "di9ozbzfi4", Quantity: 2, ItemPrice: 30, Currency: "USD"},
					{ProductRetailerID: "nqryix03ez", Quantity: 1, ItemPrice: 25, Currency: "USD"}}) &&
				m.Text == "Order: 2 × di9ozbzfi4 at 30 USD, 1 × nqryix03ez at 25 USD"
		}},
		{"system_message", func(m *whatsapp.Message) bool {
			return m.Type == "system" && m.System != nil && m.System.Type == "user_changed_number" && m.System.NewWAID == "12195555358" &&
				m.Text == "User Sheena Nelson changed from 16505551234 to 12195555358"
		}},
		// Group webhooks are other fields than messages; deflectd takes no group messages.
		{"group_create_message", nil},
		{"group_settings_update", nil},
		{"group_remove_participants", nil},
	}
	if len(tests) != 16 {
		t.Fatalf("%d cases, want one per example", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(metaWebhookDir, tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			events, err := whatsapp.ParseWebhook(raw)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if tt.check == nil {
				if len(events) != 0 {
					t.Fatalf("events from a group webhook: %+v", events)
				}
				return
			}
			if len(events) != 1 || events[0].Kind != whatsapp.KindMessage || events[0].Message == nil {
				t.Fatalf("want one message event, got %+v", events)
			}
			m := events[0].Message
			if m.From != from || m.ID == "" || m.Timestamp.IsZero() {
				t.Errorf("from %q id %q at %v", m.From, m.ID, m.Timestamp)
			}
			if tt.file != "system_message" && events[0].ContactName != "Sheena Nelson" {
				t.Errorf("contact name %q", events[0].ContactName)
			}
			if !tt.check(m) {
				b, _ := json.Marshal(m)
				t.Errorf("content lost: %s", b)
			}
		})
	}
}
