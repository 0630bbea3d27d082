package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/configs"
)

// notifyCSV writes a CSV for licence_renewal (two body parameters) with extra columns per row.
func notifyCSV(t *testing.T, extraColumns int) string {
	t.Helper()
	head := "phone,language,name,expiry" + strings.Repeat(",more", extraColumns)
	more := strings.Repeat(",x", extraColumns)
	data := head + "\n+966501230001,ar,Aisha,2027-01-10" + more + "\n+966501230002,en,Bob,2027-01-11" + more +
		"\n0501230003,en,Carl,2027-01-12" + more + "\n"
	p := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNotifyTellsTheTruth: on the embedded default a real run is refused with the way to send
// through the gateway; a dry run checks the template's name, language and parameter count.
func TestNotifyTellsTheTruth(t *testing.T) {
	fits, tooMany := notifyCSV(t, 0), notifyCSV(t, 1)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // in stdout+stderr
	}{
		{"real run on the embedded default is refused", []string{"--csv", fits, "--template", "licence_renewal"}, 2, "--gateway http://127.0.0.1:8080"},
		{"dry run of a template that does not exist", []string{"--csv", fits, "--template", "nope", "--dry-run"}, 2, `unknown template "nope"`},
		{"dry run with a parameter too many", []string{"--csv", tooMany, "--template", "licence_renewal", "--dry-run"}, 1, "invalid:   3"},
		{"dry run that fits", []string{"--csv", fits, "--template", "licence_renewal", "--dry-run"}, 0, "would-send: 3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"notify", "--no-progress"}, tc.args...)
			stdout, stderr, code := runCLI(t, testEnv(), args...)
			if code != tc.wantCode || !strings.Contains(stdout+stderr, tc.wantOut) {
				t.Errorf("exit %d (want %d), output lacks %q?\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, tc.wantOut, stdout, stderr)
			}
		})
	}
}

// TestNotifyThroughGateway: notify --gateway sends through the running gateway's API, so its
// sandbox shows the messages and its store remembers the keys: a second run sends nothing.
func TestNotifyThroughGateway(t *testing.T) {
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.Sandbox.Templates = append(c.WhatsApp.Sandbox.Templates,
			configs.TemplateDef{Name: "licence_renewal", Languages: []string{"en", "ar"}, BodyParams: 2})
	})
	csvPath := notifyCSV(t, 0)
	env := testEnv("DEFLECTD_API_TOKEN=" + e2eToken)
	run := func(template string) (string, int) {
		stdout, stderr, code := runCLI(t, env, "notify", "--no-progress", "--gateway", g.base, "--csv", csvPath, "--template", template)
		return stdout + stderr, code
	}
	if out, code := run("licence_renewal"); code != 0 || !strings.Contains(out, "sent:      3") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	for _, n := range []string{"+966501230001", "+966501230002", "+966501230003"} {
		if got := len(g.sandbox.Sent(n)); got != 1 {
			t.Errorf("the gateway's sandbox has %d messages for %s, want 1", got, n)
		}
	}
	if out, code := run("licence_renewal"); code != 0 || !strings.Contains(out, "duplicate: 3") {
		t.Errorf("second run: exit %d, want 3 duplicates\n%s", code, out)
	}
	if got := len(g.sandbox.Sent("+966501230001")); got != 1 {
		t.Errorf("after the second run the sandbox has %d messages, want 1", got)
	}
	if out, code := run("nope"); code != 2 || !strings.Contains(out, `unknown template "nope"`) {
		t.Errorf("unknown template through the gateway: exit %d\n%s", code, out)
	}
	stdout, stderr, code := runCLI(t, testEnv(), "notify", "--gateway", g.base, "--csv", csvPath, "--template", "licence_renewal")
	if code != 2 || !strings.Contains(stderr, "DEFLECTD_API_TOKEN") {
		t.Errorf("no token: exit %d\n%s%s", code, stdout, stderr)
	}
}
