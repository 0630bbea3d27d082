package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Templates as code: the WhatsApp templates deflectd sends, defined once (templates.yaml, or
// whatsapp.templates_file) and used to submit them to Meta, to seed the sandbox, and to check
// that what deflectd fills in matches what Meta approved.

//go:embed templates.yaml
var defaultTemplates []byte

// TemplateDefinition is one template name in every language it exists in.
type TemplateDefinition struct {
	Name      string                  `yaml:"name"`
	Category  string                  `yaml:"category"` // UTILITY, MARKETING, AUTHENTICATION
	Languages map[string]TemplateText `yaml:"languages"`
}

// TemplateText is a template in one language.
type TemplateText struct {
	Header  string           `yaml:"header"` // optional text header, no placeholders
	Body    string           `yaml:"body"`   // with {{1}}, {{2}}...
	Example []string         `yaml:"example"`
	Footer  string           `yaml:"footer"`
	Buttons []TemplateButton `yaml:"buttons"`
}

// TemplateButton is a button: QUICK_REPLY (its payload is set when sending) or VOICE_CALL (a
// WhatsApp call to the business number; nothing to set when sending).
type TemplateButton struct {
	Type string `yaml:"type"`
	Text string `yaml:"text"`
}

var (
	placeholderRe  = regexp.MustCompile(`\{\{\s*(\d+)\s*\}\}`)
	templateNameRe = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	templateLangRe = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
)

// BodyParams is the number of the body's placeholders.
func (t TemplateText) BodyParams() int {
	seen := map[string]bool{}
	for _, m := range placeholderRe.FindAllStringSubmatch(t.Body, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// QuickReplies is the number of quick-reply buttons (they come first: indexes 0..n-1).
func (t TemplateText) QuickReplies() int {
	n := 0
	for _, b := range t.Buttons {
		if b.Type == "QUICK_REPLY" {
			n++
		}
	}
	return n
}

// LoadTemplates reads template definitions from path; "" means the built-in ones. The file is
// strict YAML (an unknown key is an error) and every definition is checked against Meta's rules.
func LoadTemplates(path string) ([]TemplateDefinition, error) {
	data, name := defaultTemplates, "built-in templates"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("read whatsapp.templates_file: %w", err)
		}
		name = path
	}
	var doc struct {
		Templates []TemplateDefinition `yaml:"templates"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	if err := CheckTemplates(doc.Templates); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return doc.Templates, nil
}

// CheckTemplates applies Meta's documented limits (template guidelines: name lowercase and
// underscores; body ≤ 1024 characters with placeholders numbered from 1 without gaps and one
// sample value each; header and footer ≤ 60; at most 10 buttons of ≤ 25 characters; quick
// replies grouped; one call button).
func CheckTemplates(defs []TemplateDefinition) error {
	var errs []error
	seen := map[string]bool{}
	for i, d := range defs {
		at := fmt.Sprintf("templates[%d] (%s)", i, d.Name)
		bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(at+": "+format, a...)) }
		if !templateNameRe.MatchString(d.Name) {
			bad("name must be lowercase letters, digits and underscores")
		}
		if seen[d.Name] {
			bad("defined twice")
		}
		seen[d.Name] = true
		if !slices.Contains([]string{"UTILITY", "MARKETING", "AUTHENTICATION"}, d.Category) {
			bad("category must be UTILITY, MARKETING or AUTHENTICATION, got %q", d.Category)
		}
		if len(d.Languages) == 0 {
			bad("needs at least one language")
		}
		for _, lang := range sortedKeys(d.Languages) {
			if err := checkTemplateText(lang, d.Languages[lang]); err != nil {
				bad("%s: %v", lang, err)
			}
		}
	}
	return errors.Join(errs...)
}

func checkTemplateText(lang string, t TemplateText) error {
	if !templateLangRe.MatchString(lang) {
		return fmt.Errorf("%q is not a template language code such as en, en_US or pt_BR", lang)
	}
	if t.Body == "" || utf8.RuneCountInString(t.Body) > 1024 {
		return errors.New("body must have 1 to 1024 characters")
	}
	n := t.BodyParams()
	for _, m := range placeholderRe.FindAllStringSubmatch(t.Body, -1) {
		if k, _ := strconv.Atoi(m[1]); k < 1 || k > n {
			return fmt.Errorf("body placeholders must be numbered {{1}} to {{%d}} without gaps", n)
		}
	}
	if len(t.Example) != n {
		return fmt.Errorf("example needs one sample value per placeholder (%d), got %d", n, len(t.Example))
	}
	if strings.Contains(t.Header, "{{") || utf8.RuneCountInString(t.Header) > 60 || utf8.RuneCountInString(t.Footer) > 60 {
		return errors.New("header and footer are plain text of at most 60 characters")
	}
	if len(t.Buttons) > 10 {
		return errors.New("at most 10 buttons")
	}
	calls, otherSeen := 0, false
	for j, b := range t.Buttons {
		switch b.Type {
		case "QUICK_REPLY":
			if otherSeen {
				return errors.New("quick-reply buttons must come before the call button")
			}
		case "VOICE_CALL":
			calls++
			otherSeen = true
		default:
			return fmt.Errorf("buttons[%d]: type must be QUICK_REPLY or VOICE_CALL, got %q", j, b.Type)
		}
		if b.Text == "" || utf8.RuneCountInString(b.Text) > 25 {
			return fmt.Errorf("buttons[%d]: text must have 1 to 25 characters", j)
		}
	}
	if calls > 1 {
		return errors.New("at most one VOICE_CALL button")
	}
	return nil
}

// FindTemplate returns the definition of name in lang.
func FindTemplate(defs []TemplateDefinition, name, lang string) (TemplateText, bool) {
	for _, d := range defs {
		if d.Name == name {
			t, ok := d.Languages[lang]
			return t, ok
		}
	}
	return TemplateText{}, false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TemplateMismatches says where the deflection templates deflectd sends (deflect.template and
// the experiment variants' templates, in every language of deflect.template.languages) do not
// fit their definitions: a missing language, another number of body parameters than
// deflect.template.params, other quick replies than deflect.template.buttons. Meta would refuse
// such a send (132000, 131009), so push refuses to submit them and serve warns.
func TemplateMismatches(c Config, defs []TemplateDefinition) []string {
	tc := c.Deflect.Template
	names := []string{tc.Name}
	for _, v := range c.Deflect.Experiments {
		if v.Template != "" && !slices.Contains(names, v.Template) {
			names = append(names, v.Template)
		}
	}
	var langs []string
	for _, code := range tc.Languages {
		if !slices.Contains(langs, code) {
			langs = append(langs, code)
		}
	}
	sort.Strings(langs)
	var out []string
	for _, name := range names {
		for _, lang := range langs {
			t, ok := FindTemplate(defs, name, lang)
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("template %s/%s is sent (deflect.template.languages) but not defined", name, lang))
			case t.BodyParams() != len(tc.Params):
				out = append(out, fmt.Sprintf("template %s/%s has %d body placeholders, deflect.template.params fills %d", name, lang, t.BodyParams(), len(tc.Params)))
			case t.QuickReplies() != len(tc.Buttons):
				out = append(out, fmt.Sprintf("template %s/%s has %d quick-reply buttons, deflect.template.buttons sends %d", name, lang, t.QuickReplies(), len(tc.Buttons)))
			}
		}
	}
	return out
}
