package testkit

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// SippScenario is the path of a scenario in deploy/loadtest/sipp.
func SippScenario(t testing.TB, name string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate deploy/testkit")
	}
	return filepath.Join(filepath.Dir(file), "..", "loadtest", "sipp", name)
}

// SippUAS is sipp answering one call on loopback with a scenario, echoing the RTP it receives
// (-rtp_echo) and tracing every message to Log.
type SippUAS struct {
	Port int
	Log  string
	cmd  *exec.Cmd
	out  *Buffer
}

// StartSippUAS runs sipp with scenario (a file of deploy/loadtest/sipp) for one call, bounded by
// within; it is killed at the test's end.
func StartSippUAS(t testing.TB, scenario string, within time.Duration) *SippUAS {
	t.Helper()
	sipp := RequireTool(t, "sipp")
	dir := t.TempDir()
	q := &SippUAS{Port: FreeUDPPort(t, false), Log: filepath.Join(dir, "messages.log"), out: &Buffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), within+5*time.Second)
	t.Cleanup(cancel)
	q.cmd = exec.CommandContext(ctx, sipp, "-sf", SippScenario(t, scenario), "-m", "1", "-nostdin", "-i", "127.0.0.1",
		"-p", strconv.Itoa(q.Port), "-mi", "127.0.0.1", "-mp", strconv.Itoa(FreeUDPPort(t, true)),
		"-rtp_echo", "-trace_msg", "-message_file", q.Log, "-timeout", strconv.Itoa(int(within.Seconds()))+"s", "-timeout_error")
	q.cmd.Dir = dir
	q.cmd.Stdout, q.cmd.Stderr = q.out, q.out
	if err := q.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.cmd.Process.Kill(); _ = q.cmd.Wait() })
	return q
}

// Wait waits for sipp to finish its scenario (failing the test when it did not) and returns the
// messages it traced.
func (q *SippUAS) Wait(t testing.TB) string {
	t.Helper()
	if err := q.cmd.Wait(); err != nil {
		t.Fatalf("sipp (%s): %v\n%s", filepath.Base(q.cmd.Args[2]), err, q.out.String())
	}
	b, err := os.ReadFile(q.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
