package sandbox

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/deflectd/deflectd/configs"
)

// Template management as Meta's Business Messaging OpenAPI document (facebook/openapi,
// business-messaging-api_v23.0.yaml) describes it: POST /{WABA-ID}/message_templates submits a
// template language for review ({id, status: PENDING, category}); GET lists them with paging
// cursors; POST /{TEMPLATE-ID} edits one (and sends it back to review). Review takes
// Config.ReviewDelay and ends APPROVED, or REJECTED with a reason injected through
// POST /_sandbox/templates/{name}/{lang}/reject; either way a signed
// message_template_status_update webhook follows, as Meta sends one.

// tplComponent is a component as Meta's document shows it.
// The fields after Buttons, and those of tplExample and tplButton after Example, are the others
// Meta's template creation examples use (authentication, media headers, flows).
type tplComponent struct {
	Type    string      `json:"type"`
	Format  string      `json:"format,omitempty"`
	Text    string      `json:"text,omitempty"`
	Example *tplExample `json:"example,omitempty"`
	Buttons []tplButton `json:"buttons,omitempty"`

	AddSecurityRecommendation bool `json:"add_security_recommendation,omitempty"`
	CodeExpirationMinutes     int  `json:"code_expiration_minutes,omitempty"`
}

type tplExample struct {
	HeaderText   []string   `json:"header_text,omitempty"`
	BodyText     [][]string `json:"body_text,omitempty"`
	HeaderHandle []string   `json:"header_handle,omitempty"`
}

type tplButton struct {
	Type        string   `json:"type"`
	Text        string   `json:"text"`
	PhoneNumber string   `json:"phone_number,omitempty"`
	URL         string   `json:"url,omitempty"`
	Example     []string `json:"example,omitempty"`

	OTPType        string `json:"otp_type,omitempty"`
	AutofillText   string `json:"autofill_text,omitempty"`
	PackageName    string `json:"package_name,omitempty"`
	SignatureHash  string `json:"signature_hash,omitempty"`
	FlowID         string `json:"flow_id,omitempty"`
	FlowName       string `json:"flow_name,omitempty"`
	FlowJSON       string `json:"flow_json,omitempty"`
	FlowAction     string `json:"flow_action,omitempty"`
	NavigateScreen string `json:"navigate_screen,omitempty"`
}

// storedTemplate is one template language the sandbox knows.
type storedTemplate struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Language       string         `json:"language"`
	Status         string         `json:"status"`
	Category       string         `json:"category"`
	RejectedReason string         `json:"rejected_reason,omitempty"`
	QualityScore   map[string]any `json:"quality_score"`
	Components     []tplComponent `json:"components"`
}

var placeholder = regexp.MustCompile(`\{\{\s*(\d+)\s*\}\}`)

// shape is what a send must fill: body parameters and quick-reply buttons.
func (t *storedTemplate) shape() (bodyParams, quickReplies int) {
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "BODY":
			seen := map[string]bool{}
			for _, m := range placeholder.FindAllStringSubmatch(c.Text, -1) {
				seen[m[1]] = true
			}
			bodyParams = len(seen)
		case "BUTTONS":
			for _, b := range c.Buttons {
				if strings.EqualFold(b.Type, "QUICK_REPLY") {
					quickReplies++
				}
			}
		}
	}
	return bodyParams, quickReplies
}

// templateStore holds the templates under its own lock (never held with Sandbox.mu).
type templateStore struct {
	mu      sync.Mutex
	byKey   map[string]*storedTemplate // name|lang
	rejects map[string]string          // name|lang → reason the next review gives
	timers  []*time.Timer
}

func tplKey(name, lang string) string { return name + "|" + lang }

// seedTemplates approves the definitions and the extra sandbox templates at start.
func (s *Sandbox) seedTemplates() {
	ts := &s.tpl
	ts.byKey = map[string]*storedTemplate{}
	ts.rejects = map[string]string{}
	for _, d := range s.cfg.Definitions {
		for lang, txt := range d.Languages {
			ts.byKey[tplKey(d.Name, lang)] = &storedTemplate{ID: strconv.FormatInt(templateID(d.Name, lang), 10), Name: d.Name,
				Language: lang, Status: "APPROVED", Category: d.Category, QualityScore: map[string]any{"score": "GREEN"},
				Components: definitionComponents(txt)}
		}
	}
	for _, t := range s.cfg.Templates {
		body := "Sandbox template"
		var example []string
		for i := 1; i <= t.BodyParams; i++ {
			body += fmt.Sprintf(" {{%d}}", i)
			example = append(example, "x")
		}
		txt := configs.TemplateText{Body: body, Example: example}
		for i := 0; i < t.Buttons; i++ {
			txt.Buttons = append(txt.Buttons, configs.TemplateButton{Type: "QUICK_REPLY", Text: fmt.Sprintf("Button %d", i+1)})
		}
		for _, lang := range t.Languages {
			ts.byKey[tplKey(t.Name, lang)] = &storedTemplate{ID: strconv.FormatInt(templateID(t.Name, lang), 10), Name: t.Name,
				Language: lang, Status: "APPROVED", Category: "UTILITY", QualityScore: map[string]any{"score": "GREEN"},
				Components: definitionComponents(txt)}
		}
	}
}

// definitionComponents is a template definition in Meta's component form (what deflectd's
// push submits for it).
func definitionComponents(t configs.TemplateText) []tplComponent {
	var out []tplComponent
	if t.Header != "" {
		out = append(out, tplComponent{Type: "HEADER", Format: "TEXT", Text: t.Header})
	}
	body := tplComponent{Type: "BODY", Text: t.Body}
	if len(t.Example) > 0 {
		body.Example = &tplExample{BodyText: [][]string{slices.Clone(t.Example)}}
	}
	out = append(out, body)
	if t.Footer != "" {
		out = append(out, tplComponent{Type: "FOOTER", Text: t.Footer})
	}
	if len(t.Buttons) > 0 {
		c := tplComponent{Type: "BUTTONS"}
		for _, b := range t.Buttons {
			c.Buttons = append(c.Buttons, tplButton{Type: b.Type, Text: b.Text})
		}
		out = append(out, c)
	}
	return out
}

// lookupTemplate returns a copy of the template language, if known.
func (s *Sandbox) lookupTemplate(name, lang string) (storedTemplate, bool) {
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	t, ok := s.tpl.byKey[tplKey(name, lang)]
	if !ok {
		return storedTemplate{}, false
	}
	return *t, true
}

// serveMessageTemplates is GET|POST /{version?}/{waba_id}/message_templates.
func (s *Sandbox) serveMessageTemplates(w http.ResponseWriter, r *http.Request, wabaID string) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if wabaID != s.cfg.BusinessAccountID {
		writeGraphError(w, errf(100, "Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", strings.ToLower(r.Method), wabaID))
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.listTemplates(w, r)
	case http.MethodPost:
		s.createTemplate(w, r)
	default:
		writeGraphError(w, errf(100, "Unsupported %s request.", strings.ToLower(r.Method)))
	}
}

type createTemplateReq struct {
	Name                string         `json:"name"`
	Language            string         `json:"language"`
	Category            string         `json:"category"`
	Components          []tplComponent `json:"components"`
	ParameterFormat     string         `json:"parameter_format"`
	AllowCategoryChange *bool          `json:"allow_category_change"`
}

func decodeStrict(r *http.Request, v any) *apiError {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(raw) > maxRequestBody {
		return errf(100, "read request body: too large or unreadable")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	return nil
}

func (s *Sandbox) createTemplate(w http.ResponseWriter, r *http.Request) {
	var req createTemplateReq
	if e := decodeStrict(r, &req); e != nil {
		writeGraphError(w, e)
		return
	}
	switch {
	case req.Name == "":
		writeGraphError(w, errf(100, "The parameter name is required."))
		return
	case req.Language == "":
		writeGraphError(w, errf(100, "The parameter language is required."))
		return
	case req.Category == "":
		writeGraphError(w, errf(100, "The parameter category is required."))
		return
	}
	if e := checkTemplateBody(req.Name, req.Category, req.Components); e != nil {
		writeGraphError(w, e)
		return
	}
	key := tplKey(req.Name, req.Language)
	s.tpl.mu.Lock()
	if _, dup := s.tpl.byKey[key]; dup {
		s.tpl.mu.Unlock()
		// Meta's answer to a second template of the same name and language.
		writeGraphError(w, &apiError{code: 100, subcode: 2388024, details: fmt.Sprintf(
			"There is already %s content for this template. You can create a new template and try again.", req.Language)})
		return
	}
	t := &storedTemplate{ID: strconv.FormatInt(templateID(req.Name, req.Language), 10), Name: req.Name, Language: req.Language,
		Status: "PENDING", Category: strings.ToUpper(req.Category), QualityScore: map[string]any{"score": "UNKNOWN"},
		Components: req.Components}
	s.tpl.byKey[key] = t
	out := map[string]string{"id": t.ID, "status": t.Status, "category": t.Category}
	s.scheduleReviewLocked(key)
	s.tpl.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// checkTemplateBody applies the rules Meta checks at submission.
func checkTemplateBody(name, category string, comps []tplComponent) *apiError {
	if !regexp.MustCompile(`^[a-z0-9_]{1,512}$`).MatchString(name) {
		return errf(100, "Param name must contain only lowercase letters, numbers and underscores - got %q.", name)
	}
	if c := strings.ToUpper(category); c != "UTILITY" && c != "MARKETING" && c != "AUTHENTICATION" {
		return errf(100, "Param category must be one of {AUTHENTICATION, MARKETING, UTILITY} - got %q.", category)
	}
	bodies := 0
	for i, c := range comps {
		switch strings.ToUpper(c.Type) {
		case "BODY":
			bodies++
			n := len(placeholder.FindAllString(c.Text, -1))
			// An authentication template's body is Meta's fixed text ("<code> is your
			// verification code"): it has none of its own.
			if c.Text == "" && !strings.EqualFold(category, "AUTHENTICATION") {
				return errf(100, "components[%d]: the parameter text is required.", i)
			}
			if n > 0 && (c.Example == nil || len(c.Example.BodyText) == 0 || len(c.Example.BodyText[0]) < n) {
				return errf(100, "components[%d]: Message template \"components\" param is missing expected field(s): BODY with variables needs example.body_text with %d sample values.", i, n)
			}
		case "HEADER", "FOOTER":
		case "BUTTONS":
			if len(c.Buttons) == 0 || len(c.Buttons) > 10 {
				return errf(100, "components[%d]: a BUTTONS component has 1 to 10 buttons.", i)
			}
			for j, b := range c.Buttons {
				switch strings.ToUpper(b.Type) {
				case "QUICK_REPLY", "URL", "PHONE_NUMBER", "VOICE_CALL", "COPY_CODE", "OTP", "FLOW", "MPM", "CATALOG":
				default:
					return errf(100, "components[%d].buttons[%d]: Param type must be one of {QUICK_REPLY, URL, PHONE_NUMBER, VOICE_CALL, COPY_CODE, OTP, FLOW, MPM, CATALOG} - got %q.", i, j, b.Type)
				}
				if b.Text == "" || len([]rune(b.Text)) > 25 {
					return errf(100, "components[%d].buttons[%d]: the button text needs 1 to 25 characters.", i, j)
				}
			}
		default:
			return errf(100, "components[%d]: Param type must be one of {HEADER, BODY, FOOTER, BUTTONS} - got %q.", i, c.Type)
		}
	}
	if bodies != 1 {
		return errf(100, "Message template \"components\" param is missing expected field(s): exactly one BODY component is required.")
	}
	return nil
}

// scheduleReviewLocked approves (or rejects, when a rejection was injected) the template after
// the review delay. s.tpl.mu must be held.
func (s *Sandbox) scheduleReviewLocked(key string) {
	s.tpl.timers = append(s.tpl.timers, time.AfterFunc(s.cfg.ReviewDelay, func() { s.review(key) }))
}

func (s *Sandbox) review(key string) {
	s.tpl.mu.Lock()
	t, ok := s.tpl.byKey[key]
	if !ok || t.Status != "PENDING" {
		s.tpl.mu.Unlock()
		return
	}
	event, reason := "APPROVED", "NONE"
	if r, rejected := s.tpl.rejects[key]; rejected {
		delete(s.tpl.rejects, key)
		event, reason = "REJECTED", r
		t.RejectedReason = r
	} else {
		t.RejectedReason = ""
	}
	t.Status = event
	value := map[string]any{"event": event, "message_template_id": templateID(t.Name, t.Language),
		"message_template_name": t.Name, "message_template_language": t.Language, "reason": reason}
	s.tpl.mu.Unlock()
	s.log.Info("template reviewed", "template", t.Name, "language", t.Language, "event", event, "reason", reason)
	if s.cfg.WebhookURL == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.deliver(ctx, wabaChange(s.cfg.BusinessAccountID, "message_template_status_update", value)); err != nil {
		s.log.Warn("template review webhook not delivered", "err", err)
	}
}

// wabaChange is a WhatsApp Business Account webhook with one change.
func wabaChange(wabaID, field string, value map[string]any) []byte {
	body, _ := json.Marshal(map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": wabaID, "time": time.Now().Unix(),
		"changes": []any{map[string]any{"field": field, "value": value}}}}})
	return body
}

// listTemplates answers GET message_templates: by name and language, limit per page (default
// 25, as Meta's), paging.cursors.after and paging.next while more remain.
func (s *Sandbox) listTemplates(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 25
	if n, err := strconv.Atoi(q.Get("limit")); err == nil && n > 0 {
		limit = min(n, 1000)
	}
	start := 0
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			writeGraphError(w, errf(100, "Invalid cursor: %q", a))
			return
		}
		start = n
	}
	s.tpl.mu.Lock()
	all := make([]storedTemplate, 0, len(s.tpl.byKey))
	for _, t := range s.tpl.byKey {
		if name := q.Get("name"); name == "" || name == t.Name {
			all = append(all, *t)
		}
	}
	s.tpl.mu.Unlock()
	slices.SortFunc(all, func(a, b storedTemplate) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Language, b.Language))
	})
	start = min(start, len(all))
	end := min(start+limit, len(all))
	page := all[start:end]
	paging := map[string]any{}
	if len(page) > 0 {
		paging["cursors"] = map[string]string{
			"before": base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(start))),
			"after":  base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))),
		}
	}
	if end < len(all) {
		next := *r.URL
		nq := next.Query()
		nq.Set("after", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end))))
		next.RawQuery = nq.Encode()
		paging["next"] = (&url.URL{Scheme: "http", Host: r.Host, Path: next.Path, RawQuery: next.RawQuery}).String()
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": page, "paging": paging})
}

// serveTemplateEdit is POST /{version?}/{template_id}: new components (and category, unless the
// template is approved: Meta does not let an approved template change category), back to review.
func (s *Sandbox) serveTemplateEdit(w http.ResponseWriter, r *http.Request, id string) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if r.Method != http.MethodPost {
		writeGraphError(w, errf(100, "Unsupported %s request.", strings.ToLower(r.Method)))
		return
	}
	var req struct {
		Category   string         `json:"category"`
		Components []tplComponent `json:"components"`
	}
	if e := decodeStrict(r, &req); e != nil {
		writeGraphError(w, e)
		return
	}
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	var t *storedTemplate
	for _, c := range s.tpl.byKey {
		if c.ID == id {
			t = c
		}
	}
	if t == nil {
		writeGraphError(w, errf(100, "Unsupported post request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", id))
		return
	}
	category := cmp.Or(strings.ToUpper(req.Category), t.Category)
	if category != t.Category && t.Status == "APPROVED" {
		writeGraphError(w, errf(100, "The category of an approved template cannot be changed."))
		return
	}
	if e := checkTemplateBody(t.Name, category, req.Components); e != nil {
		writeGraphError(w, e)
		return
	}
	t.Category, t.Components, t.Status, t.RejectedReason = category, req.Components, "PENDING", ""
	s.scheduleReviewLocked(tplKey(t.Name, t.Language))
	writeJSON(w, http.StatusOK, map[string]bool{"success": true})
}

// isTemplateID reports whether seg is a known template's id.
func (s *Sandbox) isTemplateID(seg string) bool {
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	for _, t := range s.tpl.byKey {
		if t.ID == seg {
			return true
		}
	}
	return false
}

// injectRejection makes the next review of the template language a rejection with reason
// (Meta's rejected_reason values: INVALID_FORMAT, ABUSIVE_CONTENT, TAG_CONTENT_MISMATCH,
// INCORRECT_CATEGORY, SCAM, PROMOTIONAL...). A template already pending is rejected at its review.
func (s *Sandbox) injectRejection(name, lang, reason string) {
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	s.tpl.rejects[tplKey(name, lang)] = cmp.Or(strings.ToUpper(reason), "INVALID_FORMAT")
}

// setTemplateState records a status or category the control API announced by webhook.
func (s *Sandbox) setTemplateState(name, lang, status, reason, category string) {
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	t, ok := s.tpl.byKey[tplKey(name, lang)]
	if !ok {
		return
	}
	if status != "" {
		t.Status = status
		if status == "REJECTED" {
			t.RejectedReason = reason
		}
	}
	if category != "" {
		t.Category = category
	}
}

func (s *Sandbox) stopReviews() {
	s.tpl.mu.Lock()
	defer s.tpl.mu.Unlock()
	for _, t := range s.tpl.timers {
		t.Stop()
	}
	s.tpl.timers = nil
}
