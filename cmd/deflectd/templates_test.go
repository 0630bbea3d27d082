package main

import (
	"testing"

	"github.com/deflectd/deflectd/configs"
)

// TestDefinedTexts: with whatsapp.templates_file the console shows its bodies (they are what
// Meta has); without it, inbox.template_texts as configured.
func TestDefinedTexts(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"built-in definitions", "", "Thanks for calling about {{1}}. Instead of waiting on hold, continue here: tell us how we can help."},
		{"templates file", "../../deflect/templatesync/testdata/voice.yaml", "Thanks for calling about {{1}}. Continue here, or call us on WhatsApp."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configs.Default()
			cfg.WhatsApp.TemplatesFile = tt.file
			got := definedTexts(cfg)
			if got["call_deflection"]["en"] != tt.want || got["licence_renewal"]["en"] == "" {
				t.Errorf("texts = %v, want call_deflection/en %q and licence_renewal kept", got, tt.want)
			}
		})
	}
}
