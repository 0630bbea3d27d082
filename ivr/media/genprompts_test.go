package media

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

// TestGenPromptsScript runs deploy/scripts/gen-prompts.sh into a temporary directory: every
// prompt of every language comes out as a telephone-format WAV that LoadPrompts accepts. Whether
// the output is byte-identical to the committed files is logged, not asserted: that depends on
// the espeak-ng version the distribution ships.
func TestGenPromptsScript(t *testing.T) {
	for _, tool := range []string{"bash", "espeak-ng", "sox"} {
		testkit.RequireTool(t, tool)
	}
	out := t.TempDir()
	cmd := exec.Command("bash", "../../deploy/scripts/gen-prompts.sh", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-prompts.sh: %v\n%s", err, b)
	}
	p, err := LoadPrompts(out)
	if err != nil {
		t.Fatalf("generated prompts do not load: %v", err)
	}
	same := 0
	names := []string{PromptOffer, PromptSent, PromptReturnQueue, PromptNotReachable, PromptInvalid, PromptGoodbye}
	for _, lang := range []string{"en", "ar", "fr"} {
		for _, n := range names {
			gen, err := os.ReadFile(filepath.Join(out, lang, n+".wav"))
			if err != nil {
				t.Fatalf("%s/%s not generated: %v", lang, n, err)
			}
			if p.Duration(lang, n) < 500*time.Millisecond {
				t.Errorf("%s/%s lasts %v", lang, n, p.Duration(lang, n))
			}
			committed, err := embedded.ReadFile("prompts/" + lang + "/" + n + ".wav")
			if err != nil {
				t.Fatalf("%s/%s not committed: %v", lang, n, err)
			}
			if bytes.Equal(gen, committed) {
				same++
			}
		}
	}
	t.Logf("%d of %d generated prompts are byte-identical to the committed ones", same, 3*len(names))
}
