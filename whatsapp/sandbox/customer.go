package sandbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Button is a tap on a template's quick-reply button.
type Button struct {
	Payload string `json:"payload"`
	Text    string `json:"text"` // the button's label; default the payload
	// ContextMessageID is the template message the button belongs to; default the latest
	// message sent to this customer.
	ContextMessageID string `json:"context_message_id"`
}

// Reply is a choice in an interactive message: a reply button or a list row.
type Reply struct {
	Type             string `json:"type"` // button_reply|list_reply
	ID               string `json:"id"`
	Title            string `json:"title"`
	Description      string `json:"description,omitempty"` // list_reply only
	ContextMessageID string `json:"context_message_id"`
}

// ErrNotOnWhatsApp is returned when a number configured as not on WhatsApp tries to write.
var ErrNotOnWhatsApp = errors.New("number is not on WhatsApp")

// CustomerText makes the customer send a text message: the inbound messages webhook is posted
// (synchronously, with retries) and the 24-hour window opens. It returns the message's wamid.
func (s *Sandbox) CustomerText(ctx context.Context, waID, body string) (string, error) {
	if body == "" {
		return "", errors.New("customer text: body is empty")
	}
	return s.customer(ctx, waID, whMessage{Type: "text", Text: &whText{Body: body}}, "")
}

// CustomerButton makes the customer tap a template quick-reply button.
func (s *Sandbox) CustomerButton(ctx context.Context, waID string, b Button) (string, error) {
	if b.Payload == "" {
		return "", errors.New("customer button: payload is empty")
	}
	if b.Text == "" {
		b.Text = b.Payload
	}
	return s.customer(ctx, waID, whMessage{Type: "button", Button: &whButton{Payload: b.Payload, Text: b.Text}}, ctxOrLatest(b.ContextMessageID))
}

// CustomerInteractive makes the customer choose a reply button or a list row.
func (s *Sandbox) CustomerInteractive(ctx context.Context, waID string, r Reply) (string, error) {
	if r.ID == "" || r.Title == "" {
		return "", errors.New("customer interactive: id and title are required")
	}
	in := &whInteractive{Type: r.Type}
	switch r.Type {
	case "button_reply":
		in.ButtonReply = &whReply{ID: r.ID, Title: r.Title}
	case "list_reply":
		in.ListReply = &whReply{ID: r.ID, Title: r.Title, Description: r.Description}
	default:
		return "", fmt.Errorf("customer interactive: type %q is not button_reply or list_reply", r.Type)
	}
	return s.customer(ctx, waID, whMessage{Type: "interactive", Interactive: in}, ctxOrLatest(r.ContextMessageID))
}

// latestMarker asks customer() to use the latest outbound message as the context.
const latestMarker = "\x00latest"

func ctxOrLatest(id string) string {
	if id == "" {
		return latestMarker
	}
	return id
}

func (s *Sandbox) customer(ctx context.Context, number string, m whMessage, contextID string) (string, error) {
	waID, err := customerID(number)
	if err != nil {
		return "", fmt.Errorf("customer message: %w", err)
	}
	if s.notOn[waID] {
		return "", fmt.Errorf("customer message from %s: %w", mask(waID), ErrNotOnWhatsApp)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	p := s.phoneLocked(waID)
	if contextID == latestMarker {
		contextID = ""
		if len(p.out) > 0 {
			contextID = p.out[len(p.out)-1].ID
		}
	}
	id := s.ids.wamid(waID, false)
	p.lastInbound = now
	s.addInboundLocked(p, &Inbound{ID: id, From: waID, Type: m.Type, At: now})
	name, userID := p.name, p.userID
	s.mu.Unlock()

	// A customer with a username writes as their business-scoped user id: Meta withholds the
	// phone number (no wa_id, no from) and identifies them by user_id and from_user_id.
	contact := whContact{Profile: whProfile{Name: name}, WaID: waID, UserID: userID}
	m.From, m.ID, m.Timestamp = waID, id, unix(now)
	if bsuidRE.MatchString(waID) {
		contact.WaID, contact.UserID, m.From = "", waID, ""
	}
	m.FromUserID = contact.UserID
	if contextID != "" {
		m.Context = &whContext{From: s.cfg.DisplayPhoneNumber, ID: contextID}
	}
	if s.cfg.WebhookURL == "" {
		return id, nil
	}
	body, err := json.Marshal(s.envelope(webhookValue{
		Contacts: []whContact{contact},
		Messages: []whMessage{m},
	}))
	if err != nil {
		return "", fmt.Errorf("encode inbound webhook: %w", err)
	}
	if err := s.deliver(ctx, body); err != nil {
		return id, fmt.Errorf("deliver inbound webhook: %w", err)
	}
	return id, nil
}

// serveControl is the sandbox's own JSON API under /_sandbox/. {wa_id} is a phone number, or a
// business-scoped user id ("US.13491208655302741918") for a customer with a username, whose
// messages then come without a phone number; "user_id" on a phone number's message gives that
// customer a business-scoped user id (SetUserID), carried in their webhooks from then on.
//
//	POST   customers/{wa_id}/text         {"body","name","user_id"}
//	POST   customers/{wa_id}/button       {"payload","text","context_message_id","name"}
//	POST   customers/{wa_id}/interactive  {"type":"button_reply"|"list_reply","id","title","description","context_message_id","name"}
//	POST   customers/{wa_id}/image        {"mime_type","data" (base64),"caption"}; also document ("filename"),
//	                                      audio ("voice"), video, sticker: the file gets a media id
//	POST   customers/{wa_id}/location     {"latitude","longitude","place","address"}
//	POST   customers/{wa_id}/contacts     {"contact_name","phones"}
//	POST   customers/{wa_id}/reaction     {"message_id","emoji"}
//	GET    messages[?to=wa_id]            what the phone received, with statuses so far
//	DELETE messages                       reset everything
//	GET    templates                      the template registry
//	POST   fail                           {"code","count","async"} inject failures for the next sends
//	POST   templates/{name}/{lang}/status {"event","reason"} Meta reviews a template: a signed
//	                                      message_template_status_update webhook (APPROVED, PAUSED...)
//	POST   templates/{name}/{lang}/category {"category"}: a template_category_update webhook
//	POST   templates/{name}/{lang}/reject {"reason"}: the next review of that template language
//	                                      (after a create or edit) rejects it with this reason
//	POST   number/quality                 {"event","current_limit","quality_rating"}: a
//	                                      phone_number_quality_update webhook (FLAGGED, UNFLAGGED,
//	                                      UPGRADE, DOWNGRADE; TIER_1K...); the tier and rating
//	                                      (GREEN, YELLOW, RED, NA) are what GET /{phone_number_id} says
//	POST   account                        {"event","ban_state","ban_date","restriction_type",
//	                                      "expiration","violation_type"}: an account_update webhook
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request, rest string) {
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "customers":
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		if parts[2] == "call" {
			s.serveCall(w, r, parts[1])
			return
		}
		s.serveCustomer(w, r, parts[1], parts[2])
	case len(parts) == 1 && parts[0] == "messages":
		switch r.Method {
		case http.MethodGet:
			if to := r.URL.Query().Get("to"); to != "" {
				msgs := s.Sent(to)
				if msgs == nil {
					msgs = []Outbound{}
				}
				writeJSON(w, http.StatusOK, msgs)
				return
			}
			all := s.All()
			if all == nil {
				all = []Outbound{}
			}
			writeJSON(w, http.StatusOK, all)
		case http.MethodDelete:
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		default:
			controlError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
		}
	case len(parts) == 1 && parts[0] == "templates":
		writeJSON(w, http.StatusOK, s.Templates())
	case len(parts) == 1 && parts[0] == "account":
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.serveAccountUpdate(w, r)
	case len(parts) == 2 && parts[0] == "number" && parts[1] == "quality":
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.serveQualityChange(w, r)
	case len(parts) == 4 && parts[0] == "templates" && parts[3] == "reject":
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if err := decodeControl(r, &req); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		s.injectRejection(parts[1], parts[2], req.Reason)
		w.WriteHeader(http.StatusNoContent)
	case len(parts) == 4 && parts[0] == "templates" && (parts[3] == "status" || parts[3] == "category"):
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		s.serveTemplateChange(w, r, parts[1], parts[2], parts[3])
	case len(parts) == 1 && parts[0] == "fail":
		if r.Method != http.MethodPost {
			controlError(w, http.StatusMethodNotAllowed, "use POST")
			return
		}
		var f Failure
		if err := decodeControl(r, &f); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		if f.Code == 0 || f.Count <= 0 {
			controlError(w, http.StatusBadRequest, "code and a positive count are required")
			return
		}
		s.InjectFailures(f)
		w.WriteHeader(http.StatusNoContent)
	default:
		controlError(w, http.StatusNotFound, "unknown sandbox path /_sandbox/"+rest)
	}
}

type customerRequest struct {
	Name   string `json:"name"`
	UserID string `json:"user_id"` // a phone number's business-scoped user id
	// text
	Body string `json:"body"`
	// button and interactive
	Payload          string `json:"payload"`
	Text             string `json:"text"`
	ContextMessageID string `json:"context_message_id"`
	Type             string `json:"type"`
	ID               string `json:"id"`
	Title            string `json:"title"`
	Description      string `json:"description"`
	// image, document, audio, video, sticker
	MimeType string `json:"mime_type"`
	Data     []byte `json:"data"` // base64
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
	Voice    bool   `json:"voice"`
	// location
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Place     string  `json:"place"`
	Address   string  `json:"address"`
	// contacts
	ContactName string   `json:"contact_name"`
	Phones      []string `json:"phones"`
	// reaction
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

func (s *Sandbox) serveCustomer(w http.ResponseWriter, r *http.Request, waID, kind string) {
	var req customerRequest
	if err := decodeControl(r, &req); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Name != "" {
		s.SetProfileName(waID, req.Name)
	}
	if req.UserID != "" {
		if err := s.SetUserID(waID, req.UserID); err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	var id string
	var err error
	switch kind {
	case "text":
		id, err = s.CustomerText(ctx, waID, req.Body)
	case "button":
		id, err = s.CustomerButton(ctx, waID, Button{Payload: req.Payload, Text: req.Text, ContextMessageID: req.ContextMessageID})
	case "interactive":
		id, err = s.CustomerInteractive(ctx, waID, Reply{Type: req.Type, ID: req.ID, Title: req.Title, Description: req.Description, ContextMessageID: req.ContextMessageID})
	case "image", "document", "audio", "video", "sticker":
		id, err = s.CustomerMedia(ctx, waID, kind, MediaFile{MimeType: req.MimeType, Data: req.Data, Caption: req.Caption, Filename: req.Filename, Voice: req.Voice})
	case "location":
		id, err = s.CustomerLocation(ctx, waID, Location{Latitude: req.Latitude, Longitude: req.Longitude, Name: req.Place, Address: req.Address})
	case "contacts":
		id, err = s.CustomerContact(ctx, waID, Contact{Name: req.ContactName, Phones: req.Phones})
	case "reaction":
		id, err = s.CustomerReaction(ctx, waID, req.MessageID, req.Emoji)
	default:
		controlError(w, http.StatusNotFound, "unknown customer action "+kind+" (text, button, interactive, image, document, audio, video, sticker, location, contacts, reaction)")
		return
	}
	switch {
	case err != nil && id != "":
		// The message exists and the window is open, but our webhook receiver did not take it.
		writeJSON(w, http.StatusBadGateway, map[string]string{"id": id, "error": err.Error()})
	case err != nil:
		controlError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]string{"id": id})
	}
}

func decodeControl(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode request: %w", err)
	}
	return nil
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// serveTemplateChange plays Meta reviewing a template: a signed WABA webhook of the field Meta
// uses (message_template_status_update or template_category_update), delivered like statuses.
// Shapes from Meta's webhook reference for those fields.
func (s *Sandbox) serveTemplateChange(w http.ResponseWriter, r *http.Request, name, lang, what string) {
	var req struct {
		Event    string `json:"event"`
		Reason   string `json:"reason"`
		Category string `json:"category"`
	}
	if err := decodeControl(r, &req); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	value := map[string]any{"message_template_id": templateID(name, lang), "message_template_name": name,
		"message_template_language": lang}
	field := "message_template_status_update"
	switch {
	case what == "status" && req.Event != "":
		value["event"], value["reason"] = strings.ToUpper(req.Event), cmp.Or(req.Reason, "NONE")
	case what == "category" && req.Category != "":
		field = "template_category_update"
		value["new_category"] = strings.ToUpper(req.Category)
	default:
		controlError(w, http.StatusBadRequest, "status needs an event (APPROVED, PAUSED, DISABLED, REJECTED...), category a category")
		return
	}
	s.setTemplateState(name, lang, strings.ToUpper(req.Event), req.Reason, strings.ToUpper(req.Category))
	s.deliverWABAChange(w, r, field, value)
}

// templateID is a stable numeric id for a template language (Meta's are numbers).
func templateID(name, lang string) int64 {
	var h int64 = 1469598103
	for _, c := range name + "|" + lang {
		h = (h*16777619 + int64(c)) % 1_000_000_000_000_000
	}
	return h
}

// serveQualityChange plays Meta re-rating the business number: a phone_number_quality_update
// webhook (shape from Meta's webhook reference for that field).
// "quality_rating" (GREEN, YELLOW, RED, NA) and "current_limit" also change what GET
// /{phone_number_id} answers; a quality_rating without an event sends no webhook (Meta sends
// none for a rating).
func (s *Sandbox) serveQualityChange(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Event         string `json:"event"`
		CurrentLimit  string `json:"current_limit"`
		QualityRating string `json:"quality_rating"`
	}
	if err := decodeControl(r, &req); err != nil || (req.Event == "" && req.QualityRating == "") {
		controlError(w, http.StatusBadRequest, "an event (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE) or a quality_rating is required")
		return
	}
	if !s.setNumber(req.QualityRating, req.CurrentLimit) {
		controlError(w, http.StatusBadRequest, "quality_rating must be GREEN, YELLOW, RED or NA and current_limit TIER_<n> (TIER_1K...)")
		return
	}
	if req.Event == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.deliverWABAChange(w, r, "phone_number_quality_update", map[string]any{
		"display_phone_number": s.cfg.DisplayPhoneNumber, "event": strings.ToUpper(req.Event),
		"current_limit": strings.ToUpper(req.CurrentLimit)})
}

// deliverWABAChange sends one signed WABA webhook change and answers the control request.
func (s *Sandbox) deliverWABAChange(w http.ResponseWriter, r *http.Request, field string, value map[string]any) {
	if s.cfg.WebhookURL == "" {
		controlError(w, http.StatusConflict, "the sandbox has no webhook URL to deliver to")
		return
	}
	if err := s.deliver(r.Context(), wabaChange(s.cfg.BusinessAccountID, field, value)); err != nil {
		controlError(w, http.StatusBadGateway, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
