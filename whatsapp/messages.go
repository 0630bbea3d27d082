package whatsapp

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Template is an approved message template with its parameters.
type Template struct {
	Name     string
	Language string // e.g. "en", "en_US", "ar"
	// HeaderParams fill a text header's variable (Meta allows one).
	HeaderParams []string
	BodyParams   []string
	// QuickReplyPayloads holds one payload per quick-reply button, by button index; Meta returns the
	// payload in the webhook when the customer taps the button.
	QuickReplyPayloads []string
}

// Button is an interactive reply button.
type Button struct {
	ID    string
	Title string
}

// Section groups rows of an interactive list.
type Section struct {
	Title string
	Rows  []Row
}

// Row is one choice of an interactive list.
type Row struct {
	ID          string
	Title       string
	Description string
}

// MediaKind is the type of a media message.
type MediaKind string

// Media kinds the client sends.
const (
	MediaImage    MediaKind = "image"
	MediaDocument MediaKind = "document"
	MediaVideo    MediaKind = "video"
	MediaAudio    MediaKind = "audio"
)

// Media is a media message by public link or uploaded media id (exactly one of them).
type Media struct {
	Kind     MediaKind
	Link     string
	ID       string
	Caption  string // not for audio
	Filename string // document only
}

// Meta's documented limits (characters, counted as Unicode code points).
const (
	maxTextBody        = 4096
	maxButtonBody      = 1024
	maxButtons         = 3
	maxButtonID        = 256
	maxButtonTitle     = 20
	maxListBody        = 4096
	maxListButton      = 20
	maxSections        = 10
	maxListRows        = 10
	maxRowID           = 200
	maxRowTitle        = 24
	maxRowDescription  = 72
	maxSectionTitle    = 24
	maxCaption         = 1024
	maxTemplateName    = 512
	maxHeaderParams    = 1
	maxHeaderParamText = 60
	maxQuickReplies    = 10
	maxQuickReplyData  = 128
)

// Request bodies, in the field order of Meta's documentation.
type outMessage struct {
	MessagingProduct string          `json:"messaging_product"`
	RecipientType    string          `json:"recipient_type"`
	To               string          `json:"to,omitempty"`
	Recipient        string          `json:"recipient,omitempty"` // a BSUID, in place of to
	Type             string          `json:"type"`
	Text             *outText        `json:"text,omitempty"`
	Template         *outTemplate    `json:"template,omitempty"`
	Interactive      *outInteractive `json:"interactive,omitempty"`
	Image            *outMedia       `json:"image,omitempty"`
	Document         *outMedia       `json:"document,omitempty"`
	Video            *outMedia       `json:"video,omitempty"`
	Audio            *outMedia       `json:"audio,omitempty"`
}

type outText struct {
	PreviewURL bool   `json:"preview_url"`
	Body       string `json:"body"`
}

type outTemplate struct {
	Name       string         `json:"name"`
	Language   outLanguage    `json:"language"`
	Components []outComponent `json:"components,omitempty"`
}

type outLanguage struct {
	Code string `json:"code"`
}

type outComponent struct {
	Type       string         `json:"type"`
	SubType    string         `json:"sub_type,omitempty"`
	Index      string         `json:"index,omitempty"`
	Parameters []outParameter `json:"parameters"`
}

type outParameter struct {
	Type    string `json:"type"`
	Text    string `json:"text,omitempty"`
	Payload string `json:"payload,omitempty"`
}

type outInteractive struct {
	Type   string    `json:"type"`
	Body   outBody   `json:"body"`
	Action outAction `json:"action"`
}

type outBody struct {
	Text string `json:"text"`
}

type outAction struct {
	Button     string           `json:"button,omitempty"`
	Buttons    []outReplyButton `json:"buttons,omitempty"`
	Sections   []outSection     `json:"sections,omitempty"`
	Name       string           `json:"name,omitempty"`
	Parameters *outCallParams   `json:"parameters,omitempty"`
}

// outCallParams are a voice_call button's parameters.
type outCallParams struct {
	DisplayText string `json:"display_text,omitempty"`
	TTLMinutes  int    `json:"ttl_minutes,omitempty"`
	Payload     string `json:"payload,omitempty"`
}

// CallButton is a WhatsApp call button (interactive voice_call): the customer taps it to call
// the business on WhatsApp, and Meta hands Payload back with the call.
type CallButton struct {
	Body        string
	DisplayText string        // ≤ 20 characters; "" = Meta's default ("Call Now")
	TTL         time.Duration // how long the button can be tapped (1 min to 30 days); 0 = Meta's 7 days
	Payload     string        // ≤ 512 characters
}

// callButtonMessage builds Meta's interactive voice_call message (Business Calling API, "Send
// a call button message": action name voice_call, parameters display_text, ttl_minutes and
// payload).
func callButtonMessage(to string, b CallButton) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.body.text", b.Body, 1, maxButtonBody); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.action.parameters.display_text", b.DisplayText, 0, 20); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.action.parameters.payload", b.Payload, 0, 512); err != nil {
		return nil, err
	}
	ttl := int(b.TTL / time.Minute)
	if b.TTL != 0 && (ttl < 1 || ttl > 43200) {
		return nil, &ValidationError{Field: "interactive.action.parameters.ttl_minutes", Limit: "1 to 43200", Got: strconv.Itoa(ttl)}
	}
	m := newOut(to, "interactive")
	m.Interactive = &outInteractive{Type: "voice_call", Body: outBody{Text: b.Body}, Action: outAction{Name: "voice_call",
		Parameters: &outCallParams{DisplayText: b.DisplayText, TTLMinutes: ttl, Payload: b.Payload}}}
	return m, nil
}

type outReplyButton struct {
	Type  string   `json:"type"`
	Reply outReply `json:"reply"`
}

type outReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

type outSection struct {
	Title string   `json:"title,omitempty"`
	Rows  []outRow `json:"rows"`
}

type outRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

type outMedia struct {
	ID       string `json:"id,omitempty"`
	Link     string `json:"link,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

type outMarkRead struct {
	MessagingProduct string `json:"messaging_product"`
	Status           string `json:"status"`
	MessageID        string `json:"message_id"`
}

// newOut addresses a message: a phone number goes in "to", a business-scoped user id in
// "recipient" (Meta lets "to" win when both are set, so only one is).
func newOut(to, typ string) *outMessage {
	m := &outMessage{MessagingProduct: "whatsapp", RecipientType: "individual", Type: typ}
	if IsBSUID(to) {
		m.Recipient = to
	} else {
		m.To = to
	}
	return m
}

func textMessage(to, body string, previewURL bool) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if err := checkLen("text.body", body, 1, maxTextBody); err != nil {
		return nil, err
	}
	m := newOut(to, "text")
	m.Text = &outText{PreviewURL: previewURL, Body: body}
	return m, nil
}

func templateMessage(to string, t Template) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if err := checkLen("template.name", t.Name, 1, maxTemplateName); err != nil {
		return nil, err
	}
	if t.Language == "" {
		return nil, &ValidationError{Field: "template.language.code", Limit: "set"}
	}
	if len(t.HeaderParams) > maxHeaderParams {
		return nil, &ValidationError{Field: "template header parameters", Limit: fmt.Sprintf("at most %d", maxHeaderParams), Got: strconv.Itoa(len(t.HeaderParams))}
	}
	if len(t.QuickReplyPayloads) > maxQuickReplies {
		return nil, &ValidationError{Field: "template quick-reply buttons", Limit: fmt.Sprintf("at most %d", maxQuickReplies), Got: strconv.Itoa(len(t.QuickReplyPayloads))}
	}
	tpl := &outTemplate{Name: t.Name, Language: outLanguage{Code: t.Language}}
	if len(t.HeaderParams) > 0 {
		c := outComponent{Type: "header"}
		for i, p := range t.HeaderParams {
			if err := checkLen(fmt.Sprintf("template header parameter %d", i+1), p, 1, maxHeaderParamText); err != nil {
				return nil, err
			}
			c.Parameters = append(c.Parameters, outParameter{Type: "text", Text: p})
		}
		tpl.Components = append(tpl.Components, c)
	}
	if len(t.BodyParams) > 0 {
		c := outComponent{Type: "body"}
		for i, p := range t.BodyParams {
			// Meta rejects empty parameters; the body's own length limit is checked by Meta
			// against the rendered template, which we do not know.
			if p == "" {
				return nil, &ValidationError{Field: fmt.Sprintf("template body parameter %d", i+1), Limit: "non-empty"}
			}
			c.Parameters = append(c.Parameters, outParameter{Type: "text", Text: p})
		}
		tpl.Components = append(tpl.Components, c)
	}
	for i, p := range t.QuickReplyPayloads {
		if err := checkLen(fmt.Sprintf("template quick-reply payload %d", i), p, 1, maxQuickReplyData); err != nil {
			return nil, err
		}
		tpl.Components = append(tpl.Components, outComponent{
			Type: "button", SubType: "quick_reply", Index: strconv.Itoa(i),
			Parameters: []outParameter{{Type: "payload", Payload: p}},
		})
	}
	m := newOut(to, "template")
	m.Template = tpl
	return m, nil
}

func buttonsMessage(to, body string, buttons []Button) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.body.text", body, 1, maxButtonBody); err != nil {
		return nil, err
	}
	if len(buttons) < 1 || len(buttons) > maxButtons {
		return nil, &ValidationError{Field: "interactive.action.buttons", Limit: fmt.Sprintf("1 to %d buttons", maxButtons), Got: strconv.Itoa(len(buttons))}
	}
	ids, titles := map[string]bool{}, map[string]bool{}
	out := make([]outReplyButton, 0, len(buttons))
	for i, b := range buttons {
		f := fmt.Sprintf("interactive.action.buttons[%d].reply", i)
		if err := checkLen(f+".id", b.ID, 1, maxButtonID); err != nil {
			return nil, err
		}
		if err := checkLen(f+".title", b.Title, 1, maxButtonTitle); err != nil {
			return nil, err
		}
		if ids[b.ID] || titles[b.Title] {
			return nil, &ValidationError{Field: f, Limit: "unique in id and title"}
		}
		ids[b.ID], titles[b.Title] = true, true
		out = append(out, outReplyButton{Type: "reply", Reply: outReply{ID: b.ID, Title: b.Title}})
	}
	m := newOut(to, "interactive")
	m.Interactive = &outInteractive{Type: "button", Body: outBody{Text: body}, Action: outAction{Buttons: out}}
	return m, nil
}

func listMessage(to, body, buttonLabel string, sections []Section) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.body.text", body, 1, maxListBody); err != nil {
		return nil, err
	}
	if err := checkLen("interactive.action.button", buttonLabel, 1, maxListButton); err != nil {
		return nil, err
	}
	if len(sections) < 1 || len(sections) > maxSections {
		return nil, &ValidationError{Field: "interactive.action.sections", Limit: fmt.Sprintf("1 to %d sections", maxSections), Got: strconv.Itoa(len(sections))}
	}
	rows := 0
	for _, s := range sections {
		rows += len(s.Rows)
	}
	if rows < 1 || rows > maxListRows {
		return nil, &ValidationError{Field: "interactive.action.sections[].rows", Limit: fmt.Sprintf("1 to %d rows in all sections", maxListRows), Got: strconv.Itoa(rows)}
	}
	ids := map[string]bool{}
	out := make([]outSection, 0, len(sections))
	for i, s := range sections {
		f := fmt.Sprintf("interactive.action.sections[%d]", i)
		min := 0
		if len(sections) > 1 {
			min = 1 // Meta requires section titles when there is more than one section
		}
		if err := checkLen(f+".title", s.Title, min, maxSectionTitle); err != nil {
			return nil, err
		}
		if len(s.Rows) == 0 {
			return nil, &ValidationError{Field: f + ".rows", Limit: "at least 1 row"}
		}
		os := outSection{Title: s.Title}
		for j, r := range s.Rows {
			rf := fmt.Sprintf("%s.rows[%d]", f, j)
			if err := checkLen(rf+".id", r.ID, 1, maxRowID); err != nil {
				return nil, err
			}
			if err := checkLen(rf+".title", r.Title, 1, maxRowTitle); err != nil {
				return nil, err
			}
			if err := checkLen(rf+".description", r.Description, 0, maxRowDescription); err != nil {
				return nil, err
			}
			if ids[r.ID] {
				return nil, &ValidationError{Field: rf + ".id", Limit: "unique"}
			}
			ids[r.ID] = true
			os.Rows = append(os.Rows, outRow(r))
		}
		out = append(out, os)
	}
	m := newOut(to, "interactive")
	m.Interactive = &outInteractive{Type: "list", Body: outBody{Text: body}, Action: outAction{Button: buttonLabel, Sections: out}}
	return m, nil
}

func mediaMessage(to string, md Media) (*outMessage, error) {
	if err := checkTo(to); err != nil {
		return nil, err
	}
	switch md.Kind {
	case MediaImage, MediaDocument, MediaVideo, MediaAudio:
	default:
		return nil, &ValidationError{Field: "type", Limit: "one of image, document, video, audio", Got: strconv.Quote(string(md.Kind))}
	}
	k := string(md.Kind)
	if (md.Link == "") == (md.ID == "") {
		return nil, &ValidationError{Field: k, Limit: "exactly one of link or id"}
	}
	if md.Kind == MediaAudio && md.Caption != "" {
		return nil, &ValidationError{Field: k + ".caption", Limit: "empty (audio has no caption)"}
	}
	if err := checkLen(k+".caption", md.Caption, 0, maxCaption); err != nil {
		return nil, err
	}
	if md.Kind != MediaDocument && md.Filename != "" {
		return nil, &ValidationError{Field: k + ".filename", Limit: "empty (only documents have a filename)"}
	}
	om := &outMedia{ID: md.ID, Link: md.Link, Caption: md.Caption, Filename: md.Filename}
	m := newOut(to, k)
	switch md.Kind {
	case MediaImage:
		m.Image = om
	case MediaDocument:
		m.Document = om
	case MediaVideo:
		m.Video = om
	case MediaAudio:
		m.Audio = om
	}
	return m, nil
}

func checkTo(to string) error {
	if to == "" {
		return &ValidationError{Field: "to", Limit: "a phone number, WhatsApp id or business-scoped user id"}
	}
	return nil
}

func checkLen(field, s string, min, max int) error {
	if !utf8.ValidString(s) {
		return &ValidationError{Field: field, Limit: "valid UTF-8"}
	}
	n := utf8.RuneCountInString(s)
	switch {
	case n < min && min == 1:
		return &ValidationError{Field: field, Limit: "non-empty"}
	case n < min:
		return &ValidationError{Field: field, Limit: fmt.Sprintf("at least %d characters", min), Got: fmt.Sprintf("%d characters", n)}
	case n > max:
		return &ValidationError{Field: field, Limit: fmt.Sprintf("at most %d characters", max), Got: fmt.Sprintf("%d characters", n)}
	}
	return nil
}
