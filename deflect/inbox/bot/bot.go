package bot

import (
	"strings"
	"unicode"
)

// State is one conversation's place in the flows; the caller persists it with the conversation.
type State struct {
	Language string   `json:"language"`
	Menu     string   `json:"menu"`
	Stack    []string `json:"stack,omitempty"`
	Misses   int      `json:"misses"`
	Started  bool     `json:"started"`
	Handoff  bool     `json:"handoff"` // an agent owns the conversation; the bot stays silent
}

// Input is one inbound customer message.
type Input struct {
	Text       string // typed text (or a button's text)
	ReplyID    string // id of a tapped reply button or list row
	WindowOpen bool   // inside the 24-hour customer-service window
}

// ActionKind says how an action is sent.
type ActionKind string

// Kinds of bot actions.
const (
	ActText    ActionKind = "text"
	ActButtons ActionKind = "buttons"
	ActList    ActionKind = "list"
	ActMedia   ActionKind = "media"
	ActHandoff ActionKind = "handoff" // hand the conversation to an agent (Text is said first)
	ActCall    ActionKind = "call"    // a WhatsApp call button, Text as its message
)

// Action is one thing to send (or do).
type Action struct {
	Kind    ActionKind
	Text    string
	Choices []Choice // buttons or list rows
	Button  string   // list button label
	Media   *Media
}

// Choice is a reply button or list row; ID comes back in Input.ReplyID.
type Choice struct {
	ID    string
	Title string
}

// Bot runs flows. It holds no per-conversation state.
type Bot struct {
	flows         *Flows
	fallbackAfter int
	calls         bool // options and keywords with call: true are offered
}

// New returns a bot; after fallbackAfter misunderstood messages in a row it hands off to an agent
// (0 = never).
func New(f *Flows, fallbackAfter int) *Bot { return &Bot{flows: f, fallbackAfter: fallbackAfter} }

// WithCalls offers the flows' call options (WhatsApp calls to the contact centre are on); without
// it they are hidden, as if absent.
func (b *Bot) WithCalls(on bool) *Bot { b.calls = on; return b }

func (b *Bot) hidden(o Option) bool { return o.Call && !b.calls }

// Flows returns the definition the bot runs.
func (b *Bot) Flows() *Flows { return b.flows }

// Language returns the flow language for a BCP 47 tag ("ar-SA" → "ar"), or the default.
func (b *Bot) Language(tag string) string {
	tag = strings.ToLower(tag)
	if _, ok := b.flows.Languages[tag]; ok {
		return tag
	}
	if primary, _, ok := strings.Cut(tag, "-"); ok {
		if _, ok := b.flows.Languages[primary]; ok {
			return primary
		}
	}
	return b.flows.DefaultLanguage
}

// Handle answers one inbound message. Outside the 24-hour window, or once an agent has the
// conversation, it says nothing: free-form replies are only allowed inside the window.
func (b *Bot) Handle(st State, in Input) (State, []Action) {
	if !in.WindowOpen || st.Handoff {
		return st, nil
	}
	st.Language = b.Language(st.Language)
	text := normalize(in.Text)

	if lang, ok := b.matchLanguage(text); ok {
		st.Language, st.Menu, st.Stack, st.Misses, st.Started = lang, "", nil, 0, true
		l := b.flows.Languages[lang]
		var acts []Action
		if l.LanguageName != "" {
			acts = append(acts, Action{Kind: ActText, Text: l.LanguageName})
		}
		st.Menu = l.Start
		return st, append(acts, b.render(lang, l.Start))
	}

	l := b.flows.Languages[st.Language]
	var acts []Action
	if !st.Started {
		st.Started = true
		st.Menu = l.Start
		if l.Greeting != "" {
			acts = append(acts, Action{Kind: ActText, Text: l.Greeting})
		}
		// A first message that already picks something is served; anything else gets the menu.
		if st2, more, ok := b.dispatch(st, l, in, text); ok {
			return st2, append(acts, more...)
		}
		return st, append(acts, b.render(st.Language, st.Menu))
	}
	if _, ok := l.Menus[st.Menu]; !ok {
		st.Menu = l.Start
	}
	if st2, more, ok := b.dispatch(st, l, in, text); ok {
		return st2, more
	}
	st.Misses++
	if b.fallbackAfter > 0 && st.Misses >= b.fallbackAfter {
		return b.handoff(st, l)
	}
	return st, []Action{{Kind: ActText, Text: l.Fallback}, b.render(st.Language, st.Menu)}
}

// dispatch finds what the input asks for: a tapped choice, agent or back words, an option of the
// current menu, then a global keyword.
func (b *Bot) dispatch(st State, l Language, in Input, text string) (State, []Action, bool) {
	if menu, key, ok := parseChoiceID(in.ReplyID); ok {
		if m, ok := l.Menus[menu]; ok {
			for _, o := range m.Options {
				if o.Key == key && !b.hidden(o) {
					st.Menu = menu
					s, acts := b.choose(st, l, o)
					return s, acts, true
				}
			}
		}
	}
	if text == "" {
		return st, nil, false
	}
	if containsWord(l.AgentWords, text) {
		s, acts := b.handoff(st, l)
		return s, acts, true
	}
	if containsWord(l.BackWords, text) {
		s, acts := b.back(st, l)
		return s, acts, true
	}
	for _, o := range l.Menus[st.Menu].Options {
		if b.hidden(o) {
			continue
		}
		if text == normalize(o.Key) || text == normalize(o.Title) || containsWord(o.Keywords, text) {
			s, acts := b.choose(st, l, o)
			return s, acts, true
		}
	}
	for _, k := range l.Keywords {
		if matchesAny(k.Words, text) && !(k.Call && !b.calls) {
			s, acts := b.choose(st, l, Option{Goto: k.Goto, Answer: k.Answer, Agent: k.Agent, Call: k.Call})
			return s, acts, true
		}
	}
	return st, nil, false
}

func (b *Bot) choose(st State, l Language, o Option) (State, []Action) {
	st.Misses = 0
	switch {
	case o.Agent:
		return b.handoff(st, l)
	case o.Back:
		return b.back(st, l)
	case o.Call:
		return st, []Action{{Kind: ActCall, Text: l.Call}}
	case o.Goto != "":
		if o.Goto != st.Menu {
			st.Stack = append(st.Stack, st.Menu)
		}
		st.Menu = o.Goto
		return st, []Action{b.render(st.Language, st.Menu)}
	}
	var acts []Action
	if a := o.Answer; a != nil {
		if a.Text != "" {
			acts = append(acts, Action{Kind: ActText, Text: a.Text})
		}
		if a.Media != nil {
			acts = append(acts, Action{Kind: ActMedia, Media: a.Media})
		}
		if a.Then != "" {
			if a.Then != st.Menu {
				st.Stack = append(st.Stack, st.Menu)
			}
			st.Menu = a.Then
			acts = append(acts, b.render(st.Language, st.Menu))
		}
	}
	return st, acts
}

func (b *Bot) back(st State, l Language) (State, []Action) {
	if n := len(st.Stack); n > 0 {
		st.Menu, st.Stack = st.Stack[n-1], st.Stack[:n-1]
	} else {
		st.Menu = l.Start
	}
	st.Misses = 0
	return st, []Action{b.render(st.Language, st.Menu)}
}

func (b *Bot) handoff(st State, l Language) (State, []Action) {
	st.Handoff, st.Misses = true, 0
	return st, []Action{{Kind: ActHandoff, Text: l.Handoff}}
}

// render shows a menu as reply buttons (≤ 3 short options), a list (≤ 10), or numbered text.
func (b *Bot) render(lang, menu string) Action {
	l := b.flows.Languages[lang]
	m := l.Menus[menu]
	choices := make([]Choice, 0, len(m.Options))
	short := true
	for _, o := range m.Options {
		if b.hidden(o) {
			continue
		}
		choices = append(choices, Choice{ID: choiceID(menu, o.Key), Title: o.Title})
		if len([]rune(o.Title)) > 20 {
			short = false
		}
	}
	switch {
	case len(choices) > 0 && len(choices) <= 3 && short:
		return Action{Kind: ActButtons, Text: m.Text, Choices: choices}
	case len(choices) > 0 && len(choices) <= 10:
		return Action{Kind: ActList, Text: m.Text, Choices: choices, Button: l.MenuButton}
	}
	var sb strings.Builder
	sb.WriteString(m.Text)
	for _, o := range m.Options {
		sb.WriteString("\n" + o.Key + ". " + o.Title)
	}
	return Action{Kind: ActText, Text: sb.String()}
}

func (b *Bot) matchLanguage(text string) (string, bool) {
	for kw, lang := range b.flows.LanguageKeywords {
		if text == normalize(kw) {
			return lang, true
		}
	}
	return "", false
}

// choiceID ties a tapped button back to its menu option: "m:<menu>:<key>".
func choiceID(menu, key string) string { return "m:" + menu + ":" + key }

func parseChoiceID(id string) (menu, key string, ok bool) {
	rest, ok := strings.CutPrefix(id, "m:")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, ":")
}

// normalize lower-cases, trims punctuation and maps Arabic-Indic digits so "١" selects option 1.
func normalize(s string) string {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) })
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '٠' && r <= '٩':
			return '0' + (r - '٠')
		case r >= '۰' && r <= '۹':
			return '0' + (r - '۰')
		}
		return r
	}, s)
}

func containsWord(words []string, text string) bool {
	for _, w := range words {
		if text == normalize(w) {
			return true
		}
	}
	return false
}

// matchesAny is true when text is a keyword or contains it as a whole word.
func matchesAny(words []string, text string) bool {
	fields := strings.FieldsFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) })
	for _, w := range words {
		w = normalize(w)
		if text == w {
			return true
		}
		for _, f := range fields {
			if f == w {
				return true
			}
		}
	}
	return false
}
