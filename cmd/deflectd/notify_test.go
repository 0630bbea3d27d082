package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func writeNotifyCSV(t *testing.T, n int) string {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("phone,name,expiry\n")
	for i := range n {
		fmt.Fprintf(&b, "+96650%07d,Name %d,2027-01-%02d\n", 2000000+i, i, i%28+1)
	}
	b.WriteString("not-a-number,X,Y\n")
	p := filepath.Join(t.TempDir(), "renewals.csv")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestNotifyKilledMidRunThenRerun kills `deflectd notify` with SIGKILL half-way through a file and
// runs it again: every row is delivered exactly once (rows reported "uncertain" — in flight at the
// kill — at most once), and a third run sends nothing. State is shared through a real Redis.
func TestNotifyKilledMidRunThenRerun(t *testing.T) {
	bin := binary(t)
	redisURL := redistest.Start(t)
	sb := sandbox.New(sandbox.Config{
		PhoneNumberID: "1001", AccessToken: "tok", AppSecret: "sec",
		Templates: []configs.TemplateDef{{Name: "licence_renewal", Languages: []string{"en", "ar"}, BodyParams: 2}},
		Latency:   5 * time.Millisecond, MaxRecipients: 10000,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := httptest.NewServer(sb.Handler())
	defer srv.Close()
	defer sb.Close()

	const rows = 400
	csvPath := writeNotifyCSV(t, rows)
	env := testEnv(
		"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL="+redisURL,
		"DEFLECTD_STORE_REDIS_KEY_PREFIX="+redistest.Prefix(t),
		"DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL="+srv.URL+"/v23.0",
		"DEFLECTD_WHATSAPP_PHONE_NUMBER_ID=1001", "DEFLECTD_WHATSAPP_ACCESS_TOKEN=tok",
		"DEFLECTD_WHATSAPP_APP_SECRET=sec", "DEFLECTD_WHATSAPP_THROUGHPUT=150",
	)
	args := []string{"notify", "--csv", csvPath, "--template", "licence_renewal", "--no-progress", "--concurrency", "8"}

	first := exec.Command(bin, args...)
	first.Env = env
	var firstOut bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(sb.All()) < rows/3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	killedAt := len(sb.All())
	if killedAt < rows/3 || killedAt >= rows {
		t.Fatalf("kill did not land mid-run: %d of %d sent\n%s", killedAt, rows, firstOut.String())
	}

	second := exec.Command(bin, args...)
	second.Env = env
	out, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("re-run: %v\n%s", err, out)
	}
	uncertain := count(t, out, "uncertain")
	seen := map[string]int{}
	for _, o := range sb.All() {
		seen[o.To]++
	}
	for to, n := range seen {
		if n > 1 {
			t.Errorf("%s received %d messages", to, n)
		}
	}
	if len(seen) > rows || len(seen)+uncertain < rows {
		t.Fatalf("after kill + re-run: %d received, %d uncertain (first run sent %d)\n%s", len(seen), uncertain, killedAt, out)
	}
	if !strings.Contains(string(out), "1 invalid") {
		t.Errorf("invalid row not reported:\n%s", out)
	}
	report, _ := os.ReadFile(csvPath + ".report.csv")
	if !regexp.MustCompile(`(?m)^402,`).Match(report) {
		t.Errorf("report lacks the invalid row's line number:\n%s", report)
	}

	third := exec.Command(bin, args...)
	third.Env = env
	out, err = third.CombinedOutput()
	if err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	if count(t, out, "sent") != 0 || len(sb.All()) != len(seen) {
		t.Fatalf("third run sent again:\n%s", out)
	}
}

func count(t *testing.T, out []byte, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + label + `:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
