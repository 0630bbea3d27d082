package deflect

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// Template state: Meta pauses, disables or re-categorises a template by webhook
// (message_template_status_update, template_category_update). The latest state of each template
// language is kept in the store, shared by instances; a caller whose deflection template is not
// usable is not offered (reason template-unavailable) rather than told afterwards that the send
// failed. A template nothing is known about is taken as usable.

// TemplateStateCollection holds one document per template language ("name|lang").
const TemplateStateCollection = "template-state"

// TemplateState is what Meta last said about one template language.
type TemplateState struct {
	Name     string    `json:"name"`
	Language string    `json:"language"`
	Status   string    `json:"status,omitempty"`   // APPROVED, PAUSED, DISABLED, REJECTED, ...
	Category string    `json:"category,omitempty"` // UTILITY, MARKETING, ...
	Reason   string    `json:"reason,omitempty"`
	At       time.Time `json:"at"`
}

// Usable says whether a deflection may use the template: approved (or not said otherwise) and,
// when Meta named a category, UTILITY (a deflection is a user-requested message about the call).
func (t TemplateState) Usable() bool {
	switch strings.ToUpper(t.Status) {
	case "", "APPROVED", "REINSTATED", "FLAGGED", "UNARCHIVED":
	default:
		return false
	}
	return t.Category == "" || strings.EqualFold(t.Category, "UTILITY")
}

func templateKey(name, lang string) string { return name + "|" + lang }

// OnTemplate records a template webhook. Statuses and categories change independently: each
// update keeps what the other said.
func (s *Service) OnTemplate(ctx context.Context, u *whatsapp.TemplateUpdate) error {
	if u == nil || u.Name == "" {
		return nil
	}
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	st, err := store.UpdateJSON(sctx, s.st, TemplateStateCollection, templateKey(u.Name, u.Language), 0, 8,
		func() TemplateState { return TemplateState{Name: u.Name, Language: u.Language} },
		func(t *TemplateState, _ bool) error {
			t.Name, t.Language, t.At = u.Name, u.Language, s.now()
			if u.Event != "" {
				t.Status, t.Reason = strings.ToUpper(u.Event), u.Reason
			}
			if c := cmp.Or(u.NewCategory, u.Category); c != "" {
				t.Category = strings.ToUpper(c)
			}
			return nil
		})
	if err != nil {
		return err
	}
	s.m.templateState.WithLabelValues(usableLabel(st.Usable())).Inc()
	level := slog.LevelInfo
	if !st.Usable() {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "template state changed", "template", st.Name, "language", st.Language,
		"status", st.Status, "category", st.Category, "reason", st.Reason, "quality", u.Quality, "usable", st.Usable())
	return nil
}

func usableLabel(ok bool) string {
	if ok {
		return "usable"
	}
	return "unusable"
}

// templateUsable reads the state of the template a caller would get. A store error is not a
// refusal (the send would tell).
func (s *Service) templateUsable(ctx context.Context, name, lang string) bool {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	doc, err := s.st.GetDoc(sctx, TemplateStateCollection, templateKey(name, lang))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("template state unreadable", "err", err)
		}
		return true
	}
	var st TemplateState
	if err := json.Unmarshal(doc.Data, &st); err != nil {
		return true
	}
	return st.Usable()
}

// Degraded names the template languages callers are not offered with, and why, and the
// business account's standing when it stops or threatens offers (readyz).
func (s *Service) Degraded(ctx context.Context) []string {
	return append(s.templatesDegraded(ctx), s.accountDegraded(ctx)...)
}

func (s *Service) templatesDegraded(ctx context.Context) []string {
	states, err := s.TemplateStates(ctx)
	if err != nil {
		return nil
	}
	deflection := map[string]bool{s.cfg.Deflect.Template.Name: true}
	for _, v := range s.cfg.Deflect.Experiments {
		deflection[v.Template] = true
	}
	var out []string
	for _, t := range states {
		if t.Usable() {
			continue
		}
		effect := "callers of this language are not offered"
		if !deflection[t.Name] {
			if (TemplateState{Status: t.Status}).Usable() {
				continue // only its category: it is still sent (a notification may be MARKETING)
			}
			effect = "Meta refuses sends of it"
		}
		out = append(out, fmt.Sprintf("template %s/%s: %s %s %s: %s", t.Name, t.Language, t.Status, t.Category, t.Reason, effect))
	}
	return out
}

// TemplateStates lists what Meta last said about every template language (readyz details).
func (s *Service) TemplateStates(ctx context.Context) ([]TemplateState, error) {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	docs, err := s.st.ListDocs(sctx, TemplateStateCollection)
	if err != nil {
		return nil, err
	}
	out := make([]TemplateState, 0, len(docs))
	for _, d := range docs {
		var st TemplateState
		if json.Unmarshal(d.Data, &st) == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// RecordTemplateStates applies a template sync: what Meta's template list says of each
// template language replaces the stored status, category and reason (a webhook missed while
// no instance was running is caught up this way). It returns the states that changed.
func (s *Service) RecordTemplateStates(ctx context.Context, states []TemplateState) ([]TemplateState, error) {
	var changed []TemplateState
	for _, in := range states {
		if in.Name == "" || in.Language == "" {
			continue
		}
		in.Status, in.Category = strings.ToUpper(in.Status), strings.ToUpper(in.Category)
		var was TemplateState
		sctx, cancel := s.storeCtx(ctx)
		st, err := store.UpdateJSON(sctx, s.st, TemplateStateCollection, templateKey(in.Name, in.Language), 0, 8,
			func() TemplateState { return TemplateState{Name: in.Name, Language: in.Language} },
			func(t *TemplateState, _ bool) error {
				was = *t
				if t.Status == in.Status && t.Category == in.Category && t.Reason == in.Reason {
					return nil
				}
				t.Status, t.Category, t.Reason, t.At = in.Status, in.Category, in.Reason, s.now()
				return nil
			})
		cancel()
		if err != nil {
			return changed, fmt.Errorf("record template state %s/%s: %w", in.Name, in.Language, err)
		}
		if was.Status == st.Status && was.Category == st.Category && was.Reason == st.Reason {
			continue
		}
		changed = append(changed, *st)
		s.m.templateState.WithLabelValues(usableLabel(st.Usable())).Inc()
		level := slog.LevelInfo
		if !st.Usable() {
			level = slog.LevelWarn
		}
		s.log.Log(ctx, level, "template state synced", "template", st.Name, "language", st.Language,
			"status", st.Status, "category", st.Category, "reason", st.Reason, "usable", st.Usable())
	}
	return changed, nil
}
