package ivr

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestDialTimeoutBeforeAnswer: the whole-call timeout also bounds the wait for an answer. A
// dead port gives no provisional response, so there is nothing to CANCEL (RFC 3261 section 9.1)
// and the wait must not run into Timer B (32 s); a target that rings forever is CANCELled.
func TestDialTimeoutBeforeAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ring       bool
		wantCancel bool
	}{
		{name: "dead port", ring: false},
		{name: "rings forever", ring: true, wantCancel: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			cancelled := make(chan struct{}, 1)
			go fakeRinger(conn, tc.ring, cancelled)
			start := time.Now()
			rep, err := Dial(context.Background(), CallOptions{
				Target:  "sip:queue@" + conn.LocalAddr().String(),
				From:    "+966501234567",
				Timeout: time.Second,
			})
			took := time.Since(start)
			if err == nil || !strings.Contains(err.Error(), "no answer within 1s") {
				t.Errorf("err = %v, want no answer within 1s", err)
			}
			// Generous: the point is "not Timer B", not a speed figure.
			if took > 10*time.Second {
				t.Errorf("Dial took %s with a 1 s timeout", took)
			}
			if rep.Answered {
				t.Errorf("report says answered: %+v", rep)
			}
			select {
			case <-cancelled:
				if !tc.wantCancel {
					t.Errorf("CANCEL sent without a provisional response")
				}
			case <-time.After(100 * time.Millisecond):
				if tc.wantCancel {
					t.Errorf("no CANCEL for a ringing call")
				}
			}
		})
	}
}

// fakeRinger answers INVITEs with 180 when ring is set (nothing otherwise) and CANCELs with
// 200 then 487 for the INVITE, as a UAS does.
func fakeRinger(conn *net.UDPConn, ring bool, cancelled chan<- struct{}) {
	parser := sip.NewParser()
	buf := make([]byte, 65535)
	var invite *sip.Request
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := parser.ParseSIP(buf[:n])
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		reply := func(r *sip.Request, code int, reason string) {
			res := sip.NewResponseFromRequest(r, code, reason, nil)
			_, _ = conn.WriteToUDP([]byte(res.String()), from)
		}
		switch req.Method {
		case sip.INVITE:
			invite = req
			if ring {
				reply(req, 180, "Ringing")
			}
		case sip.CANCEL:
			reply(req, 200, "OK")
			if invite != nil {
				reply(invite, 487, "Request Terminated")
			}
			select {
			case cancelled <- struct{}{}:
			default:
			}
		}
	}
}
