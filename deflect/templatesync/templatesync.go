// Package templatesync keeps Meta's copy of deflectd's WhatsApp templates in line with their
// definitions: push creates the missing template languages and edits the changed ones, list
// shows Meta's review state, and sync records that state where the engine reads it before
// offering (a deflection template that is not approved UTILITY stops offers in its language).
package templatesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/whatsapp"
)

// Client is the part of the WhatsApp client templates are managed with.
type Client interface {
	CreateTemplate(ctx context.Context, wabaID string, t whatsapp.MessageTemplate) (whatsapp.CreatedTemplate, error)
	UpdateTemplate(ctx context.Context, id, category string, components []whatsapp.TemplateComponent) error
	ListTemplates(ctx context.Context, wabaID string) ([]whatsapp.TemplateStatus, error)
}

// Recorder stores template states (the engine's template state).
type Recorder interface {
	RecordTemplateStates(ctx context.Context, states []deflect.TemplateState) ([]deflect.TemplateState, error)
}

// Manager pushes, lists and syncs the templates of one business account.
type Manager struct {
	Client Client
	WABAID string
	Defs   []configs.TemplateDefinition
	// Sent are the template languages deflectd sends for deflections ("name|lang"): one Meta
	// does not list is recorded MISSING, and callers of that language are not offered.
	Sent []string
	// Check, when set, lists why the definitions do not fit what deflectd sends; push refuses
	// to submit anything while it does.
	Check func() []string
}

// Row is one template language as Meta lists it (or as defined, when Meta has not got it).
type Row struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`
	Category string `json:"category"`
	Quality  string `json:"quality"`
	Reason   string `json:"reason"`
	Defined  bool   `json:"defined"` // in deflectd's definitions
}

// What push did with a template language.
const (
	Created   = "created"   // submitted for review
	Updated   = "updated"   // its content differed: edited, back to review
	Unchanged = "unchanged" // Meta has it as defined
	Failed    = "failed"    // Meta refused the submission or edit (see Detail)
	Conflict  = "conflict"  // cannot be fixed by a push: Meta changed its category, or rejected this content
)

// Action is what push did with one template language.
type Action struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	Action   string `json:"action"`
	Status   string `json:"status"` // Meta's status after the action
	Detail   string `json:"detail,omitempty"`
}

// ErrMismatch: the definitions do not fit what deflectd sends; nothing was pushed.
var ErrMismatch = errors.New("template definitions do not fit what deflectd sends")

// MessageTemplates are the definitions as Meta's creation bodies, by name then language.
func MessageTemplates(defs []configs.TemplateDefinition) []whatsapp.MessageTemplate {
	var out []whatsapp.MessageTemplate
	for _, d := range defs {
		langs := make([]string, 0, len(d.Languages))
		for l := range d.Languages {
			langs = append(langs, l)
		}
		slices.Sort(langs)
		for _, l := range langs {
			out = append(out, whatsapp.MessageTemplate{Name: d.Name, Language: l, Category: d.Category, Components: Components(d.Languages[l])})
		}
	}
	return out
}

// Components is one language of a definition as Meta's components.
func Components(t configs.TemplateText) []whatsapp.TemplateComponent {
	var out []whatsapp.TemplateComponent
	if t.Header != "" {
		out = append(out, whatsapp.TemplateComponent{Type: "HEADER", Format: "TEXT", Text: t.Header})
	}
	body := whatsapp.TemplateComponent{Type: "BODY", Text: t.Body}
	if len(t.Example) > 0 {
		body.Example = &whatsapp.TemplateExample{BodyText: [][]string{slices.Clone(t.Example)}}
	}
	out = append(out, body)
	if t.Footer != "" {
		out = append(out, whatsapp.TemplateComponent{Type: "FOOTER", Text: t.Footer})
	}
	if len(t.Buttons) > 0 {
		c := whatsapp.TemplateComponent{Type: "BUTTONS"}
		for _, b := range t.Buttons {
			c.Buttons = append(c.Buttons, whatsapp.TemplateButton{Type: b.Type, Text: b.Text})
		}
		out = append(out, c)
	}
	return out
}

// List returns Meta's template languages of the defined names (and defined ones Meta does not
// have, status MISSING), then Meta's other templates, by name and language.
func (m *Manager) List(ctx context.Context) ([]Row, error) {
	listed, err := m.Client.ListTemplates(ctx, m.WABAID)
	if err != nil {
		return nil, err
	}
	defined := map[string]bool{}
	for _, t := range MessageTemplates(m.Defs) {
		defined[key(t.Name, t.Language)] = true
	}
	var rows []Row
	seen := map[string]bool{}
	for _, t := range listed {
		k := key(t.Name, t.Language)
		seen[k] = true
		rows = append(rows, Row{Name: t.Name, Language: t.Language, Status: t.Status, Category: t.Category,
			Quality: t.QualityScore.Score, Reason: t.RejectedReason, Defined: defined[k]})
	}
	for _, t := range MessageTemplates(m.Defs) {
		if !seen[key(t.Name, t.Language)] {
			rows = append(rows, Row{Name: t.Name, Language: t.Language, Status: "MISSING", Category: t.Category, Defined: true})
		}
	}
	slices.SortFunc(rows, func(a, b Row) int {
		if a.Defined != b.Defined {
			if a.Defined {
				return -1
			}
			return 1
		}
		return strings.Compare(key(a.Name, a.Language), key(b.Name, b.Language))
	})
	return rows, nil
}

// Push creates every defined template language Meta does not have and edits those whose
// content differs. It goes on after a refusal (each template language is independent) and
// reports every action; the error is for what stopped it as a whole.
func (m *Manager) Push(ctx context.Context) ([]Action, error) {
	if m.Check != nil {
		if bad := m.Check(); len(bad) > 0 {
			return nil, fmt.Errorf("%w: %s", ErrMismatch, strings.Join(bad, "; "))
		}
	}
	listed, err := m.Client.ListTemplates(ctx, m.WABAID)
	if err != nil {
		return nil, err
	}
	have := map[string]whatsapp.TemplateStatus{}
	for _, t := range listed {
		have[key(t.Name, t.Language)] = t
	}
	var out []Action
	for _, want := range MessageTemplates(m.Defs) {
		a := Action{Name: want.Name, Language: want.Language}
		cur, ok := have[key(want.Name, want.Language)]
		switch {
		case !ok:
			created, err := m.Client.CreateTemplate(ctx, m.WABAID, want)
			a.Action, a.Status = Created, created.Status
			if err != nil {
				a.Action, a.Detail = Failed, refusal(err)
			}
		case !strings.EqualFold(cur.Category, want.Category):
			// Meta does not let an approved template change category back; its reviewers moved it.
			a.Action, a.Status = Conflict, cur.Status
			a.Detail = fmt.Sprintf("Meta has it as %s, defined %s: deflectd does not offer with it; appeal in WhatsApp Manager or define a new name", cur.Category, want.Category)
		case sameContent(cur.Components, want.Components):
			a.Action, a.Status = Unchanged, cur.Status
			if cur.Status == "REJECTED" {
				a.Action, a.Detail = Conflict, "rejected ("+cur.RejectedReason+"): change its text and push again"
			}
		default:
			err := m.Client.UpdateTemplate(ctx, cur.ID, "", want.Components)
			a.Action, a.Status = Updated, "PENDING"
			if err != nil {
				a.Action, a.Status, a.Detail = Failed, cur.Status, refusal(err)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Sync records Meta's state of the defined and sent template languages (MISSING for a sent one
// Meta does not list) and returns those that changed.
func (m *Manager) Sync(ctx context.Context, rec Recorder) ([]deflect.TemplateState, error) {
	listed, err := m.Client.ListTemplates(ctx, m.WABAID)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, d := range m.Defs {
		names[d.Name] = true
	}
	for _, k := range m.Sent {
		names[strings.SplitN(k, "|", 2)[0]] = true
	}
	var states []deflect.TemplateState
	seen := map[string]bool{}
	for _, t := range listed {
		if !names[t.Name] {
			continue
		}
		seen[key(t.Name, t.Language)] = true
		states = append(states, deflect.TemplateState{Name: t.Name, Language: t.Language, Status: t.Status,
			Category: t.Category, Reason: t.RejectedReason})
	}
	for _, k := range m.Sent {
		if !seen[k] {
			name, lang, _ := strings.Cut(k, "|")
			states = append(states, deflect.TemplateState{Name: name, Language: lang, Status: "MISSING",
				Reason: "not in Meta's template list: run deflectd templates push"})
		}
	}
	return rec.RecordTemplateStates(ctx, states)
}

// sameContent compares what a definition controls: each component's type, format, text and
// buttons (Meta lists examples back or not; they do not change what the customer reads).
func sameContent(have, want []whatsapp.TemplateComponent) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		h, w := have[i], want[i]
		if !strings.EqualFold(h.Type, w.Type) || !strings.EqualFold(h.Format, w.Format) || h.Text != w.Text || len(h.Buttons) != len(w.Buttons) {
			return false
		}
		for j := range h.Buttons {
			if !strings.EqualFold(h.Buttons[j].Type, w.Buttons[j].Type) || h.Buttons[j].Text != w.Buttons[j].Text {
				return false
			}
		}
	}
	return true
}

// refusal is Meta's reason for refusing, for the report.
func refusal(err error) string {
	var ae *whatsapp.APIError
	if errors.As(err, &ae) {
		s := fmt.Sprintf("Meta error %d", ae.Code)
		if ae.Subcode != 0 {
			s += fmt.Sprintf("/%d", ae.Subcode)
		}
		return s + ": " + strings.TrimSpace(ae.Message+" "+ae.Details)
	}
	return err.Error()
}

func key(name, lang string) string { return name + "|" + lang }
