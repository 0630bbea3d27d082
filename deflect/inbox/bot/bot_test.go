package bot

import (
	"strings"
	"testing"
)

func exampleBot(t *testing.T) *Bot {
	t.Helper()
	f, err := Example()
	if err != nil {
		t.Fatalf("example flows: %v", err)
	}
	return New(f, 2)
}

type step struct {
	in        Input
	wantKinds []ActionKind
	wantText  string // substring of some action's text ("" = don't check)
	wantMenu  string
	check     func(t *testing.T, st State, acts []Action)
}

func open(text string) Input { return Input{Text: text, WindowOpen: true} }

func TestFlows(t *testing.T) {
	tests := []struct {
		name  string
		start State
		steps []step
	}{
		{
			name:  "first message greets and shows the main menu as a list",
			start: State{Language: "en"},
			steps: []step{{in: open("hello"), wantKinds: []ActionKind{ActText, ActList}, wantText: "Welcome", wantMenu: "main",
				check: func(t *testing.T, _ State, acts []Action) {
					if len(acts[1].Choices) != 4 || acts[1].Choices[0].ID != "m:main:1" || acts[1].Button != "Options" {
						t.Errorf("menu choices: %+v", acts[1])
					}
				}}},
		},
		{
			name:  "number opens a sub-menu shown as buttons, back returns",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{
				{in: open("1"), wantKinds: []ActionKind{ActButtons}, wantText: "Renewal status", wantMenu: "renewal"},
				{in: open("back"), wantKinds: []ActionKind{ActList}, wantMenu: "main"},
			},
		},
		{
			name:  "tapping a list row selects by id",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{{in: Input{ReplyID: "m:main:3", Text: "Office hours", WindowOpen: true}, wantKinds: []ActionKind{ActButtons}, wantMenu: "hours"}},
		},
		{
			name:  "documents answer carries a PDF document",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{{in: open("2"), wantKinds: []ActionKind{ActText, ActMedia}, wantText: "required documents",
				check: func(t *testing.T, _ State, acts []Action) {
					m := acts[1].Media
					if m.Kind != "document" || !strings.HasSuffix(m.URL, ".pdf") || m.Filename == "" {
						t.Errorf("media: %+v", m)
					}
				}}},
		},
		{
			name:  "video and image answers",
			start: State{Language: "en", Started: true, Menu: "renewal"},
			steps: []step{
				{in: open("2"), wantKinds: []ActionKind{ActText, ActMedia}, check: func(t *testing.T, _ State, a []Action) {
					if a[1].Media.Kind != "video" {
						t.Errorf("want video, got %+v", a[1].Media)
					}
				}},
				{in: open("0"), wantMenu: "main", wantKinds: []ActionKind{ActList}},
				{in: open("3"), wantMenu: "hours", wantKinds: []ActionKind{ActButtons}},
				{in: open("1"), wantKinds: []ActionKind{ActText, ActMedia}, check: func(t *testing.T, _ State, a []Action) {
					if a[1].Media.Kind != "image" {
						t.Errorf("want image, got %+v", a[1].Media)
					}
				}},
			},
		},
		{
			name:  "global keyword works from any menu",
			start: State{Language: "en", Started: true, Menu: "renewal"},
			steps: []step{{in: open("what are your opening hours?"), wantMenu: "hours", wantKinds: []ActionKind{ActButtons}}},
		},
		{
			name:  "misunderstood twice falls back to an agent",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{
				{in: open("blorp"), wantKinds: []ActionKind{ActText, ActList}, wantText: "did not understand"},
				{in: open("zzz"), wantKinds: []ActionKind{ActHandoff}, wantText: "agent", check: func(t *testing.T, st State, _ []Action) {
					if !st.Handoff {
						t.Error("state must record the handoff")
					}
				}},
				{in: open("hello?"), wantKinds: nil}, // the agent has it now: the bot is silent
			},
		},
		{
			name:  "a good answer resets the miss counter",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{
				{in: open("blorp"), wantKinds: []ActionKind{ActText, ActList}},
				{in: open("1"), wantMenu: "renewal", wantKinds: []ActionKind{ActButtons}},
				{in: open("blorp"), wantKinds: []ActionKind{ActText, ActButtons}},
			},
		},
		{
			name:  "talk to an agent",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{{in: open("agent"), wantKinds: []ActionKind{ActHandoff}}},
		},
		{
			name:  "language follows the call (ar-SA) and Arabic-Indic digits select",
			start: State{Language: "ar-SA"},
			steps: []step{
				{in: open("السلام عليكم"), wantKinds: []ActionKind{ActText, ActList}, wantText: "مرحبًا", wantMenu: "main"},
				{in: open("٣"), wantKinds: []ActionKind{ActButtons}, wantText: "مكاتبنا", wantMenu: "hours"},
			},
		},
		{
			name:  "user switches language",
			start: State{Language: "en", Started: true, Menu: "renewal"},
			steps: []step{{in: open("عربي"), wantKinds: []ActionKind{ActText, ActList}, wantText: "كيف يمكننا", wantMenu: "main",
				check: func(t *testing.T, st State, _ []Action) {
					if st.Language != "ar" {
						t.Errorf("language = %q", st.Language)
					}
				}}},
		},
		{
			name:  "window closed: the bot says nothing",
			start: State{Language: "en", Started: true, Menu: "main"},
			steps: []step{{in: Input{Text: "1", WindowOpen: false}, wantKinds: nil, wantMenu: "main"}},
		},
		{
			name:  "first message that already picks an option is served after the greeting",
			start: State{Language: "en"},
			steps: []step{{in: open("4"), wantKinds: []ActionKind{ActText, ActHandoff}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := exampleBot(t)
			st := tt.start
			for i, s := range tt.steps {
				var acts []Action
				st, acts = b.Handle(st, s.in)
				var kinds []ActionKind
				var all strings.Builder
				for _, a := range acts {
					kinds = append(kinds, a.Kind)
					all.WriteString(a.Text + "\n")
				}
				if !equalKinds(kinds, s.wantKinds) {
					t.Fatalf("step %d (%q): kinds %v, want %v", i, s.in.Text, kinds, s.wantKinds)
				}
				if s.wantText != "" && !strings.Contains(all.String(), s.wantText) {
					t.Errorf("step %d: texts %q lack %q", i, all.String(), s.wantText)
				}
				if s.wantMenu != "" && st.Menu != s.wantMenu {
					t.Errorf("step %d: menu %q, want %q", i, st.Menu, s.wantMenu)
				}
				if s.check != nil {
					s.check(t, st, acts)
				}
			}
		})
	}
}

func equalKinds(a, b []ActionKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseRejectsBrokenFlows(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "default_language: en\nlanguagez: {}\n", "languagez"},
		{"missing default", "default_language: fr\nlanguages: {en: {start: main, menus: {main: {text: hi}}}}\n", `default_language "fr"`},
		{"dangling goto", "default_language: en\nlanguages: {en: {start: main, menus: {main: {text: hi, options: [{key: '1', title: x, goto: nowhere}]}}}}\n", `no menu "nowhere"`},
		{"option without effect", "default_language: en\nlanguages: {en: {start: main, menus: {main: {text: hi, options: [{key: '1', title: x}]}}}}\n", "needs goto, answer, agent, back or call"},
		{"title too long", "default_language: en\nlanguages: {en: {start: main, menus: {main: {text: hi, options: [{key: '1', title: 'abcdefghijklmnopqrstuvwxyz', agent: true}]}}}}\n", "longer than 24"},
		{"call without a call text", "default_language: en\nlanguages: {en: {start: main, menus: {main: {text: hi, options: [{key: '1', title: x, call: true}]}}}}\n", "needs a call text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLanguageResolution(t *testing.T) {
	b := exampleBot(t)
	for in, want := range map[string]string{"ar": "ar", "ar-SA": "ar", "EN-gb": "en", "fr": "en", "": "en"} {
		if got := b.Language(in); got != want {
			t.Errorf("Language(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCallOption: the call option is offered and answered with a call button only while
// WhatsApp calls are on; off, it is neither shown nor matched.
func TestCallOption(t *testing.T) {
	started := State{Language: "en", Menu: "main", Started: true}
	tests := []struct {
		name     string
		calls    bool
		in       string
		wantKind ActionKind
		wantRows int // options the main menu shows
	}{
		{name: "on: option 5", calls: true, in: "5", wantKind: ActCall, wantRows: 5},
		{name: "on: keyword", calls: true, in: "call", wantKind: ActCall, wantRows: 5},
		{name: "off: option 5 is not understood", calls: false, in: "5", wantKind: ActText, wantRows: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := exampleBot(t).WithCalls(tc.calls)
			_, acts := b.Handle(started, open(tc.in))
			if len(acts) == 0 || acts[0].Kind != tc.wantKind {
				t.Fatalf("actions %+v, want first %s", acts, tc.wantKind)
			}
			if tc.wantKind == ActCall && !strings.Contains(acts[0].Text, "call us on WhatsApp") {
				t.Errorf("call text %q", acts[0].Text)
			}
			menu := b.render("en", "main")
			if len(menu.Choices) != tc.wantRows {
				t.Errorf("main menu shows %d options, want %d", len(menu.Choices), tc.wantRows)
			}
		})
	}
}
