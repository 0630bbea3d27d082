package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const maxRequestBody = 1 << 20

// sendRequest is the body of POST /{phone_number_id}/messages as Meta documents it. Decoding is
// strict (unknown fields → 100), so a misspelt key in a client fails here as it would at Meta.
type sendRequest struct {
	MessagingProduct      string          `json:"messaging_product"`
	RecipientType         string          `json:"recipient_type"`
	To                    string          `json:"to"`
	Recipient             string          `json:"recipient"` // a business-scoped user id, in place of to
	Type                  string          `json:"type"`
	Context               *contextReq     `json:"context"`
	BizOpaqueCallbackData string          `json:"biz_opaque_callback_data"`
	Text                  *textReq        `json:"text"`
	Template              *templateReq    `json:"template"`
	Interactive           *interactiveReq `json:"interactive"`
	Image                 *mediaReq       `json:"image"`
	Document              *mediaReq       `json:"document"`
	Video                 *mediaReq       `json:"video"`
	Audio                 *mediaReq       `json:"audio"`
	Sticker               *mediaReq       `json:"sticker"`
	Reaction              *reactionReq    `json:"reaction"`
	Location              json.RawMessage `json:"location"`
	Contacts              json.RawMessage `json:"contacts"`
	// Mark-as-read form: {"messaging_product":"whatsapp","status":"read","message_id":"wamid..."}.
	Status          string          `json:"status"`
	MessageID       string          `json:"message_id"`
	TypingIndicator json.RawMessage `json:"typing_indicator"`
}

type contextReq struct {
	MessageID string `json:"message_id"`
}

type textReq struct {
	Body       *string `json:"body"`
	PreviewURL bool    `json:"preview_url"`
}

type templateReq struct {
	Name       string         `json:"name"`
	Namespace  string         `json:"namespace"`
	Language   *languageReq   `json:"language"`
	Components []componentReq `json:"components"`
}

type languageReq struct {
	Code   string `json:"code"`
	Policy string `json:"policy"`
}

type componentReq struct {
	Type       string          `json:"type"`
	SubType    string          `json:"sub_type"`
	Index      json.RawMessage `json:"index"` // Meta's examples use "0"; a number is accepted too
	Parameters []parameterReq  `json:"parameters"`
}

type parameterReq struct {
	Type          string          `json:"type"`
	ParameterName string          `json:"parameter_name"`
	Text          *string         `json:"text"`
	Payload       *string         `json:"payload"`
	Currency      json.RawMessage `json:"currency"`
	DateTime      json.RawMessage `json:"date_time"`
	Image         json.RawMessage `json:"image"`
	Document      json.RawMessage `json:"document"`
	Video         json.RawMessage `json:"video"`
	Location      json.RawMessage `json:"location"`
	Action        json.RawMessage `json:"action"`
	CouponCode    string          `json:"coupon_code"`
}

type interactiveReq struct {
	Type   string          `json:"type"`
	Header json.RawMessage `json:"header"`
	Body   *textOnly       `json:"body"`
	Footer *textOnly       `json:"footer"`
	Action *actionReq      `json:"action"`
}

type textOnly struct {
	Text string `json:"text"`
}

type actionReq struct {
	Button            string          `json:"button"`
	Buttons           []buttonReq     `json:"buttons"`
	Sections          []sectionReq    `json:"sections"`
	Name              string          `json:"name"`
	Parameters        json.RawMessage `json:"parameters"`
	CatalogID         string          `json:"catalog_id"`
	ProductRetailerID string          `json:"product_retailer_id"`
}

type buttonReq struct {
	Type  string `json:"type"`
	Reply struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	} `json:"reply"`
}

type sectionReq struct {
	Title        string          `json:"title"`
	Rows         []rowReq        `json:"rows"`
	ProductItems json.RawMessage `json:"product_items"`
}

type rowReq struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
}

type mediaReq struct {
	ID       string `json:"id"`
	Link     string `json:"link"`
	Caption  string `json:"caption"`
	Filename string `json:"filename"`
}

type reactionReq struct {
	MessageID string  `json:"message_id"`
	Emoji     *string `json:"emoji"`
}

func (s *Sandbox) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if i := strings.Index(p, "/_sandbox/"); i >= 0 {
		s.serveControl(w, r, p[i+len("/_sandbox/"):])
		return
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	if s.routeMedia(w, r, segs) {
		return
	}
	if len(segs) >= 2 && segs[len(segs)-1] == "message_templates" {
		s.serveMessageTemplates(w, r, segs[len(segs)-2])
		return
	}
	if len(segs) >= 2 && segs[len(segs)-1] == "messages" {
		s.serveMessages(w, r, segs[len(segs)-2])
		return
	}
	if len(segs) >= 1 && segs[len(segs)-1] == s.cfg.PhoneNumberID {
		s.serveNumber(w, r)
		return
	}
	if len(segs) >= 1 && s.isTemplateID(segs[len(segs)-1]) {
		s.serveTemplateEdit(w, r, segs[len(segs)-1])
		return
	}
	writeGraphError(w, &apiError{code: 100, details: "Unknown path components: " + p})
}

// serveMessages is POST /{version?}/{phone_number_id}/messages.
func (s *Sandbox) serveMessages(w http.ResponseWriter, r *http.Request, phoneID string) {
	if s.cfg.Latency > 0 {
		t := time.NewTimer(s.cfg.Latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if r.Method != http.MethodPost {
		writeGraphError(w, &apiError{code: 100, details: "Unsupported " + strings.ToLower(r.Method) + " request."})
		return
	}
	if phoneID != s.cfg.PhoneNumberID {
		// Meta's answer for an id the token cannot use.
		writeGraphError(w, &apiError{code: 100, details: "Unsupported post request. Object with ID '" + phoneID +
			"' does not exist, cannot be loaded due to missing permissions, or does not support this operation."})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		writeGraphError(w, &apiError{code: 100, details: "read request body: " + err.Error()})
		return
	}
	if len(raw) > maxRequestBody {
		writeGraphError(w, &apiError{code: 100, details: "Request body too large."})
		return
	}
	var req sendRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeGraphError(w, decodeError(err))
		return
	}
	if req.MessagingProduct != "whatsapp" {
		if req.MessagingProduct == "" {
			writeGraphError(w, errf(100, "The parameter messaging_product is required."))
		} else {
			writeGraphError(w, errf(100, "Param messaging_product must be one of {WHATSAPP} - got %q.", req.MessagingProduct))
		}
		return
	}
	if req.Status != "" || req.MessageID != "" {
		s.markRead(w, &req)
		return
	}
	resp, ev, e := s.send(&req, raw)
	if e != nil {
		writeGraphError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, resp)
	// The first status is scheduled once the answer is written, so that (as with Meta, almost
	// always) the client learns the wamid before its first status webhook arrives.
	ev.due = time.Now()
	if !s.q.push(ev) {
		s.log.Warn("status webhook queue full, status dropped", "wa_msg_id", ev.msgID)
	}
}

// decodeError answers a body that does not fit the request shape as the Graph API does: a field
// of the wrong type or an unknown key is a parameter error naming it (100), and only text that
// is not JSON at all is reported as such.
func decodeError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return errf(100, "Param %s must be %s.", graphParam(te.Field), jsonKind(te.Type.Kind()))
	}
	// encoding/json reports an unknown key as `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return errf(100, "Unexpected key %s on param.", name)
	}
	return errf(100, "Invalid JSON body: %s", err)
}

// graphParam writes a decoder field path (template.components.parameters.text) as Graph does
// (template['components']['parameters']['text']).
func graphParam(path string) string {
	parts := strings.Split(path, ".")
	out := parts[0]
	for _, p := range parts[1:] {
		out += "['" + p + "']"
	}
	return out
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "an object"
	default:
		return "a number"
	}
}

// checkToken applies the bearer token check: missing or wrong → 401 OAuthException 190.
func (s *Sandbox) checkToken(r *http.Request) *apiError {
	tok := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		tok = strings.TrimSpace(h[7:])
	} else if q := r.URL.Query().Get("access_token"); q != "" {
		tok = q // the Graph API also takes the token as a query parameter
	}
	if tok == "" || tok != s.cfg.AccessToken {
		return &apiError{code: 190}
	}
	return nil
}

func (s *Sandbox) markRead(w http.ResponseWriter, req *sendRequest) {
	if req.Status != "read" {
		writeGraphError(w, errf(100, "Param status must be one of {READ} - got %q.", req.Status))
		return
	}
	if !strings.HasPrefix(req.MessageID, "wamid.") {
		writeGraphError(w, errf(100, "Invalid parameter: message_id %q is not a WhatsApp message id.", req.MessageID))
		return
	}
	s.mu.Lock()
	if in := s.inByID[req.MessageID]; in != nil {
		in.ReadByBusiness = true
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

type sendResponse struct {
	MessagingProduct string        `json:"messaging_product"`
	Contacts         []respContact `json:"contacts"`
	Messages         []respMessage `json:"messages"`
}

type respContact struct {
	Input  string `json:"input"`
	WaID   string `json:"wa_id,omitempty"`
	UserID string `json:"user_id,omitempty"` // a send by recipient
}

type respMessage struct {
	ID            string `json:"id"`
	MessageStatus string `json:"message_status,omitempty"`
}

// send validates one message and, when Meta would accept it, records it and schedules its
// status webhooks. Order of checks: shape, template registry, injected failure, rate limits,
// 24-hour window, reachability.
func (s *Sandbox) send(req *sendRequest, raw []byte) (*sendResponse, statusEvent, *apiError) {
	if req.RecipientType != "" && req.RecipientType != "individual" {
		return nil, statusEvent{}, errf(100, "Param recipient_type must be one of {INDIVIDUAL} - got %q.", req.RecipientType)
	}
	waID, byUserID, e := recipientOf(req)
	if e != nil {
		return nil, statusEvent{}, e
	}
	if waID == s.cfg.DisplayPhoneNumber {
		return nil, statusEvent{}, &apiError{code: 131021}
	}
	if req.Type == "" {
		req.Type = "text" // Meta's default
	}
	if e := s.validate(req); e != nil {
		return nil, statusEvent{}, e
	}

	now := s.cfg.Now()
	isTemplate := req.Type == "template"
	s.mu.Lock()
	defer s.mu.Unlock()

	var asyncCode int
	if f, ok := s.takeFailureLocked(); ok {
		if !f.async() {
			return nil, statusEvent{}, &apiError{code: f.Code}
		}
		asyncCode = f.Code
	}
	if e := s.allowLocked(waID, now); e != nil {
		return nil, statusEvent{}, e
	}
	// Everything but a template is a free-form message and needs the customer-service window.
	if !isTemplate && !s.windowOpenLocked(waID, now) {
		if !s.cfg.AsyncWindowErrors {
			return nil, statusEvent{}, &apiError{code: 131047}
		}
		if asyncCode == 0 {
			asyncCode = 131047
		}
	}
	if s.notOn[waID] && asyncCode == 0 {
		asyncCode = 131026
	}

	p := s.phoneLocked(waID)
	id := s.ids.wamid(waID, true)
	o := &Outbound{ID: id, To: waID, Type: req.Type, Body: compactJSON(raw), At: now}
	ev := statusEvent{msgID: id, waID: waID, userID: p.userID}
	contact := respContact{Input: req.To, WaID: waID}
	if byUserID {
		o.Recipient, ev.userID, ev.byUserID = waID, waID, true
		contact = respContact{Input: req.Recipient, UserID: waID}
	}
	s.addOutboundLocked(p, o)

	if asyncCode != 0 {
		ev.status, ev.errCode = "failed", asyncCode
	} else {
		ev.status = "sent"
		ev.category, ev.billable = "service", false
		if isTemplate {
			ev.category, ev.billable = "utility", true
		}
		ev.conv = s.conversationLocked(p, ev.category, now)
	}
	s.log.Debug("message accepted", "wa_msg_id", id, "to", mask(waID), "type", req.Type)

	msg := respMessage{ID: id}
	if isTemplate {
		msg.MessageStatus = "accepted"
	}
	return &sendResponse{
		MessagingProduct: "whatsapp",
		Contacts:         []respContact{contact},
		Messages:         []respMessage{msg},
	}, ev, nil
}

// recipientOf is who a send goes to: "to" (a phone number) when set, which wins over
// "recipient" as at Meta, else "recipient", a business-scoped user id (byUserID).
func recipientOf(req *sendRequest) (id string, byUserID bool, e *apiError) {
	switch {
	case req.To != "":
		waID, err := normalizeNumber(req.To)
		if err != nil {
			return "", false, errf(131009, "Invalid phone number in 'to': %s", err)
		}
		return waID, false, nil
	case req.Recipient != "":
		if !bsuidRE.MatchString(req.Recipient) {
			// Meta's exact message for a malformed recipient is not documented.
			return "", false, errf(100, "Invalid parameter: recipient %q is not a business-scoped user id.", req.Recipient)
		}
		return req.Recipient, true, nil
	}
	return "", false, errf(100, "The parameter to is required.")
}

func compactJSON(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return json.RawMessage(bytes.Clone(raw))
	}
	return json.RawMessage(b.Bytes())
}

// validate checks the message object for req.Type against Meta's documented shape and limits.
func (s *Sandbox) validate(req *sendRequest) *apiError {
	present := map[string]bool{
		"text": req.Text != nil, "template": req.Template != nil, "interactive": req.Interactive != nil,
		"image": req.Image != nil, "document": req.Document != nil, "video": req.Video != nil,
		"audio": req.Audio != nil, "sticker": req.Sticker != nil, "reaction": req.Reaction != nil,
		"location": req.Location != nil, "contacts": req.Contacts != nil,
	}
	known, ok := present[req.Type]
	if !ok {
		return errf(100, "Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got %q.", req.Type)
	}
	if !known {
		return errf(100, "The parameter %s is required.", req.Type)
	}
	for k, v := range present {
		if v && k != req.Type {
			return errf(100, "Param %s is not allowed for a message of type %s.", k, req.Type)
		}
	}
	switch req.Type {
	case "text":
		return validateText(req.Text)
	case "template":
		return s.validateTemplate(req.Template)
	case "interactive":
		return validateInteractive(req.Interactive)
	case "image", "document", "video", "audio", "sticker":
		m := map[string]*mediaReq{"image": req.Image, "document": req.Document, "video": req.Video, "audio": req.Audio, "sticker": req.Sticker}[req.Type]
		return validateMedia(req.Type, m)
	case "location":
		return validateLocation(req.Location)
	case "contacts":
		return validateContacts(req.Contacts)
	case "reaction":
		if req.Reaction.MessageID == "" {
			return errf(131008, "The parameter reaction['message_id'] is required.")
		}
		if req.Reaction.Emoji == nil {
			return errf(131008, "The parameter reaction['emoji'] is required.")
		}
	}
	return nil
}

// validateLocation checks a location message: latitude and longitude are required numbers in
// range (Meta's reference: "latitude: Required. Location latitude in decimal degrees").
func validateLocation(raw json.RawMessage) *apiError {
	var l struct {
		Latitude  *float64 `json:"latitude"`
		Longitude *float64 `json:"longitude"`
		Name      string   `json:"name"`
		Address   string   `json:"address"`
	}
	if err := strictDecode(raw, &l); err != nil {
		return decodeError(err)
	}
	switch {
	case l.Latitude == nil:
		return errf(131008, "The parameter location['latitude'] is required.")
	case l.Longitude == nil:
		return errf(131008, "The parameter location['longitude'] is required.")
	case *l.Latitude < -90 || *l.Latitude > 90 || *l.Longitude < -180 || *l.Longitude > 180:
		return errf(131009, "Param location['latitude'] and location['longitude'] must be valid coordinates.")
	}
	return nil
}

// validateContacts checks a contacts message: one or more cards, each with
// name.formatted_name, the one field Meta's reference marks required.
func validateContacts(raw json.RawMessage) *apiError {
	var cards []struct {
		Name *struct {
			FormattedName string `json:"formatted_name"`
		} `json:"name"`
	}
	if err := json.Unmarshal(raw, &cards); err != nil {
		return decodeError(err)
	}
	if len(cards) == 0 {
		return errf(131008, "The parameter contacts is required.")
	}
	for i, c := range cards {
		if c.Name == nil || c.Name.FormattedName == "" {
			return errf(131008, "The parameter contacts[%d]['name']['formatted_name'] is required.", i)
		}
	}
	return nil
}

func strictDecode(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func validateText(t *textReq) *apiError {
	if t.Body == nil || *t.Body == "" {
		return errf(100, "The parameter text['body'] is required.")
	}
	if n := utf8.RuneCountInString(*t.Body); n > 4096 {
		return errf(100, "Param text['body'] must be at most 4096 characters long (got %d).", n)
	}
	return nil
}

func (s *Sandbox) validateTemplate(t *templateReq) *apiError {
	if t.Name == "" {
		return errf(100, "The parameter template['name'] is required.")
	}
	if t.Language == nil || t.Language.Code == "" {
		return errf(100, "The parameter template['language']['code'] is required.")
	}
	def, ok := s.lookupTemplate(t.Name, t.Language.Code)
	switch {
	case !ok || def.Status == "PENDING" || def.Status == "REJECTED":
		return errf(132001, "template name (%s) does not exist in %s", t.Name, t.Language.Code)
	case def.Status == "PAUSED":
		return errf(132015, "template %s (%s) is paused because of low quality", t.Name, t.Language.Code)
	case def.Status == "DISABLED":
		return errf(132016, "template %s (%s) was disabled because of low quality", t.Name, t.Language.Code)
	}
	defBodyParams, defButtons := def.shape()
	var bodyParams, headerParams int
	buttons := map[int]bool{}
	for i, c := range t.Components {
		switch strings.ToLower(c.Type) {
		case "body":
			for j, p := range c.Parameters {
				if e := validateTextParam(p, "body", j); e != nil {
					return e
				}
			}
			bodyParams += len(c.Parameters)
		case "header":
			headerParams += len(c.Parameters)
		case "button":
			idx, err := parseIndex(c.Index)
			if err != nil {
				return errf(131009, "components[%d]: button index %s is not a number", i, string(c.Index))
			}
			sub := strings.ToLower(c.SubType)
			if sub != "quick_reply" && sub != "url" && sub != "copy_code" && sub != "flow" && sub != "catalog" {
				return errf(100, "components[%d]: Param sub_type must be one of {QUICK_REPLY, URL, COPY_CODE, FLOW, CATALOG} - got %q.", i, c.SubType)
			}
			if sub == "quick_reply" {
				if idx < 0 || idx >= defButtons {
					return errf(131009, "Button at index %d of type Quick reply does not exist in template %s (it has %d quick-reply buttons).", idx, t.Name, defButtons)
				}
				if len(c.Parameters) != 1 || c.Parameters[0].Type != "payload" || c.Parameters[0].Payload == nil {
					return errf(131008, "components[%d]: a quick_reply button needs exactly one parameter of type payload.", i)
				}
				if n := utf8.RuneCountInString(*c.Parameters[0].Payload); n > 1000 {
					return errf(131009, "components[%d]: button payload is %d characters, at most 1000.", i, n)
				}
			}
			if buttons[idx] {
				return errf(131009, "components[%d]: duplicate button index %d.", i, idx)
			}
			buttons[idx] = true
		case "footer":
		default:
			return errf(100, "components[%d]: Param type must be one of {HEADER, BODY, BUTTON} - got %q.", i, c.Type)
		}
	}
	if bodyParams != defBodyParams {
		return errf(132000, "body: number of localizable_params (%d) does not match the expected number of params (%d)", bodyParams, defBodyParams)
	}
	if headerParams != 0 {
		// The registry's templates have text headers without variables.
		return errf(132000, "header: number of localizable_params (%d) does not match the expected number of params (0)", headerParams)
	}
	return nil
}

func validateTextParam(p parameterReq, where string, j int) *apiError {
	switch p.Type {
	case "text":
		if p.Text == nil || *p.Text == "" {
			return errf(131008, "%s parameter %d: the parameter text is required.", where, j)
		}
		if n := utf8.RuneCountInString(*p.Text); n > 32768 {
			return errf(132005, "%s parameter %d is %d characters long.", where, j, n)
		}
		if strings.ContainsAny(*p.Text, "\n\t") || strings.Contains(*p.Text, "    ") {
			// Meta: "Param text cannot have new-line/tab characters or more than 4 consecutive spaces".
			return errf(131009, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces")
		}
	case "currency", "date_time":
	default:
		return errf(131009, "%s parameter %d: type %q is not allowed in a body (text, currency, date_time).", where, j, p.Type)
	}
	return nil
}

func parseIndex(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return 0, errors.New("missing index")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strconv.Atoi(s)
	}
	var n int
	err := json.Unmarshal(raw, &n)
	return n, err
}

func validateInteractive(in *interactiveReq) *apiError {
	if in.Body != nil {
		if n := utf8.RuneCountInString(in.Body.Text); n > 1024 {
			return errf(131009, "Body text length invalid. Min length: 1, Max length: 1024 (got %d).", n)
		}
	}
	if in.Footer != nil {
		if n := utf8.RuneCountInString(in.Footer.Text); n > 60 {
			return errf(131009, "Footer text length invalid. Max length: 60 (got %d).", n)
		}
	}
	needBody := func() *apiError {
		if in.Body == nil || in.Body.Text == "" {
			return errf(131008, "The parameter interactive['body'] is required.")
		}
		return nil
	}
	if in.Action == nil {
		return errf(131008, "The parameter interactive['action'] is required.")
	}
	switch in.Type {
	case "button":
		if e := needBody(); e != nil {
			return e
		}
		bs := in.Action.Buttons
		if len(bs) < 1 || len(bs) > 3 {
			return errf(131009, "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3 (got %d).", len(bs))
		}
		ids, titles := map[string]bool{}, map[string]bool{}
		for i, b := range bs {
			if b.Type != "reply" {
				return errf(131009, "buttons[%d]: Param type must be one of {REPLY} - got %q.", i, b.Type)
			}
			if n := utf8.RuneCountInString(b.Reply.Title); n < 1 || n > 20 {
				return errf(131009, "Button title length invalid. Min length: 1, Max length: 20 (button %d has %d).", i, n)
			}
			if n := utf8.RuneCountInString(b.Reply.ID); n < 1 || n > 256 {
				return errf(131009, "Button id length invalid. Min length: 1, Max length: 256 (button %d has %d).", i, n)
			}
			if ids[b.Reply.ID] || titles[b.Reply.Title] {
				return errf(131009, "Button title or id is not unique (button %d).", i)
			}
			ids[b.Reply.ID], titles[b.Reply.Title] = true, true
		}
	case "list":
		if e := needBody(); e != nil {
			return e
		}
		if n := utf8.RuneCountInString(in.Action.Button); n < 1 || n > 20 {
			return errf(131009, "Button text length invalid. Min length: 1, Max length: 20 (got %d).", n)
		}
		secs := in.Action.Sections
		if len(secs) < 1 || len(secs) > 10 {
			return errf(131009, "Invalid sections count. Min allowed sections: 1, Max allowed sections: 10 (got %d).", len(secs))
		}
		rows, ids := 0, map[string]bool{}
		for i, sec := range secs {
			if len(secs) > 1 && sec.Title == "" {
				return errf(131008, "sections[%d]: a section title is required when there is more than one section.", i)
			}
			if n := utf8.RuneCountInString(sec.Title); n > 24 {
				return errf(131009, "Section title length invalid. Max length: 24 (section %d has %d).", i, n)
			}
			if len(sec.Rows) == 0 {
				return errf(131009, "sections[%d]: a section needs at least one row.", i)
			}
			for j, r := range sec.Rows {
				rows++
				if n := utf8.RuneCountInString(r.Title); n < 1 || n > 24 {
					return errf(131009, "Row title length invalid. Min length: 1, Max length: 24 (section %d row %d has %d).", i, j, n)
				}
				if n := utf8.RuneCountInString(r.ID); n < 1 || n > 200 {
					return errf(131009, "Row id length invalid. Min length: 1, Max length: 200 (section %d row %d has %d).", i, j, n)
				}
				if n := utf8.RuneCountInString(r.Description); n > 72 {
					return errf(131009, "Row description length invalid. Max length: 72 (section %d row %d has %d).", i, j, n)
				}
				if ids[r.ID] {
					return errf(131009, "Row id %q is not unique.", r.ID)
				}
				ids[r.ID] = true
			}
		}
		if rows > 10 {
			return errf(131009, "Total row count exceed max allowed count: 10 (got %d).", rows)
		}
	case "voice_call":
		return validateVoiceCall(in)
	case "cta_url", "flow", "product", "product_list", "location_request_message", "catalog_message", "address_message",
		"order_details", "order_status", "call_permission_request":
		// Accepted as Meta would; not inspected further.
	case "":
		return errf(100, "The parameter interactive['type'] is required.")
	default:
		return errf(100, "Param interactive['type'] must be one of {BUTTON, LIST, CTA_URL, FLOW, PRODUCT, PRODUCT_LIST, ...} - got %q.", in.Type)
	}
	return nil
}

// validateVoiceCall checks a WhatsApp call button: a body, action name voice_call, and the
// optional parameters display_text (≤ 20), ttl_minutes (1..43200) and payload (≤ 512).
func validateVoiceCall(in *interactiveReq) *apiError {
	if in.Body == nil || in.Body.Text == "" {
		return errf(131008, "The parameter interactive['body'] is required.")
	}
	if in.Action.Name != "voice_call" {
		return errf(131009, "Param interactive['action']['name'] must be voice_call - got %q.", in.Action.Name)
	}
	if len(in.Action.Parameters) == 0 {
		return nil
	}
	var p struct {
		DisplayText string `json:"display_text"`
		TTLMinutes  *int   `json:"ttl_minutes"`
		Payload     string `json:"payload"`
	}
	if err := json.Unmarshal(in.Action.Parameters, &p); err != nil {
		return errf(100, "Param interactive['action']['parameters'] is not an object: %v", err)
	}
	if n := utf8.RuneCountInString(p.DisplayText); n > 20 {
		return errf(131009, "Param display_text must be at most 20 characters long (got %d).", n)
	}
	if p.TTLMinutes != nil && (*p.TTLMinutes < 1 || *p.TTLMinutes > 43200) {
		return errf(131009, "Param ttl_minutes must be between 1 and 43200 (got %d).", *p.TTLMinutes)
	}
	if n := utf8.RuneCountInString(p.Payload); n > 512 {
		return errf(131009, "Param payload must be at most 512 characters long (got %d).", n)
	}
	return nil
}

func validateMedia(kind string, m *mediaReq) *apiError {
	switch {
	case m.ID == "" && m.Link == "":
		return errf(131008, "The parameter %s['id'] or %s['link'] is required.", kind, kind)
	case m.ID != "" && m.Link != "":
		return errf(131009, "Only one of %s['id'] and %s['link'] may be set.", kind, kind)
	}
	if m.Link != "" {
		u, err := url.Parse(m.Link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errf(131009, "Param %s['link'] must be an http(s) URL.", kind)
		}
	}
	if m.Caption != "" && (kind == "audio" || kind == "sticker") {
		return errf(100, "Param %s['caption'] is not a valid parameter.", kind)
	}
	if n := utf8.RuneCountInString(m.Caption); n > 1024 {
		return errf(131009, "Param %s['caption'] must be at most 1024 characters long (got %d).", kind, n)
	}
	if m.Filename != "" && kind != "document" {
		return errf(100, "Param %s['filename'] is not a valid parameter.", kind)
	}
	return nil
}
