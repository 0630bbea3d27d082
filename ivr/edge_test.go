package ivr

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr/media"
)

// TestMaxMessageSize: above sip.max_message_size a UDP datagram is dropped before parsing and a
// TCP request is answered 513; below it both are answered.
func TestMaxMessageSize(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) { c.SIP.MaxMessageSize = 1200 })
	tests := []struct {
		name     string
		pad      int
		udp, tcp string // status line prefix; "" = no answer
	}{
		{"small enough", 200, "SIP/2.0 200", "SIP/2.0 200"},
		{"too large", 1500, "", "SIP/2.0 513"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			extra := "X-Context-Notes: " + strings.Repeat("n", tc.pad) + "\n"
			r := newRawUDP(t, g.Addr("udp"))
			r.send(r.request("OPTIONS", fmt.Sprintf("z9hG4bK-size-u%d", i), fmt.Sprintf("size-u%d@test", i), 1, "", extra))
			got := ""
			if res, ok := r.recv(500 * time.Millisecond).(*sip.Response); ok {
				got = res.StartLine()
			}
			if (tc.udp == "") != (got == "") || !strings.HasPrefix(got, tc.udp) {
				t.Errorf("udp: %q, want %q", got, tc.udp)
			}

			c, err := net.DialTimeout("tcp", g.Addr("tcp").String(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			msg := r.request("OPTIONS", fmt.Sprintf("z9hG4bK-size-t%d", i), fmt.Sprintf("size-t%d@test", i), 1, "", extra)
			msg = strings.Replace(msg, "SIP/2.0/UDP 127.0.0.1:"+fmt.Sprint(r.port()), "SIP/2.0/TCP "+c.LocalAddr().String(), 1)
			msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			if !strings.HasPrefix(line, tc.tcp) {
				t.Errorf("tcp: %q, want %q", line, tc.tcp)
			}
		})
	}
	if v := g.counter(t, "deflectd_ivr_dropped_messages_total", map[string]string{"reason": "too-large"}); v != 1 {
		t.Errorf("udp too-large drops %v, want 1", v)
	}
	if v := g.counter(t, "deflectd_ivr_rejected_messages_total", map[string]string{"reason": "too-large"}); v != 1 {
		t.Errorf("tcp too-large rejections %v, want 1", v)
	}
}

func TestMessageSize(t *testing.T) {
	small := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "queue", Host: "127.0.0.1", Port: 5060})
	small.SetBody([]byte(strings.Repeat("v", 500)))
	big := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: "queue", Host: "127.0.0.1", Port: 5060})
	big.AppendHeader(sip.NewHeader("X-Context-Notes", strings.Repeat("n", 1300)))
	bigBody := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "queue", Host: "127.0.0.1", Port: 5060})
	bigBody.SetBody([]byte(strings.Repeat("v", 1500)))
	tests := []struct {
		name     string
		req      *sip.Request
		min, max int
	}{
		{"body counts", small, 500, 700},
		{"big header counts", big, 1300, 1500},
		{"big body counts", bigBody, 1500, 1700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n := messageSize(tc.req); n < tc.min || n > tc.max {
				t.Errorf("messageSize = %d, want %d..%d", n, tc.min, tc.max)
			}
		})
	}
}

func TestNewRejectsBadEdgeConfig(t *testing.T) {
	prompts, err := media.LoadPrompts("testdata/prompts")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := media.NewEngine(media.EngineConfig{BindIP: netip.MustParseAddr("127.0.0.1"), Schedulers: 1}, prompts, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close() })
	tests := []struct {
		name string
		mut  func(*configs.SIPConfig)
	}{
		{"bad CIDR", func(c *configs.SIPConfig) { c.AllowCIDRs = []string{"10.0.0.0/33"} }},
		{"pike without window", func(c *configs.SIPConfig) { c.Pike = configs.PikeConfig{Enabled: true, Requests: 5, Ban: time.Second} }},
		{"pike without requests", func(c *configs.SIPConfig) {
			c.Pike = configs.PikeConfig{Enabled: true, Window: time.Second, Ban: time.Second}
		}},
		{"pike without ban", func(c *configs.SIPConfig) {
			c.Pike = configs.PikeConfig{Enabled: true, Requests: 5, Window: time.Second}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mut(&cfg.SIP)
			if s, err := New(cfg, newFakeDecider(), eng, prompts, nil, nil, nil); err == nil {
				s.closeListeners()
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

// dropAll is a Guard that silences everything, as the guard does to scanners.
type dropAll struct{}

func (dropAll) Screen(*sip.Request) (*sip.Response, bool) { return nil, true }

// TestGuardBeforeSizeLimit: the guard decides first, so a request it silences (a scanner's)
// gets no 513 however large it is.
func TestGuardBeforeSizeLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *Config) { c.SIP.MaxMessageSize = 1200; c.Guard = dropAll{} })
	c, err := net.DialTimeout("tcp", g.Addr("tcp").String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := newRawUDP(t, g.Addr("udp"))
	msg := r.request("OPTIONS", "z9hG4bK-order", "order@test", 1, "", "X-Context-Notes: "+strings.Repeat("n", 1500)+"\n")
	msg = strings.Replace(msg, "SIP/2.0/UDP 127.0.0.1:"+fmt.Sprint(r.port()), "SIP/2.0/TCP "+c.LocalAddr().String(), 1)
	msg = strings.ReplaceAll(strings.ReplaceAll(msg, "\r\n", "\n"), "\n", "\r\n")
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if line, _ := bufio.NewReader(c).ReadString('\n'); line != "" {
		t.Errorf("answered %q, want silence", line)
	}
	if v := g.counter(t, "deflectd_ivr_rejected_messages_total", map[string]string{"reason": "too-large"}); v != 0 {
		t.Errorf("too-large counted %v times for a silenced request", v)
	}
}
