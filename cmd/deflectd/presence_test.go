package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

const importFixture = "../../lookup/testdata/presence-import.csv"

func TestPresenceImportDryRun(t *testing.T) {
	report := filepath.Join(t.TempDir(), "invalid.csv")
	out, stderr, code, err := execCmd(t, newPresenceCmd, nil, "import", "--csv", importFixture, "--dry-run", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, stderr)
	}
	for _, w := range []string{"10 rows read, 5 valid (3 yes, 2 no) in nowhere (dry run), 5 invalid",
		"line 5: banana: not a phone number", "line 6: +96650****570: whatsapp \"maybe\"", "line 10: -: malformed CSV"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "501234570") {
		t.Errorf("unmasked number in the report:\n%s", out)
	}
	if !strings.Contains(stderr, "presence import") {
		t.Errorf("no progress bar on stderr: %q", stderr)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(data), "\n"); lines != 6 || !strings.HasPrefix(string(data), "line,phone,reason\n5,banana,") {
		t.Errorf("report file:\n%s", data)
	}
}

func TestPresenceImportUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badHeader := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(badHeader, []byte("number,on_wa\n+966501234567,yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no --csv", nil, []string{"import"}, "--csv FILE is required"},
		{"memory store without dry run", nil, []string{"import", "--csv", importFixture}, "store.backend is memory"},
		{"missing file", nil, []string{"import", "--csv", filepath.Join(dir, "nope.csv"), "--dry-run"}, "read csv"},
		{"bad header", nil, []string{"import", "--csv", badHeader, "--dry-run"}, "needs the columns phone and whatsapp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, code, err := execCmd(t, newPresenceCmd, tc.env, tc.args...)
			if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("exit %d, err %v; want 2 and %q", code, err, tc.want)
			}
		})
	}
}

func TestPresenceImportRedis(t *testing.T) {
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	env := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url, "DEFLECTD_STORE_REDIS_KEY_PREFIX=" + prefix}
	out, _, code, err := execCmd(t, newPresenceCmd, env, "import", "--csv", importFixture, "--no-progress")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	if !strings.Contains(out, "5 stored (3 yes, 2 no) in redis, 5 invalid") {
		t.Errorf("summary:\n%s", out)
	}
	rc := configs.Default().Store.Redis
	rc.URL, rc.KeyPrefix = url, prefix
	r, err := redisstore.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for n, want := range map[string]string{"+966501234567": "yes", "+966501234569": "no", "+447400123456": "yes"} {
		f, err := r.GetPresence(context.Background(), n)
		if err != nil || f.Status != want || f.Source != "import" {
			t.Errorf("%s: %+v, %v; want %s from import", n, f, err, want)
		}
	}
	// The shared facts are what check-number (and every instance) sees.
	out, _, _, _ = execCmd(t, newCheckNumberCmd, env, "+966501234569")
	if !strings.Contains(out, "presence      no (source import") {
		t.Errorf("check-number after import:\n%s", out)
	}
}

func TestPresenceImportRedisDown(t *testing.T) {
	srv := redistest.Server(t)
	url := srv.URL()
	srv.Stop()
	env := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url}
	_, _, code, err := execCmd(t, newPresenceCmd, env, "import", "--csv", importFixture, "--no-progress")
	if code != 1 || err == nil || !strings.Contains(err.Error(), "store unavailable") {
		t.Errorf("exit %d, err %v; want 1 and store unavailable", code, err)
	}
}
