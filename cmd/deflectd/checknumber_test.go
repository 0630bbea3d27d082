package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

// execCmd runs one subcommand in process, as run() would, and returns its output and exit code.
func execCmd(t *testing.T, newCmd func(*globals) *cobra.Command, env []string, args ...string) (stdout, stderr string, code int, err error) {
	t.Helper()
	var o, e bytes.Buffer
	g := &globals{stdout: &o, stderr: &e, environ: env}
	cmd := newCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&o)
	cmd.SetErr(&e)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	switch {
	case err == nil:
		code = 0
	default:
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	}
	return o.String(), e.String(), code, err
}

func TestCheckNumber(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		args    []string
		code    int
		want    []string // in stdout
		wantErr string
	}{
		{"international mobile", nil, []string{"+966 50 123 4567"}, 0,
			[]string{"number        +966501234567", "region        SA", "type          mobile", "eligible      yes", "presence      unknown"}, ""},
		{"national fixed line", nil, []string{"011 234 5678", "--region", "SA"}, 0,
			[]string{"+966112345678", "fixed-line", "type allowed  no", "eligible      no (not-mobile: type fixed-line is not in deflect.allowed_types"}, ""},
		{"region flag lower case", nil, []string{"050 123 4567", "-r", "sa"}, 0, []string{"+966501234567", "mobile"}, ""},
		{"sip URI", nil, []string{"sip:+966501234567@pbx;user=phone"}, 0, []string{"+966501234567"}, ""},
		{"denied by the static list", []string{"DEFLECTD_LOOKUP_PRESENCE_DENY=+966501234567"}, []string{"+966501234567"}, 0,
			[]string{"presence      no (source static)", "eligible      no (not-on-whatsapp: not on WhatsApp according to static)"}, ""},
		{"allowed by the static list", []string{"DEFLECTD_LOOKUP_PRESENCE_ALLOW=+966501234567"}, []string{"+966501234567"}, 0,
			[]string{"presence      yes (source static)", "eligible      yes"}, ""},
		{"unknown presence skipped", []string{"DEFLECTD_DEFLECT_UNKNOWN_PRESENCE=skip"}, []string{"+966501234567"}, 0,
			[]string{"eligible      no (presence-unknown"}, ""},
		{"junk", nil, []string{"banana"}, 2, nil, `check number "banana": not a phone number: no digits`},
		{"too short", nil, []string{"123"}, 2, nil, "too short"},
		{"empty", nil, []string{""}, 2, nil, "empty number"},
		{"invalid number shows what is known", nil, []string{"+447700900123"}, 2,
			[]string{"+447700900123", "valid         no (invalid number: not a valid number for region GB)"}, "invalid number"},
		{"no argument", nil, nil, 2, nil, "one NUMBER"},
		{"two arguments", nil, []string{"+966501234567", "+966501234568"}, 2, nil, "one NUMBER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, code, err := execCmd(t, newCheckNumberCmd, tc.env, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tc.code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckNumberJSON(t *testing.T) {
	out, _, code, err := execCmd(t, newCheckNumberCmd, []string{"DEFLECTD_LOOKUP_PRESENCE_ALLOW=0501234567"}, "050 123 4567", "--region", "SA", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	var rep struct {
		E164, Region, Type string
		Valid, Eligible    bool
		Presence           struct{ Status, Source string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if rep.E164 != "+966501234567" || rep.Region != "SA" || rep.Type != "mobile" || !rep.Valid || !rep.Eligible ||
		rep.Presence.Status != "yes" || rep.Presence.Source != "static" {
		t.Errorf("report = %+v", rep)
	}

	// Junk with --json still prints a machine-readable report, and exits 2.
	out, _, code, _ = execCmd(t, newCheckNumberCmd, nil, "banana", "--json")
	var bad struct {
		Valid  bool
		Error  string
		Reason string
	}
	if code != 2 || json.Unmarshal([]byte(out), &bad) != nil || bad.Valid || bad.Reason != "invalid-number" || bad.Error == "" {
		t.Errorf("junk --json: exit %d, %s", code, out)
	}
}

// With store.backend redis, check-number shows the shared facts.
func TestCheckNumberRedisFacts(t *testing.T) {
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	rc := configs.Default().Store.Redis
	rc.URL, rc.KeyPrefix = url, prefix
	r, err := redisstore.New(rc)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Now()
	if err := r.SetPresence(context.Background(), store.PresenceFact{E164: "+966501234567", Status: "no", Source: "learned:131026", Since: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	env := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url, "DEFLECTD_STORE_REDIS_KEY_PREFIX=" + prefix}
	out, _, code, err := execCmd(t, newCheckNumberCmd, env, "0501234567")
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	if !strings.Contains(out, "presence      no (source learned:131026, until") || !strings.Contains(out, "not-on-whatsapp") {
		t.Errorf("output:\n%s", out)
	}
}

// Through the real root: the exit status contract of the issue.
func TestCheckNumberExitStatusViaRoot(t *testing.T) {
	if _, _, code := runCLI(t, testEnv(), "check-number", "banana"); code != 2 {
		t.Errorf("check-number banana exit %d, want 2", code)
	}
	if out, _, code := runCLI(t, testEnv(), "check-number", "+966 50 123 4567"); code != 0 || !strings.Contains(out, "+966501234567") {
		t.Errorf("exit %d, output %s", code, out)
	}
}
