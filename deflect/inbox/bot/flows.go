// Package bot is the rule-based WhatsApp menu bot: flows defined in YAML per language (greeting,
// numbered menus shown as buttons or lists, keyword triggers, answers with text, links and media,
// sub-menus, "back", "talk to an agent", fallback to an agent after N misunderstood messages).
// It is pure: Handle maps (state, inbound message) to (new state, actions); sending is the caller's.
package bot

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed flows.example.yaml
var exampleFS embed.FS

// Flows is the whole bot definition.
type Flows struct {
	DefaultLanguage string `yaml:"default_language"`
	// LanguageKeywords switch the conversation language: "english" → en, "عربي" → ar.
	LanguageKeywords map[string]string   `yaml:"language_keywords"`
	Languages        map[string]Language `yaml:"languages"`
}

// Language is one language's flow.
type Language struct {
	Greeting     string           `yaml:"greeting"`      // sent before the first menu
	Start        string           `yaml:"start"`         // menu id shown first
	Menus        map[string]*Menu `yaml:"menus"`         // by id
	Keywords     []Keyword        `yaml:"keywords"`      // triggers valid anywhere
	BackWords    []string         `yaml:"back_words"`    // "back", "0"
	AgentWords   []string         `yaml:"agent_words"`   // "agent", "human"
	Fallback     string           `yaml:"fallback"`      // "Sorry, I did not understand"
	Handoff      string           `yaml:"handoff"`       // "Connecting you to an agent"
	MenuButton   string           `yaml:"menu_button"`   // list button label (≤ 20 chars)
	LanguageName string           `yaml:"language_name"` // shown after a language switch
	// Call is the message of the WhatsApp call button an option with call: true sends.
	Call string `yaml:"call"`
}

// Menu is a numbered menu; shown as reply buttons (≤ 3 options), a list (≤ 10) or numbered text.
type Menu struct {
	Text    string   `yaml:"text"`
	Options []Option `yaml:"options"`
}

// Option is one menu entry: it opens a sub-menu (Goto), answers (Answer), or hands off (Agent).
type Option struct {
	Key      string   `yaml:"key"`   // what the user types: "1"
	Title    string   `yaml:"title"` // button/list title (≤ 20 / 24 chars)
	Keywords []string `yaml:"keywords"`
	Goto     string   `yaml:"goto"`
	Answer   *Answer  `yaml:"answer"`
	Agent    bool     `yaml:"agent"`
	Back     bool     `yaml:"back"`
	Call     bool     `yaml:"call"` // send a WhatsApp call button (only while voice is enabled)
}

// Keyword is a trigger valid in every menu.
type Keyword struct {
	Words  []string `yaml:"words"`
	Goto   string   `yaml:"goto"`
	Answer *Answer  `yaml:"answer"`
	Agent  bool     `yaml:"agent"`
	Call   bool     `yaml:"call"`
}

// Answer is what the bot replies: text (links allowed), optional media by URL.
type Answer struct {
	Text  string `yaml:"text"`
	Media *Media `yaml:"media"`
	// Then shows this menu after the answer; empty = the current menu again.
	Then string `yaml:"then"`
}

// Media is an image, document (PDF) or video by URL.
type Media struct {
	Kind     string `yaml:"kind"` // image|document|video|audio
	URL      string `yaml:"url"`
	Filename string `yaml:"filename"`
	Caption  string `yaml:"caption"`
}

// Example returns the shipped example flows (a government licence service in English and Arabic).
func Example() (*Flows, error) {
	data, err := exampleFS.ReadFile("flows.example.yaml")
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Load reads flows from a YAML file.
func Load(path string) (*Flows, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Parse decodes flows strictly and checks every reference.
func Parse(data []byte) (*Flows, error) {
	var f Flows
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse flows: %w", err)
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

func (f *Flows) validate() error {
	var errs []error
	if _, ok := f.Languages[f.DefaultLanguage]; !ok {
		errs = append(errs, fmt.Errorf("default_language %q has no flow", f.DefaultLanguage))
	}
	for kw, lang := range f.LanguageKeywords {
		if _, ok := f.Languages[lang]; !ok {
			errs = append(errs, fmt.Errorf("language_keywords.%s: no flow for %q", kw, lang))
		}
	}
	for name, l := range f.Languages {
		at := "languages." + name
		if _, ok := l.Menus[l.Start]; !ok {
			errs = append(errs, fmt.Errorf("%s.start: no menu %q", at, l.Start))
		}
		if len([]rune(l.MenuButton)) > 20 {
			errs = append(errs, fmt.Errorf("%s.menu_button: longer than 20 characters", at))
		}
		check := func(where, target string) {
			if target != "" {
				if _, ok := l.Menus[target]; !ok {
					errs = append(errs, fmt.Errorf("%s: no menu %q", where, target))
				}
			}
		}
		for id, m := range l.Menus {
			for i, o := range m.Options {
				where := fmt.Sprintf("%s.menus.%s.options[%d]", at, id, i)
				check(where+".goto", o.Goto)
				if o.Answer != nil {
					check(where+".answer.then", o.Answer.Then)
				}
				if o.Goto == "" && o.Answer == nil && !o.Agent && !o.Back && !o.Call {
					errs = append(errs, fmt.Errorf("%s: needs goto, answer, agent, back or call", where))
				}
				if o.Call && l.Call == "" {
					errs = append(errs, fmt.Errorf("%s.call: the language needs a call text (the call button's message)", where))
				}
				if len([]rune(o.Title)) > 24 {
					errs = append(errs, fmt.Errorf("%s.title: longer than 24 characters (WhatsApp list row limit)", where))
				}
				if o.Key == "" {
					errs = append(errs, fmt.Errorf("%s.key: empty", where))
				}
			}
			if len(m.Options) > 10 {
				errs = append(errs, fmt.Errorf("%s.menus.%s: more than 10 options", at, id))
			}
		}
		for i, k := range l.Keywords {
			check(fmt.Sprintf("%s.keywords[%d].goto", at, i), k.Goto)
		}
	}
	return errors.Join(errs...)
}
