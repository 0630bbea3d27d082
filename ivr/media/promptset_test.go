package media

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPromptSet: a variant's set holds its own recordings and the base language's for what it
// lacks; it is not listed as a language.
func TestPromptSet(t *testing.T) {
	p, err := LoadPrompts("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "en"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The variant's offer is another recording: the short test prompt.
	short, err := os.ReadFile("../testdata/prompts/en/offer.wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "en", "offer.wav"), short, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.AddSet("short", dir); err != nil {
		t.Fatal(err)
	}
	set := SetLanguage("en", "short")
	if !p.Has(set, PromptOffer) || !p.Has(set, "sent") {
		t.Fatalf("set %s lacks its offer or the base language's sent prompt", set)
	}
	if p.Duration(set, PromptOffer) >= p.Duration("en", PromptOffer) {
		t.Errorf("the set's offer (%s) is not its own recording (base %s)", p.Duration(set, PromptOffer), p.Duration("en", PromptOffer))
	}
	if p.Duration(set, "sent") != p.Duration("en", "sent") {
		t.Errorf("a prompt the set lacks must be the base language's")
	}
	for _, l := range p.Languages() {
		if l == set {
			t.Errorf("Languages() lists the set %s", set)
		}
	}
	if err := p.AddSet("a@b", dir); err == nil {
		t.Errorf("a set name with @ must be refused")
	}
	if err := p.AddSet("missing", filepath.Join(dir, "nope")); err == nil {
		t.Errorf("a missing directory must be refused")
	}
}
