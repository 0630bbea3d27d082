package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/whatsapp"
)

const e2eAppSecret = "e2e-app-secret"

// graphRecorder is a Graph API that counts messages by recipient and accepts them after delay.
type graphRecorder struct {
	mu    sync.Mutex
	byTo  map[string]int
	delay time.Duration
	srv   *httptest.Server
}

func newGraphRecorder(t *testing.T, delay time.Duration) *graphRecorder {
	g := &graphRecorder{byTo: map[string]int{}, delay: delay}
	n := 0
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			To string `json:"to"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		// Counted on arrival: a request Meta has received is a message the customer gets, even
		// when the sender dies before the answer.
		g.mu.Lock()
		if body.To != "" {
			g.byTo[strings.TrimPrefix(body.To, "+")]++
		}
		n++
		id := n
		g.mu.Unlock()
		select {
		case <-time.After(g.delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.e2e%d"}]}`, body.To, body.To, id)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *graphRecorder) counts() map[string]int {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]int, len(g.byTo))
	for k, v := range g.byTo {
		out[k] = v
	}
	return out
}

// inboundText is a Meta webhook delivery of one text message from waID (the shape of
// whatsapp/testdata/webhooks/text.json), timestamped now so the 24 h window is open.
func inboundText(waID, msgID string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{`+
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"100000000000001"},`+
		`"contacts":[{"profile":{"name":"E2E"},"wa_id":%q}],`+
		`"messages":[{"from":%q,"id":%q,"timestamp":"%d","type":"text","text":{"body":"hello"}}]},"field":"messages"}]}]}`,
		waID, waID, msgID, time.Now().Unix()))
}

func postWebhook(t *testing.T, g *gateway, body []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+g.HTTP+"/webhooks/whatsapp", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", whatsapp.Sign(e2eAppSecret, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// TestSigkillWithPendingWebhookEvents: instance a has read webhook events from the shared
// Redis stream and is half-way through them when it is killed with SIGKILL. Instance b, started
// afterwards, reads the rest and claims a's pending ones (XAUTOCLAIM after the consumer's claim
// idle time, whatsapp.webhook_claim_idle: 30 s by default, 5 s here): every customer gets its bot
// reply, and exactly one.
func TestSigkillWithPendingWebhookEvents(t *testing.T) {
	t.Parallel() // mostly waiting for the claim idle time
	const customers = 40
	url := redistest.Start(t)
	prefix := redistest.Prefix(t)
	graph := newGraphRecorder(t, 150*time.Millisecond) // slow Meta: a is mid-batch when killed
	env := []string{"DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL=" + url, "DEFLECTD_STORE_REDIS_KEY_PREFIX=" + prefix,
		"DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL=" + graph.srv.URL,
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=e2e-token", "DEFLECTD_WHATSAPP_APP_SECRET=" + e2eAppSecret,
		"DEFLECTD_WHATSAPP_VERIFY_TOKEN=e2e-verify", "DEFLECTD_WHATSAPP_WEBHOOK_CLAIM_IDLE=5s"}
	a := startGateway(t, "deflectd-a", env...)

	want := map[string]bool{}
	for i := range customers {
		waID := strings.TrimPrefix(caller(900+i), "+")
		want[waID] = true
		postWebhook(t, a, inboundText(waID, fmt.Sprintf("wamid.e2e-in-%d", i)))
	}

	// Kill a once it holds read-but-unacknowledged events.
	rdb := redis.NewClient(mustRedisOptions(t, url))
	defer rdb.Close()
	stream := prefix + "st:" + whatsapp.DefaultStream
	var pendingAtKill int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := rdb.XPending(context.Background(), stream, "deflectd").Result()
		if err == nil && p.Count >= 5 && len(graph.counts()) > 0 {
			pendingAtKill = p.Count
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a never held pending events: %v %v", p, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.signal(syscall.SIGKILL)
	a.wait(5 * time.Second)
	repliedBeforeKill := len(graph.counts())
	t.Logf("a killed holding %d pending events, %d customers answered", pendingAtKill, repliedBeforeKill)

	b := startGateway(t, "deflectd-b", env...)
	start := time.Now()
	deadline = time.Now().Add(30 * time.Second)
	for {
		p, err := rdb.XPending(context.Background(), stream, "deflectd").Result()
		if err == nil && p.Count == 0 && len(graph.counts()) == customers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after b started (claim idle 5 s): %d of %d customers answered, pending %+v %v", len(graph.counts()), customers, p, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("all %d customers answered and nothing pending %.1f s after b started", customers, time.Since(start).Seconds())
	time.Sleep(time.Second) // room for a duplicate to show
	// The bot answers a greeting with the same number of messages for everyone: a customer
	// answered twice (a's half-done event re-run without the per-message guard) would stand out.
	counts := graph.counts()
	per := map[int]int{}
	for waID, n := range counts {
		if !want[waID] {
			t.Errorf("reply to unknown %s", waID)
		}
		per[n]++
	}
	// Each bot action is claimed once before it is sent (at most once: a reply that may have
	// reached the customer is never repeated). The one action a had claimed but not yet handed
	// to Meta when it was killed is lost, so one customer may get one message fewer; nobody may
	// get more, and nobody else fewer.
	most := 0
	for n := range per {
		most = max(most, n)
	}
	short := 0
	for n, c := range per {
		if n < most {
			short += c
		}
	}
	if len(per) > 2 || short > 1 {
		t.Errorf("customers got different numbers of replies (replies → customers): %v", per)
	}
	if b.logged("claimed pending webhook events") == 0 {
		t.Error("b never claimed a's pending events")
	}
	t.Logf("replies per customer → customers: %v", per)
}

func mustRedisOptions(t *testing.T, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
