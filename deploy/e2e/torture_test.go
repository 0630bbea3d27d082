package e2e

// RFC 4475 torture messages (testdata/torture, copied from emiago/sipgo with hosts rewritten to
// the loopback sender 127.0.0.3) sent over UDP and TCP to a running gateway.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tortureSender is where the rewritten messages say they come from: responses routed by their
// Via (UDP, or TCP when the Via says TCP) land on our listeners there.
const tortureSender = "127.0.0.3:5060"

var (
	statusLine   = regexp.MustCompile(`(?m)^SIP/\d\.\d (\d{3})`)
	callIDLine   = regexp.MustCompile(`(?im)^(?:call-id|i)[ \t]*:[ \t]*(\S+)`)
	branchCookie = regexp.MustCompile(`branch=z9hG4bK([^;\r\n]?)`)
)

// tortureWant is what RFC 4475 (and RFC 3261) lets the gateway do with a message.
type tortureWant int

const (
	answered tortureWant = iota // a final response (any code)
	rejected                    // nothing, or a final response >= 400
	silent                      // nothing at all (a response sent to us, garbage)
)

// tortureCases: every file in testdata/torture must be listed. code, when set, is the final
// response required on every transport where the message is answered.
var tortureCases = map[string]struct {
	want tortureWant
	code int
	note string
	// udpMTU: the answer copies the request's long headers and exceeds the path MTU, and sipgo
	// will not send such a response over UDP (RFC 3261 §18.1.1 asks for TCP): nothing comes back.
	udpMTU bool
}{
	// RFC 4475 §3.1.1: valid messages.
	"valid/dblreq":     {want: answered, note: "two requests in one datagram (UDP: the REGISTER is answered; TCP: a stream of two, either answered)"},
	"valid/esc01":      {want: answered, note: "escaped characters in the Request-URI and headers"},
	"valid/esc02":      {want: answered, code: 501, note: "escaped characters in an unknown method"},
	"valid/escnull":    {want: answered, note: "escaped nulls in URIs"},
	"valid/intmeth":    {want: answered, code: 501, note: "unknown method with odd characters"},
	"valid/longreq":    {want: answered, note: "very long values", udpMTU: true},
	"valid/lwsdisp":    {want: answered, code: 200, note: "display name without LWS"},
	"valid/mpart01":    {want: answered, note: "multipart body"},
	"valid/noreason":   {want: silent, note: "a response (nothing to answer)"},
	"valid/semiuri":    {want: answered, code: 200, note: "semicolon-separated parameters in the user part"},
	"valid/transports": {want: answered, code: 200, note: "Vias with several transports"},
	"valid/unreason":   {want: silent, note: "a response (nothing to answer)"},
	"valid/wsinv":      {want: answered, note: "tortuous whitespace: sipgo's parser answers 400, allowed"},
	// RFC 4475 §3.1.2 (invalid syntax), §3.2 (transaction layer), §3.3 (application layer), §3.4.
	"invalid/badaspec":   {want: rejected, note: "unterminated angle brackets"},
	"invalid/badbranch":  {want: answered, note: "branch is only the magic cookie: processed like an RFC 2543 request"},
	"invalid/baddate":    {want: rejected, note: "non-GMT date"},
	"invalid/baddn":      {want: rejected, note: "unquoted display name with odd characters"},
	"invalid/badinv01":   {want: rejected, note: "unterminated quoted string"},
	"invalid/badvers":    {want: rejected, code: 505, note: "SIP/7.0"},
	"invalid/bcast":      {want: silent, note: "a 200 response with a broadcast Via"},
	"invalid/bext01":     {want: rejected, code: 420, note: "OPTIONS with an unknown Require"},
	"invalid/bigcode":    {want: silent, note: "a response with a 4-digit status code"},
	"invalid/clerr":      {want: rejected, note: "Content-Length larger than the body"},
	"invalid/cparam01":   {want: rejected, note: "REGISTER with a Contact parameter (we do not register: 405)"},
	"invalid/cparam02":   {want: rejected, note: "REGISTER with a Contact parameter (405)"},
	"invalid/escruri":    {want: rejected, note: "unescaped spaces in the Request-URI"},
	"invalid/insuf":      {want: rejected, code: 400, note: "missing required header fields"},
	"invalid/inv2543":    {want: rejected, note: "RFC 2543 INVITE (400 or ineligible both fine)"},
	"invalid/invut":      {want: rejected, note: "unknown Content-Type"},
	"invalid/ltgtruri":   {want: rejected, note: "<> around the Request-URI"},
	"invalid/lwsruri":    {want: rejected, note: "LWS inside the Request-URI"},
	"invalid/lwsstart":   {want: rejected, note: "LWS at the start of the message"},
	"invalid/mcl01":      {want: rejected, code: 400, note: "two Content-Lengths"},
	"invalid/mismatch01": {want: rejected, code: 400, note: "method in Request-Line and CSeq differ"},
	"invalid/mismatch02": {want: rejected, note: "unknown method, CSeq differs"},
	"invalid/multi01":    {want: rejected, note: "several values in single-value headers"},
	"invalid/ncl":        {want: rejected, note: "negative Content-Length"},
	"invalid/novelsc":    {want: rejected, note: "unknown Request-URI scheme"},
	"invalid/quotbal":    {want: rejected, note: "unbalanced quotes"},
	"invalid/regaut01":   {want: rejected, note: "REGISTER with an unknown auth scheme (405)"},
	"invalid/regbadct":   {want: rejected, note: "REGISTER with a bad Contact (405)"},
	"invalid/regescrt":   {want: rejected, note: "REGISTER with an escaped header in Contact (405)"},
	"invalid/scalar02":   {want: rejected, note: "overlarge scalar values"},
	"invalid/scalarlg":   {want: rejected, note: "very large scalar values"},
	"invalid/sdp01":      {want: rejected, note: "unacceptable Accept"},
	"invalid/test":       {want: rejected, note: "garbage"},
	"invalid/trws":       {want: rejected, note: "trailing whitespace in the Request-Line"},
	"invalid/unkscm":     {want: answered, note: "unknown scheme in a header field: processed (RFC 4475 §3.3)"},
	"invalid/unksm2":     {want: rejected, note: "unknown Request-URI scheme in REGISTER"},
	"invalid/zeromf":     {want: answered, note: "Max-Forwards 0 at the endpoint: processed"},
}

type tortureResult struct{ codes []int }

func (r tortureResult) final() int {
	for _, c := range r.codes {
		if c >= 200 {
			return c
		}
	}
	return 0
}

func (r tortureResult) String() string {
	if len(r.codes) == 0 {
		return "no response"
	}
	s := make([]string, len(r.codes))
	for i, c := range r.codes {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// responses collects SIP responses arriving at the torture sender's address, over UDP and over
// connections the gateway opens to it (a Via saying TCP), and on the connections we open.
type responses struct {
	ch chan []byte
	uc *net.UDPConn // also the socket we send from, so the source matches the Via
}

func listenSender(t *testing.T) *responses {
	t.Helper()
	r := &responses{ch: make(chan []byte, 1024)}
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(mustAddrPort(tortureSender)))
	if err != nil {
		t.Fatalf("bind the torture sender udp %s: %v", tortureSender, err)
	}
	tl, err := net.Listen("tcp", tortureSender)
	if err != nil {
		t.Fatalf("bind the torture sender tcp %s: %v", tortureSender, err)
	}
	r.uc = uc
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = uc.Close(); _ = tl.Close(); wg.Wait() })
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := uc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.push(buf[:n])
		}
	}()
	go func() {
		defer wg.Done()
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go r.readConn(c)
		}
	}()
	return r
}

func (r *responses) push(b []byte) {
	for _, m := range splitResponses(b) {
		select {
		case r.ch <- append([]byte(nil), m...):
		default:
		}
	}
}

func (r *responses) readConn(c net.Conn) {
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			r.push(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// collect gathers the responses to the message with these Call-IDs (a datagram may hold two
// requests) until a final one arrives or quiet passes.
func (r *responses) collect(callIDs []string, quiet time.Duration) tortureResult {
	var res tortureResult
	deadline := time.After(quiet)
	for {
		select {
		case m := <-r.ch:
			code := statusLine.FindSubmatch(m)
			if code == nil {
				continue
			}
			if id := callIDLine.FindSubmatch(m); len(callIDs) > 0 && (id == nil || !slices.Contains(callIDs, string(id[1]))) {
				continue // a retransmitted answer to an earlier message
			}
			c, _ := strconv.Atoi(string(code[1]))
			res.codes = append(res.codes, c)
			if c >= 200 {
				return res
			}
		case <-deadline:
			return res
		}
	}
}

// splitResponses cuts a buffer holding several responses (a TCP read) at each status line.
func splitResponses(b []byte) [][]byte {
	idx := statusLine.FindAllIndex(b, -1)
	if len(idx) == 0 {
		return nil
	}
	var out [][]byte
	for i, loc := range idx {
		end := len(b)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		out = append(out, b[loc[0]:end])
	}
	return out
}

// unique makes each send its own transaction: many torture messages share a branch, and the
// gateway rightly treats a repeated branch as a retransmission. A branch that is only the magic
// cookie (badbranch) is left alone: that is what it tests.
func unique(msg []byte, n int) []byte {
	return branchCookie.ReplaceAllFunc(msg, func(m []byte) []byte {
		if len(m) == len("branch=z9hG4bK") || m[len(m)-1] == '\r' {
			return m
		}
		return []byte(fmt.Sprintf("branch=z9hG4bKe2e%d-%s", n, m[len("branch=z9hG4bK"):]))
	})
}

func callIDsOf(msg []byte) []string {
	var ids []string
	for _, m := range callIDLine.FindAllSubmatch(msg, -1) {
		ids = append(ids, string(m[1]))
	}
	return ids
}

func loadTorture(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/torture/*/*.dat")
	if err != nil || len(files) == 0 {
		t.Fatalf("no torture messages in testdata/torture: %v", err)
	}
	out := make(map[string][]byte)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(f)) + "/" + strings.TrimSuffix(filepath.Base(f), ".dat")
		if _, ok := tortureCases[name]; !ok {
			t.Errorf("%s has no expectation in tortureCases", name)
		}
		out[name] = b
	}
	if len(out) != len(tortureCases) {
		t.Errorf("%d torture files, %d expectations", len(out), len(tortureCases))
	}
	return out
}

// TestTorture sends every RFC 4475 message over UDP and over TCP to a running gateway: valid
// ones are answered, invalid ones rejected (>= 400, the RFC's code where it names one) or
// dropped, responses and garbage get nothing; then the gateway still completes a real call.
func TestTorture(t *testing.T) {
	msgs := loadTorture(t)
	rs := listenSender(t)
	g := startGateway(t, "torture")
	// One transport after the other: responses arrive at one shared sender address. n numbers
	// the sends across both, so no two share a branch.
	n := 0
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			for name, msg := range msgs {
				n++
				tc := tortureCases[name]
				msg = unique(msg, n)
				switch tr {
				case "udp":
					if _, err := rs.uc.WriteToUDPAddrPort(msg, mustAddrPort(g.UDP)); err != nil {
						t.Fatalf("send: %v", err)
					}
				case "tcp":
					c := sendTCP(t, g.TCP, msg)
					go rs.readConn(c)
				}
				r := rs.collect(callIDsOf(msg), 600*time.Millisecond)
				final := r.final()
				ok := true
				want := tc.want
				if tr == "udp" && tc.udpMTU {
					want = silent
				}
				switch want {
				case answered:
					ok = final != 0 && (tc.code == 0 || final == tc.code)
				case rejected:
					ok = final == 0 && !has2xx(r) || final >= 400 && (tc.code == 0 || final == tc.code)
				case silent:
					ok = len(r.codes) == 0
				}
				if !ok {
					t.Errorf("%s (%s): got %s", name, tc.note, r)
				} else if testing.Verbose() {
					t.Logf("%-18s %s", name, r)
				}
			}
		})
	}
	if !g.running() {
		t.Fatal("gateway died")
	}
	if code, _ := g.get("/healthz"); code != 200 {
		t.Fatalf("/healthz = %d after the torture", code)
	}
	for _, tr := range []string{"udp", "tcp"} {
		o := callOpts("sip:queue@"+g.UDP, caller(1))
		if tr == "tcp" {
			o.Target = "sip:queue@" + g.TCP + ";transport=tcp"
			o.From = caller(2)
		}
		if rep := call(t, o); rep.Result != "deflected" {
			t.Fatalf("%s call after the torture: result %q, final %d", tr, rep.Result, rep.FinalStatus)
		}
	}
}

func has2xx(r tortureResult) bool {
	for _, c := range r.codes {
		if c >= 200 && c < 300 {
			return true
		}
	}
	return false
}

// sendTCP opens a connection from 127.0.0.3 and sends msg; the caller reads the answers.
func sendTCP(t *testing.T, to string, msg []byte) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", to)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	_, _ = c.Write(msg)
	return c
}
