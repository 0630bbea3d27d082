package configs

import (
	"strings"
	"testing"
)

// TestBuiltInTemplatesFitTheSendPath: the embedded definitions load, and the deflection template
// in every language deflectd sends has exactly the body parameters and quick-reply buttons the
// default deflect.template fills; licence_renewal has the two parameters notify's CSV gives.
func TestBuiltInTemplatesFitTheSendPath(t *testing.T) {
	defs, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	if m := TemplateMismatches(c, defs); len(m) != 0 {
		t.Errorf("built-in templates do not fit the default config: %v", m)
	}
	for _, lang := range []string{"en", "ar", "fr"} {
		tt, ok := FindTemplate(defs, "call_deflection", lang)
		if !ok || tt.BodyParams() != 1 || tt.QuickReplies() != 2 {
			t.Errorf("call_deflection/%s: defined %v, %d params, %d quick replies", lang, ok, tt.BodyParams(), tt.QuickReplies())
		}
	}
	if tt, ok := FindTemplate(defs, "licence_renewal", "ar"); !ok || tt.BodyParams() != 2 {
		t.Errorf("licence_renewal/ar: defined %v with %d params, want 2", ok, tt.BodyParams())
	}
	// A config that fills two parameters no longer fits: the check can fail.
	c.Deflect.Template.Params = append(c.Deflect.Template.Params, "{{.CustomerID}}")
	if m := TemplateMismatches(c, defs); len(m) != 3 || !strings.Contains(m[0], "deflect.template.params fills 2") {
		t.Errorf("mismatches with two params = %q, want one per language", m)
	}
	c = Default()
	c.Deflect.Template.Languages["de"] = "de"
	if m := TemplateMismatches(c, defs); len(m) != 1 || !strings.Contains(m[0], "call_deflection/de is sent") {
		t.Errorf("mismatches with German = %q", m)
	}
}

func TestCheckTemplatesRefuses(t *testing.T) {
	ok := TemplateText{Body: "Hi {{1}}", Example: []string{"x"}, Buttons: []TemplateButton{{"QUICK_REPLY", "Yes"}, {"VOICE_CALL", "Call us"}}}
	tests := []struct {
		name string
		def  TemplateDefinition
		want string
	}{
		{"valid", TemplateDefinition{Name: "a_b", Category: "UTILITY", Languages: map[string]TemplateText{"en_US": ok}}, ""},
		{"upper-case name", TemplateDefinition{Name: "Call", Category: "UTILITY", Languages: map[string]TemplateText{"en": ok}}, "lowercase"},
		{"no category", TemplateDefinition{Name: "a", Languages: map[string]TemplateText{"en": ok}}, "category must be"},
		{"missing example", TemplateDefinition{Name: "a", Category: "UTILITY", Languages: map[string]TemplateText{"en": {Body: "Hi {{1}} {{2}}", Example: []string{"x"}}}}, "one sample value per placeholder (2)"},
		{"gap in placeholders", TemplateDefinition{Name: "a", Category: "UTILITY", Languages: map[string]TemplateText{"en": {Body: "Hi {{2}}", Example: []string{"x"}}}}, "without gaps"},
		{"call button first", TemplateDefinition{Name: "a", Category: "UTILITY", Languages: map[string]TemplateText{"en": {Body: "Hi", Buttons: []TemplateButton{{"VOICE_CALL", "Call"}, {"QUICK_REPLY", "Yes"}}}}}, "before the call button"},
		{"unknown button", TemplateDefinition{Name: "a", Category: "UTILITY", Languages: map[string]TemplateText{"en": {Body: "Hi", Buttons: []TemplateButton{{"URL", "Go"}}}}}, "QUICK_REPLY or VOICE_CALL"},
		{"bad language", TemplateDefinition{Name: "a", Category: "UTILITY", Languages: map[string]TemplateText{"English": ok}}, "language code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTemplates([]TemplateDefinition{tt.def})
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("CheckTemplates = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestTemplatesFileKey: a bad templates file is a configuration error naming the key.
func TestTemplatesFileKey(t *testing.T) {
	for _, path := range []string{"testdata/templates_unknown_key.yaml", "testdata/no-such-file.yaml"} {
		_, err := Load("", []string{"DEFLECTD_WHATSAPP_TEMPLATES_FILE=" + path})
		if err == nil || !strings.Contains(err.Error(), "whatsapp.templates_file") {
			t.Errorf("%s: Load = %v, want an error naming whatsapp.templates_file", path, err)
		}
	}
}
