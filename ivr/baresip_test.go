package ivr

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deploy/testkit"
)

// TestBaresipPressesOne has a real softphone (baresip, scripted over ctrl_tcp) call the
// gateway, wait for the answer, send DTMF 1 (RFC 4733) and get hung up on after the deflection.
func TestBaresipPressesOne(t *testing.T) {
	baresip := testkit.RequireTool(t, "baresip")
	mods := "/usr/lib/baresip/modules"
	testkit.RequireFile(t, filepath.Join(mods, "ctrl_tcp.so"))
	g := startGateway(t)

	// Ports are picked free but may be taken before baresip binds them: try a few times.
	var conn net.Conn
	for attempt := 1; conn == nil; attempt++ {
		var p *baresipProc
		p, conn = startBaresip(t, baresip, mods)
		defer p.stop(t)
		if conn == nil && attempt == 3 {
			t.Fatalf("baresip did not start:\n%s", tail(p.out.Bytes(), 3000))
		}
	}
	defer conn.Close()
	ctl := &baresipCtl{t: t, conn: conn, r: bufio.NewReader(conn)}

	ctl.command("dial", g.uri("udp"))
	ctl.waitEvent("CALL_ESTABLISHED", 10*time.Second)
	time.Sleep(300 * time.Millisecond) // the offer is playing
	ctl.command("sndcode", "1")
	ctl.waitEvent("CALL_CLOSED", 15*time.Second)

	o := g.dec.waitFinish(t)
	if o.Result != ResultDeflected {
		t.Errorf("outcome %+v, want deflected", o)
	}
	if !hasStep(o.Path, "dtmf:1") || !hasStep(o.Path, "bye") {
		t.Errorf("path %v", o.Path)
	}
	if ci := g.dec.calls()[0]; ci.Caller.E164 != "+966501234567" {
		t.Errorf("caller %+v", ci.Caller)
	}
	ctl.command("quit", "")
}

type baresipProc struct {
	cmd    *exec.Cmd
	out    *testkit.Buffer
	exited chan struct{}
}

func (p *baresipProc) stop(t *testing.T) {
	_ = p.cmd.Process.Kill()
	<-p.exited
	if t.Failed() {
		t.Logf("baresip output:\n%s", tail(p.out.Bytes(), 6000))
	}
}

// startBaresip runs baresip with a fresh config; conn is nil when it did not come up.
func startBaresip(t *testing.T, bin, mods string) (*baresipProc, net.Conn) {
	t.Helper()
	dir := t.TempDir()
	sipPort, ctrlPort, rtpPort := testkit.FreeUDPTCPPort(t), testkit.FreeTCPPort(t), testkit.FreeUDPPort(t, true)
	config := fmt.Sprintf(`module_path %s
module g711.so
module ausine.so
module aubridge.so
module account.so
module menu.so
module ctrl_tcp.so
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
audio_player aubridge,deflectd
audio_source ausine,440
ausrc_srate 48000
ausrc_channels 2
ctrl_tcp_listen 127.0.0.1:%d
rtp_ports %d-%d
`, mods, sipPort, ctrlPort, rtpPort, rtpPort+10)
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	account := "<sip:+966501234567@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1,PCMA/8000/1\n"
	if err := os.WriteFile(filepath.Join(dir, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &baresipProc{out: &testkit.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "-f", dir, "-s")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		fmt.Fprintf(p.out, "\n[baresip exited: %v]\n", err)
		close(p.exited)
	}()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ctrlPort))
		if err == nil {
			return p, c
		}
		select {
		case <-p.exited:
			return p, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	return p, nil
}

type baresipCtl struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	tok  int
}

func (c *baresipCtl) command(cmd, params string) {
	c.t.Helper()
	c.tok++
	b, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": strconv.Itoa(c.tok)})
	if _, err := fmt.Fprintf(c.conn, "%d:%s,", len(b), b); err != nil {
		c.t.Fatalf("ctrl_tcp %s: %v", cmd, err)
	}
}

// waitEvent reads netstrings until an event of the given type arrives.
func (c *baresipCtl) waitEvent(typ string, d time.Duration) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		lenStr, err := c.r.ReadString(':')
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		n, err := strconv.Atoi(lenStr[:len(lenStr)-1])
		if err != nil || n < 0 || n > 1<<20 {
			c.t.Fatalf("bad netstring length %q", lenStr)
		}
		body := make([]byte, n+1) // payload and the trailing comma
		if _, err := io.ReadFull(c.r, body); err != nil {
			c.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m struct {
			Event bool   `json:"event"`
			Type  string `json:"type"`
		}
		if json.Unmarshal(body[:n], &m) == nil && m.Event && m.Type == typ {
			return
		}
	}
}
