package whatsapp

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event kinds.
const (
	KindMessage = "message"
	KindStatus  = "status"
	// KindTemplate: a template's review state or category changed (the WABA's
	// message_template_status_update, template_category_update and
	// message_template_quality_update webhooks).
	KindTemplate = "template"
	// KindAccount: the business number's quality or messaging limit changed
	// (phone_number_quality_update), or the account did (account_update).
	KindAccount = "account"
)

// Event is one inbound message or one status update of an outbound message, as it travels through
// the durable queue (JSON).
type Event struct {
	Kind          string          `json:"kind"` // message|status
	PhoneNumberID string          `json:"phone_number_id"`
	ContactName   string          `json:"contact_name,omitempty"` // the sender's profile name (messages)
	Message       *Message        `json:"message,omitempty"`
	Status        *Status         `json:"status,omitempty"`
	Template      *TemplateUpdate `json:"template,omitempty"`
	Account       *AccountUpdate  `json:"account,omitempty"`
}

// AccountUpdate is a change of the business number or account, from Meta's WABA webhooks.
type AccountUpdate struct {
	Field        string `json:"field"`                   // phone_number_quality_update | account_update
	Event        string `json:"event"`                   // FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE, ... (account_update: its event)
	PhoneNumber  string `json:"phone_number,omitempty"`  // display number
	CurrentLimit string `json:"current_limit,omitempty"` // TIER_250, TIER_1K, ..., TIER_UNLIMITED
	// account_update only: ban_info (BanState DISABLE, REINSTATE, SCHEDULE_FOR_DISABLE; BanDate
	// as Meta wrote it), restriction_info and violation_info.violation_type.
	BanState     string        `json:"ban_state,omitempty"`
	BanDate      string        `json:"ban_date,omitempty"`
	Restrictions []Restriction `json:"restrictions,omitempty"`
	Violation    string        `json:"violation,omitempty"`
	At           time.Time     `json:"at"`
}

// Restriction is one entry of account_update's restriction_info: what the account may not do
// (RESTRICTED_BIZ_INITIATED_MESSAGING, RESTRICTED_CUSTOMER_INITIATED_MESSAGING,
// RESTRICTED_ADD_PHONE_NUMBER_ACTION) until Expiration (zero: Meta named no end).
type Restriction struct {
	Type       string    `json:"type"`
	Expiration time.Time `json:"expiration,omitzero"`
}

// TemplateUpdate is a change of one template language's state, from Meta's WABA webhooks: its
// review status (Event: APPROVED, REJECTED, PAUSED, DISABLED, PENDING_DELETION, FLAGGED,
// REINSTATED, ...) or its category (NewCategory).
type TemplateUpdate struct {
	ID          string `json:"id,omitempty"`
	Name        string `json:"name"`
	Language    string `json:"language"`
	Event       string `json:"event,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Category    string `json:"category,omitempty"`     // the category the status update names
	NewCategory string `json:"new_category,omitempty"` // template_category_update
	// Quality is message_template_quality_update's new_quality_score (GREEN, YELLOW, RED,
	// UNKNOWN). It leaves Event empty: a quality drop does not change the review status.
	Quality string    `json:"quality,omitempty"`
	At      time.Time `json:"at"`
}

// Key identifies the event for deduplication: a message by its id, a status by message id and
// status (sent, delivered and read of one message are three events).
func (e Event) Key() string {
	switch {
	case e.Message != nil:
		return "msg:" + e.Message.ID
	case e.Status != nil:
		return "status:" + e.Status.ID + ":" + e.Status.Status
	case e.Template != nil:
		// Meta's redelivery of the same change has the same template id, event and category
		// (the entry time may differ between deliveries, so it is not part of the key).
		t := e.Template
		id := t.ID
		if id == "" {
			id = t.Name + ":" + t.Language
		}
		// The trigger time tells a later change (paused again after an approval) from a
		// redelivery of the same one.
		key := "template:" + id + ":" + t.Event + ":" + t.NewCategory
		if t.Quality != "" {
			key += ":q=" + t.Quality
		}
		return key + at(t.At)
	case e.Account != nil:
		a := e.Account
		key := "account:" + a.Field + ":" + a.PhoneNumber + ":" + a.Event + ":" + a.CurrentLimit + ":" + a.BanState + ":" + a.Violation
		for _, r := range a.Restrictions {
			key += ":" + r.Type + at(r.Expiration)
		}
		return key + at(a.At)
	}
	return ""
}

// Message is an inbound message from a WhatsApp user.
type Message struct {
	ID   string `json:"id"`
	From string `json:"from"` // the user's WhatsApp id (phone number digits); empty when Meta withholds it
	// UserID is the user's business-scoped user id (messages[].from_user_id or the contact's
	// user_id), when Meta sent one. A user with a username may come with UserID and no From.
	UserID    string    `json:"user_id,omitempty"`
	Timestamp time.Time `json:"timestamp"`
	// Type is Meta's type (text, button, interactive, image, document, audio, video, sticker,
	// location, contacts, reaction, order, system) or "unsupported" for anything else. Text
	// holds a text's body, and a readable line for an order or a system message.
	Type string `json:"type"`
	// OriginalType is Meta's type when Type is "unsupported".
	OriginalType string        `json:"original_type,omitempty"`
	Context      *ReplyContext `json:"context,omitempty"`

	Text        string            `json:"text,omitempty"`
	Button      *ButtonReply      `json:"button,omitempty"`      // quick-reply button of a template
	Interactive *InteractiveReply `json:"interactive,omitempty"` // button_reply or list_reply
	Media       *MediaInfo        `json:"media,omitempty"`       // image, document, audio, video, sticker
	Location    *Location         `json:"location,omitempty"`
	Contacts    []SharedContact   `json:"contacts,omitempty"`
	Reaction    *Reaction         `json:"reaction,omitempty"`
	Order       *Order            `json:"order,omitempty"`  // a cart sent from the catalog
	System      *SystemChange     `json:"system,omitempty"` // e.g. the user changed number
	Errors      []EventError      `json:"errors,omitempty"`
}

// Order is a cart the user sent from the business's catalog.
type Order struct {
	CatalogID string      `json:"catalog_id"`
	Text      string      `json:"text,omitempty"`
	Items     []OrderItem `json:"items"`
}

// OrderItem is one product line of an order.
type OrderItem struct {
	ProductRetailerID string  `json:"product_retailer_id"`
	Quantity          int     `json:"quantity"`
	ItemPrice         float64 `json:"item_price"`
	Currency          string  `json:"currency"`
}

// Summary is the order as one line for a conversation: "2 × di9ozbzfi4 at 30 USD, 1 × …".
func (o *Order) Summary() string {
	parts := make([]string, 0, len(o.Items)+1)
	for _, it := range o.Items {
		parts = append(parts, fmt.Sprintf("%d × %s at %s %s", it.Quantity, it.ProductRetailerID,
			strconv.FormatFloat(it.ItemPrice, 'f', -1, 64), it.Currency))
	}
	s := "Order: " + strings.Join(parts, ", ")
	if o.Text != "" {
		s += " (" + o.Text + ")"
	}
	return s
}

// SystemChange is a system message: Meta telling the business about the user's account, such
// as a changed number (Type user_changed_number, NewWAID the new WhatsApp id).
type SystemChange struct {
	Type    string `json:"type"`
	Body    string `json:"body"`
	NewWAID string `json:"new_wa_id,omitempty"`
}

// ReplyContext is the message this one answers (e.g. the template whose button was tapped).
type ReplyContext struct {
	From string `json:"from,omitempty"`
	ID   string `json:"id,omitempty"`
}

// ButtonReply is a tap on a template's quick-reply button.
type ButtonReply struct {
	Payload string `json:"payload"`
	Text    string `json:"text"`
}

// InteractiveReply is a tap on a reply button or a list row.
type InteractiveReply struct {
	Type        string `json:"type"` // button_reply|list_reply|other Meta type
	ID          string `json:"id,omitempty"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
}

// MediaInfo describes received media (download it by ID through the Graph API).
type MediaInfo struct {
	ID       string `json:"id"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	Voice    bool   `json:"voice,omitempty"`
}

// Location is a shared location.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
	URL       string  `json:"url,omitempty"`
}

// SharedContact is a contact card the user sent.
type SharedContact struct {
	Name   string   `json:"name"`
	Phones []string `json:"phones,omitempty"`
	WAIDs  []string `json:"wa_ids,omitempty"`
}

// Reaction is an emoji reaction to a message (empty Emoji: reaction removed).
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// Status is a delivery status of a message we sent.
type Status struct {
	ID              string       `json:"id"`
	Status          string       `json:"status"` // sent|delivered|read|failed (others kept as given)
	Timestamp       time.Time    `json:"timestamp"`
	RecipientID     string       `json:"recipient_id"`
	RecipientUserID string       `json:"recipient_user_id,omitempty"` // the recipient's BSUID, when Meta sent one
	ConversationID  string       `json:"conversation_id,omitempty"`
	PricingCategory string       `json:"pricing_category,omitempty"`
	Billable        bool         `json:"billable,omitempty"` // pricing.billable: Meta charges for it
	PricingModel    string       `json:"pricing_model,omitempty"`
	Errors          []EventError `json:"errors,omitempty"`
}

// NotOnWhatsApp reports whether the status failed with 131026 (undeliverable).
func (s *Status) NotOnWhatsApp() bool { return s.hasCode(CodeUndeliverable) }

// WindowClosed reports whether the status failed with 131047 (outside the 24-hour window).
func (s *Status) WindowClosed() bool { return s.hasCode(CodeReEngagement) }

func (s *Status) hasCode(code int) bool {
	for _, e := range s.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// EventError is an error attached to a status or message in a webhook.
type EventError struct {
	Code    int    `json:"code"`
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
	Details string `json:"details,omitempty"`
}

// Wire format of Meta's webhook, only the fields we use.
type wireWebhook struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string  `json:"id"`
		Time    flexInt `json:"time"`
		Changes []struct {
			Field string          `json:"field"`
			Value json.RawMessage `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// wireTemplate is the value of message_template_status_update and template_category_update.
type wireTemplate struct {
	Event            string  `json:"event"`
	ID               flexStr `json:"message_template_id"`
	Name             string  `json:"message_template_name"`
	Language         string  `json:"message_template_language"`
	Reason           string  `json:"reason"`
	Category         string  `json:"message_template_category"`
	NewCategory      string  `json:"new_category"`
	PreviousCategory string  `json:"previous_category"`
	NewQuality       string  `json:"new_quality_score"` // message_template_quality_update
}

// flexStr takes a JSON string or number (Meta sends ids as either).
type flexStr string

func (f *flexStr) UnmarshalJSON(b []byte) error {
	*f = flexStr(strings.Trim(string(b), `"`))
	return nil
}

type wireValue struct {
	Metadata struct {
		PhoneNumberID string `json:"phone_number_id"`
	} `json:"metadata"`
	Contacts []wireContact     `json:"contacts"`
	Messages []json.RawMessage `json:"messages"`
	Statuses []json.RawMessage `json:"statuses"`
}

type wireContact struct {
	WAID    string `json:"wa_id"`
	UserID  string `json:"user_id"` // BSUID
	Profile struct {
		Name string `json:"name"`
	} `json:"profile"`
}

type wireMessage struct {
	ID        string    `json:"id"`
	From      string    `json:"from"`
	FromUser  string    `json:"from_user_id"` // BSUID
	Timestamp flexInt   `json:"timestamp"`
	Type      string    `json:"type"`
	Context   *struct { // the message replied to
		From string `json:"from"`
		ID   string `json:"id"`
	} `json:"context"`
	Text *struct {
		Body string `json:"body"`
	} `json:"text"`
	Button      *ButtonReply `json:"button"`
	Interactive *struct {
		Type        string `json:"type"`
		ButtonReply *struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		} `json:"button_reply"`
		ListReply *struct {
			ID          string `json:"id"`
			Title       string `json:"title"`
			Description string `json:"description"`
		} `json:"list_reply"`
	} `json:"interactive"`
	Image    *MediaInfo `json:"image"`
	Document *MediaInfo `json:"document"`
	Audio    *MediaInfo `json:"audio"`
	Video    *MediaInfo `json:"video"`
	Sticker  *MediaInfo `json:"sticker"`
	Location *struct {
		Latitude  flexFloat `json:"latitude"`
		Longitude flexFloat `json:"longitude"`
		Name      string    `json:"name"`
		Address   string    `json:"address"`
		URL       string    `json:"url"`
	} `json:"location"`
	Contacts []struct {
		Name struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
		Phones []struct {
			Phone string `json:"phone"`
			WAID  string `json:"wa_id"`
		} `json:"phones"`
	} `json:"contacts"`
	Reaction *Reaction `json:"reaction"`
	Order    *struct {
		CatalogID    string `json:"catalog_id"`
		Text         string `json:"text"`
		ProductItems []struct {
			ProductRetailerID string    `json:"product_retailer_id"`
			Quantity          flexInt   `json:"quantity"`
			ItemPrice         flexFloat `json:"item_price"`
			Currency          string    `json:"currency"`
		} `json:"product_items"`
	} `json:"order"`
	System *struct {
		Body string `json:"body"`
		WAID string `json:"wa_id"`
		Type string `json:"type"`
	} `json:"system"`
	Errors []wireError `json:"errors"`
}

type wireStatus struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	Timestamp    flexInt `json:"timestamp"`
	RecipientID  string  `json:"recipient_id"`
	RecipientUID string  `json:"recipient_user_id"`
	Conversation *struct {
		ID string `json:"id"`
	} `json:"conversation"`
	Pricing *struct {
		Category     string `json:"category"`
		Billable     bool   `json:"billable"`
		PricingModel string `json:"pricing_model"`
	} `json:"pricing"`
	Errors []wireError `json:"errors"`
}

type wireError struct {
	Code      flexInt `json:"code"`
	Title     string  `json:"title"`
	Message   string  `json:"message"`
	ErrorData struct {
		Details string `json:"details"`
	} `json:"error_data"`
}

// flexInt accepts Meta's timestamps as a string ("1749416383") or a number.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.Trim(b, `"`))
	if s == "" || s == "null" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil // a bad timestamp is not worth losing the event over
	}
	*f = flexInt(n)
	return nil
}

// flexFloat accepts a coordinate as a number or a string.
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseFloat(string(bytes.Trim(b, `"`)), 64)
	if err == nil {
		*f = flexFloat(n)
	}
	return nil
}

func unixTime(f flexInt) time.Time {
	if f <= 0 || f > 253402300799 { // after 9999-12-31 JSON cannot encode it
		return time.Time{}
	}
	return time.Unix(int64(f), 0).UTC()
}

func toEventErrors(ws []wireError) []EventError {
	var out []EventError
	for _, w := range ws {
		out = append(out, EventError{Code: int(w.Code), Title: w.Title, Message: w.Message, Details: w.ErrorData.Details})
	}
	return out
}

// ParseWebhook splits a messages webhook body into events, messages first then statuses, in
// payload order. Only malformed JSON is an error: changes of other fields are skipped, and message
// types it does not know become Type "unsupported".
func ParseWebhook(body []byte) ([]Event, error) {
	var w wireWebhook
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("parse webhook: %w", err)
	}
	var events []Event
	for _, e := range w.Entry {
		for _, ch := range e.Changes {
			switch ch.Field {
			case "message_template_status_update", "template_category_update", "message_template_quality_update":
				var t wireTemplate
				if json.Unmarshal(ch.Value, &t) == nil && t.Name != "" {
					events = append(events, Event{Kind: KindTemplate, Template: &TemplateUpdate{
						ID: string(t.ID), Name: t.Name, Language: t.Language, Event: t.Event, Reason: t.Reason,
						Category: t.Category, NewCategory: t.NewCategory, Quality: t.NewQuality, At: unixTime(e.Time)}})
				}
				continue
			case "phone_number_quality_update", "account_update":
				if a := parseAccount(ch.Field, ch.Value); a != nil {
					a.At = unixTime(e.Time)
					events = append(events, Event{Kind: KindAccount, Account: a})
				}
				continue
			case "", "messages":
			default:
				continue
			}
			var v wireValue
			if err := json.Unmarshal(ch.Value, &v); err != nil {
				return nil, fmt.Errorf("parse webhook %s change: %w", ch.Field, err)
			}
			for _, raw := range v.Messages {
				m := parseMessage(raw)
				var name string
				if c := contactOf(v.Contacts, m); c != nil {
					name = c.Profile.Name
					m.UserID = cmp.Or(m.UserID, c.UserID)
				}
				events = append(events, Event{Kind: KindMessage, PhoneNumberID: v.Metadata.PhoneNumberID, ContactName: name, Message: m})
			}
			for _, raw := range v.Statuses {
				var s wireStatus
				if err := json.Unmarshal(raw, &s); err != nil {
					// Keep what identifies it; a field of an unexpected type must not lose the event.
					var min struct {
						ID           string `json:"id"`
						Status       string `json:"status"`
						RecipientID  string `json:"recipient_id"`
						RecipientUID string `json:"recipient_user_id"`
					}
					_ = json.Unmarshal(raw, &min)
					s = wireStatus{ID: min.ID, Status: min.Status, RecipientID: min.RecipientID, RecipientUID: min.RecipientUID}
				}
				st := &Status{ID: s.ID, Status: s.Status, Timestamp: unixTime(s.Timestamp), RecipientID: s.RecipientID,
					RecipientUserID: s.RecipientUID, Errors: toEventErrors(s.Errors)}
				if s.Conversation != nil {
					st.ConversationID = s.Conversation.ID
				}
				if s.Pricing != nil {
					st.PricingCategory, st.Billable, st.PricingModel = s.Pricing.Category, s.Pricing.Billable, s.Pricing.PricingModel
				}
				events = append(events, Event{Kind: KindStatus, PhoneNumberID: v.Metadata.PhoneNumberID, Status: st})
			}
		}
	}
	return events, nil
}

// contactOf is the contacts[] entry of m's sender: matched by wa_id, else by BSUID, else the only
// one (Meta sends one contact per message).
func contactOf(cs []wireContact, m *Message) *wireContact {
	for i, c := range cs {
		if m.From != "" && c.WAID == m.From || m.UserID != "" && c.UserID == m.UserID {
			return &cs[i]
		}
	}
	if len(cs) == 1 {
		return &cs[0]
	}
	return nil
}

func parseMessage(raw json.RawMessage) *Message {
	var w wireMessage
	if err := json.Unmarshal(raw, &w); err != nil {
		// A field of an unexpected type: keep the message as unsupported rather than refuse
		// the whole webhook (Meta would redeliver it forever).
		var min struct {
			ID       string `json:"id"`
			From     string `json:"from"`
			FromUser string `json:"from_user_id"`
			Type     string `json:"type"`
		}
		_ = json.Unmarshal(raw, &min)
		return &Message{ID: min.ID, From: min.From, UserID: min.FromUser, Type: "unsupported", OriginalType: min.Type}
	}
	m := &Message{ID: w.ID, From: w.From, UserID: w.FromUser, Timestamp: unixTime(w.Timestamp), Type: w.Type, Errors: toEventErrors(w.Errors)}
	if w.Context != nil {
		m.Context = &ReplyContext{From: w.Context.From, ID: w.Context.ID}
	}
	ok := false
	switch w.Type {
	case "text":
		if ok = w.Text != nil; ok {
			m.Text = w.Text.Body
		}
	case "button":
		if ok = w.Button != nil; ok {
			m.Button = w.Button
		}
	case "interactive":
		if ok = w.Interactive != nil; ok {
			ir := &InteractiveReply{Type: w.Interactive.Type}
			switch {
			case w.Interactive.ButtonReply != nil:
				ir.ID, ir.Title = w.Interactive.ButtonReply.ID, w.Interactive.ButtonReply.Title
			case w.Interactive.ListReply != nil:
				ir.ID, ir.Title, ir.Description = w.Interactive.ListReply.ID, w.Interactive.ListReply.Title, w.Interactive.ListReply.Description
			}
			m.Interactive = ir
		}
	case "image", "document", "audio", "video", "sticker":
		md := map[string]*MediaInfo{"image": w.Image, "document": w.Document, "audio": w.Audio, "video": w.Video, "sticker": w.Sticker}[w.Type]
		if ok = md != nil; ok {
			m.Media = md
		}
	case "location":
		if ok = w.Location != nil; ok {
			l := w.Location
			m.Location = &Location{Latitude: float64(l.Latitude), Longitude: float64(l.Longitude), Name: l.Name, Address: l.Address, URL: l.URL}
		}
	case "contacts":
		ok = len(w.Contacts) > 0
		for _, c := range w.Contacts {
			sc := SharedContact{Name: c.Name.FormattedName}
			for _, p := range c.Phones {
				if p.Phone != "" {
					sc.Phones = append(sc.Phones, p.Phone)
				}
				if p.WAID != "" {
					sc.WAIDs = append(sc.WAIDs, p.WAID)
				}
			}
			m.Contacts = append(m.Contacts, sc)
		}
	case "reaction":
		if ok = w.Reaction != nil; ok {
			m.Reaction = w.Reaction
		}
	case "order":
		if ok = w.Order != nil; ok {
			o := &Order{CatalogID: w.Order.CatalogID, Text: w.Order.Text}
			for _, it := range w.Order.ProductItems {
				o.Items = append(o.Items, OrderItem{ProductRetailerID: it.ProductRetailerID, Quantity: int(it.Quantity),
					ItemPrice: float64(it.ItemPrice), Currency: it.Currency})
			}
			m.Order = o
			m.Text = o.Summary() // what an agent reads in the conversation
		}
	case "system":
		if ok = w.System != nil; ok {
			m.System = &SystemChange{Type: w.System.Type, Body: w.System.Body, NewWAID: w.System.WAID}
			m.Text = w.System.Body
		}
	}
	if !ok {
		// Unknown types (and known types missing their object) are kept, never an error: the bot
		// can answer "I can't read that" and an agent sees that something arrived.
		m.OriginalType, m.Type = w.Type, "unsupported"
	}
	return m
}

// at is ":<unix seconds>" of a webhook's trigger time, "" when it had none.
func at(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ":" + strconv.FormatInt(t.Unix(), 10)
}

// wireAccount is the value of phone_number_quality_update and account_update. account_update's
// fields are as Meta's account_update webhook reference names them (ban_info, restriction_info,
// violation_info); Meta's OpenAPI document has no schema for this webhook, and the examples of
// it read here are those of providers relaying it, so the expiration's form (Meta's
// "2026-04-19T13:59:20+0000", RFC 3339, or Unix seconds) is read leniently.
type wireAccount struct {
	Event        string `json:"event"`
	PhoneNumber  string `json:"display_phone_number"`
	Phone        string `json:"phone_number"`
	CurrentLimit string `json:"current_limit"`
	BanInfo      struct {
		State string `json:"waba_ban_state"`
		Date  string `json:"waba_ban_date"`
	} `json:"ban_info"`
	RestrictionInfo []struct {
		Type       string          `json:"restriction_type"`
		Expiration json.RawMessage `json:"expiration"`
	} `json:"restriction_info"`
	ViolationInfo struct {
		Type string `json:"violation_type"`
	} `json:"violation_info"`
}

func parseAccount(field string, raw json.RawMessage) *AccountUpdate {
	var a wireAccount
	if json.Unmarshal(raw, &a) != nil || a.Event == "" {
		return nil
	}
	out := &AccountUpdate{Field: field, Event: a.Event, PhoneNumber: cmp.Or(a.PhoneNumber, a.Phone),
		CurrentLimit: a.CurrentLimit, BanState: strings.ToUpper(a.BanInfo.State), BanDate: a.BanInfo.Date,
		Violation: a.ViolationInfo.Type}
	for _, r := range a.RestrictionInfo {
		if r.Type != "" {
			out.Restrictions = append(out.Restrictions, Restriction{Type: strings.ToUpper(r.Type), Expiration: metaTime(r.Expiration)})
		}
	}
	return out
}

// metaTime reads a time Meta wrote as a string (ISO 8601 with or without a colon in the
// offset) or as Unix seconds; zero when it is neither.
func metaTime(raw json.RawMessage) time.Time {
	var n flexInt
	if json.Unmarshal(raw, &n) == nil && n > 0 {
		return unixTime(n)
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.000-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
