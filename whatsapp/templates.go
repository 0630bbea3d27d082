package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Template management on the Graph API, as Meta's Business Messaging OpenAPI document
// (facebook/openapi, business-messaging-api_v23.0.yaml) describes it:
//
//	POST /{WABA-ID}/message_templates   {name, language, category, components}  → {id, status, category}
//	GET  /{WABA-ID}/message_templates?fields=...&limit=&after=  → {data: [...], paging: {cursors: {after}, next}}
//	POST /{TEMPLATE-ID}                 {category?, components}                  → {success: true}
//
// A component is HEADER (format TEXT with text), BODY (text with {{n}} placeholders and
// example.body_text, one row of sample values), FOOTER (text) or BUTTONS (buttons: QUICK_REPLY
// with text, VOICE_CALL with text; Meta's calling guide, "Send WhatsApp Call Button Messages":
// a template may carry one WhatsApp call button, which needs no parameter when sent).

// MessageTemplate is the body of a template creation, and a template as Meta lists it.
type MessageTemplate struct {
	Name       string              `json:"name"`
	Language   string              `json:"language"`
	Category   string              `json:"category"`
	Components []TemplateComponent `json:"components"`
}

// TemplateComponent is one part of a template.
type TemplateComponent struct {
	Type    string           `json:"type"`             // HEADER, BODY, FOOTER, BUTTONS
	Format  string           `json:"format,omitempty"` // HEADER: TEXT
	Text    string           `json:"text,omitempty"`
	Example *TemplateExample `json:"example,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
}

// TemplateExample holds sample values Meta's reviewers read: one row for the body's {{n}}.
type TemplateExample struct {
	HeaderText []string   `json:"header_text,omitempty"`
	BodyText   [][]string `json:"body_text,omitempty"`
}

// TemplateButton is a button of a BUTTONS component.
type TemplateButton struct {
	Type string `json:"type"` // QUICK_REPLY, VOICE_CALL
	Text string `json:"text"`
}

// TemplateStatus is a template language as Meta lists it, with its review state.
type TemplateStatus struct {
	ID             string `json:"id"`
	Status         string `json:"status"` // APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
	RejectedReason string `json:"rejected_reason,omitempty"`
	QualityScore   struct {
		Score string `json:"score"` // GREEN, YELLOW, RED, UNKNOWN
	} `json:"quality_score"`
	MessageTemplate
}

// CreatedTemplate is Meta's answer to a creation.
type CreatedTemplate struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Category string `json:"category"`
}

// templateListFields are the fields GET message_templates is asked for.
const templateListFields = "name,language,status,category,quality_score,rejected_reason,components"

// CreateTemplate submits a template language for review (POST /{WABA-ID}/message_templates).
func (c *Client) CreateTemplate(ctx context.Context, wabaID string, t MessageTemplate) (CreatedTemplate, error) {
	if wabaID == "" {
		return CreatedTemplate{}, &ValidationError{Field: "whatsapp.business_account_id", Limit: "set"}
	}
	var out CreatedTemplate
	if err := c.graphJSON(ctx, "template_create", http.MethodPost, c.graphURL(wabaID, "message_templates"), t, &out); err != nil {
		return CreatedTemplate{}, fmt.Errorf("create template %s/%s: %w", t.Name, t.Language, err)
	}
	if out.ID == "" {
		return CreatedTemplate{}, fmt.Errorf("create template %s/%s: response without id", t.Name, t.Language)
	}
	return out, nil
}

// UpdateTemplate edits an existing template language (POST /{TEMPLATE-ID}): its components and,
// when category is set, its category. Meta reviews the edit again.
func (c *Client) UpdateTemplate(ctx context.Context, id, category string, components []TemplateComponent) error {
	if id == "" {
		return &ValidationError{Field: "template id", Limit: "set"}
	}
	body := struct {
		Category   string              `json:"category,omitempty"`
		Components []TemplateComponent `json:"components"`
	}{category, components}
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.graphJSON(ctx, "template_update", http.MethodPost, c.graphURL(id), body, &out); err != nil {
		return fmt.Errorf("update template %s: %w", id, err)
	}
	if !out.Success {
		return fmt.Errorf("update template %s: response without success", id)
	}
	return nil
}

// ListTemplates lists every template language of the business account, following the pages.
func (c *Client) ListTemplates(ctx context.Context, wabaID string) ([]TemplateStatus, error) {
	if wabaID == "" {
		return nil, &ValidationError{Field: "whatsapp.business_account_id", Limit: "set"}
	}
	var all []TemplateStatus
	after := ""
	for page := 0; page < 1000; page++ {
		q := url.Values{"fields": {templateListFields}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var out struct {
			Data   []TemplateStatus `json:"data"`
			Paging struct {
				Cursors struct {
					After string `json:"after"`
				} `json:"cursors"`
				Next string `json:"next"`
			} `json:"paging"`
		}
		if err := c.graphJSON(ctx, "template_list", http.MethodGet, c.graphURL(wabaID, "message_templates")+"?"+q.Encode(), nil, &out); err != nil {
			return nil, fmt.Errorf("list templates: %w", err)
		}
		all = append(all, out.Data...)
		// Meta gives "next" only when there is a next page; the cursor alone is also on the last.
		if out.Paging.Next == "" || out.Paging.Cursors.After == "" || len(out.Data) == 0 {
			return all, nil
		}
		after = out.Paging.Cursors.After
	}
	return nil, errors.New("list templates: more than 1000 pages")
}

// graphJSON sends in as JSON (nil: no body) and decodes the answer into out. Failures Meta
// classifies retryable (rate limits, its 5xx) are retried with backoff: these requests change
// nothing when refused, and a repeated creation is refused as a duplicate.
func (c *Client) graphJSON(ctx context.Context, op, method, u string, in, out any) error {
	var body []byte
	ctype := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s: %w", op, err)
		}
		ctype = "application/json"
	}
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		resp, err := c.graphDo(actx, op, method, u, body, ctype)
		if err == nil {
			err = json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out)
			resp.Body.Close()
			cancel()
			if err != nil {
				return fmt.Errorf("parse response: %w", err)
			}
			return nil
		}
		cancel()
		var ae *APIError
		if !errors.As(err, &ae) || ae.Class() != Retryable || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(c.backoff(attempt, err))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
