package inbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deploy/testkit"
)

// receiver is a local desk: it checks signatures and can be told to fail.
type receiver struct {
	t      *testing.T
	secret string
	fail   atomic.Int32 // answer 503 to this many more requests (-1: always)

	mu       sync.Mutex
	got      []Envelope
	attempts map[string]int // by X-Deflectd-Delivery
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !VerifySignature(rc.secret, body, r.Header.Get(HeaderSignature)) {
		rc.t.Errorf("bad signature %q", r.Header.Get(HeaderSignature))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	ts, err := strconv.ParseInt(r.Header.Get(HeaderTimestamp), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
		rc.t.Errorf("bad timestamp header %q", r.Header.Get(HeaderTimestamp))
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		rc.t.Errorf("body: %v", err)
	}
	if env.ID != r.Header.Get(HeaderDelivery) || env.Event != r.Header.Get(HeaderEvent) {
		rc.t.Errorf("headers %q/%q do not match the body %q/%q", r.Header.Get(HeaderDelivery), r.Header.Get(HeaderEvent), env.ID, env.Event)
	}
	rc.mu.Lock()
	rc.attempts[env.ID]++
	rc.mu.Unlock()
	if n := rc.fail.Load(); n != 0 {
		if n > 0 {
			rc.fail.Add(-1)
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, env)
	rc.mu.Unlock()
}

func (rc *receiver) events() []Envelope {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Envelope(nil), rc.got...)
}

func deskHarness(t *testing.T) (*harness, *receiver) {
	t.Helper()
	rc := &receiver{t: t, secret: "desk-secret", attempts: map[string]int{}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	h := newHarness(t, nil, func(c *configs.Config, o *Options) {
		c.Inbox.DeskWebhookURL, c.Inbox.DeskSecret, c.Inbox.DeskRetries = srv.URL, "desk-secret", 2
		o.Desk = NewDesk(DeskOptions{URL: srv.URL, Secret: "desk-secret", Retries: 2, Backoff: 5 * time.Millisecond,
			Timeout: 2 * time.Second, Store: o.Store.(DeskStore), Name: "test"})
	})
	go func() { _ = h.desk.Run(t.Context()) }()
	return h, rc
}

func TestDeskWebhooksSignedAndRetried(t *testing.T) {
	h, rc := deskHarness(t)
	const waID = "966501230100"
	h.deflected("+"+waID, "ar")
	rc.fail.Store(2) // the first two attempts fail: delivered on the last retry

	h.text(waID, "موظف") // agent words: created, inbound, handoff
	if err := h.in.SetPresence(t.Context(), "alice", PresenceOnline); err != nil {
		t.Fatal(err)
	}
	if err := h.in.Close(t.Context(), "alice", waID, "resolved"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "four desk events", func() bool { return len(rc.events()) == 4 })
	h.redeliver() // Meta redelivering the message posts nothing new to the desk
	if err := h.in.Close(t.Context(), "admin", waID, "again"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	want := map[string]bool{EventConversationCreated: true, EventMessageInbound: true, EventConversationHandoff: true, EventConversationClosed: true}
	for _, e := range rc.events() {
		if !want[e.Event] {
			t.Fatalf("unexpected or repeated event %s", e.Event)
		}
		delete(want, e.Event)
		var data struct {
			ConversationID string `json:"conversation_id"`
			Call           struct {
				Queue   string            `json:"queue"`
				Context map[string]string `json:"context"`
			} `json:"call"`
			Disposition string `json:"disposition"`
		}
		_ = json.Unmarshal(e.Data, &data)
		if data.ConversationID != waID {
			t.Fatalf("%s: conversation_id = %q", e.Event, data.ConversationID)
		}
		if e.Event == EventConversationHandoff && (data.Call.Queue != "Licensing" || data.Call.Context["Case"] != "R-2291") {
			t.Fatalf("handoff event lacks the call context: %s", e.Data)
		}
		if e.Event == EventConversationClosed && data.Disposition != "resolved" {
			t.Fatalf("closed event: %s", e.Data)
		}
	}
	rc.mu.Lock()
	total := 0
	for _, n := range rc.attempts {
		total += n
	}
	rc.mu.Unlock()
	if total != 6 {
		t.Fatalf("%d delivery attempts, want 6 (two failures, four deliveries)", total)
	}
	if dls, _ := h.desk.DeadLetters(t.Context()); len(dls) != 0 {
		t.Fatalf("dead letters: %+v", dls)
	}
}

func TestDeskDeadLetterAndReplay(t *testing.T) {
	h, rc := deskHarness(t)
	rc.fail.Store(-1)
	h.text("447700900600", "hello") // created + inbound, both dead-lettered after 3 attempts
	var dls []DeadLetter
	testkit.Eventually(t, 5*time.Second, "two dead letters", func() bool {
		dls, _ = h.desk.DeadLetters(t.Context())
		return len(dls) == 2
	})
	for _, dl := range dls {
		if dl.Attempts != 3 || dl.LastError == "" {
			t.Fatalf("dead letter %+v: want 3 attempts and the last error", dl)
		}
		rc.mu.Lock()
		n := rc.attempts[dl.EventID]
		rc.mu.Unlock()
		if n != 3 {
			t.Fatalf("receiver saw %d attempts of %s", n, dl.EventID)
		}
	}
	// Still down: replay fails and keeps the letter.
	if err := h.desk.Replay(t.Context(), dls[0].ID); err == nil {
		t.Fatal("replay against a failing desk succeeded")
	}
	rc.fail.Store(0)
	for _, dl := range dls {
		if err := h.desk.Replay(t.Context(), dl.ID); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if left, _ := h.desk.DeadLetters(t.Context()); len(left) != 0 {
		t.Fatalf("dead letters after replay: %+v", left)
	}
	got := rc.events()
	if len(got) != 2 || got[0].ID != dls[0].EventID {
		t.Fatalf("delivered after replay: %+v", got)
	}
}

func TestSignature(t *testing.T) {
	// Reference value: printf '{"a":1}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
	if got := Sign("secret", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if !VerifySignature("secret", []byte(`{"a":1}`), want) || VerifySignature("other", []byte(`{"a":1}`), want) {
		t.Fatal("VerifySignature disagrees with Sign")
	}
}

func TestFromConfig(t *testing.T) {
	h := newHarness(t, nil)
	cfg := configs.Default()
	cfg.API.Tokens = []configs.TokenConfig{{Name: "carol", Token: "c", Scopes: []string{"agent"}}, {Name: "pbx", Token: "p", Scopes: []string{"pbx"}}}
	s, desk, err := FromConfig(cfg, h.st, h.client, nil, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if desk.Enabled() {
		t.Fatal("desk enabled without a webhook URL")
	}
	if _, ok := s.Agent("carol"); !ok {
		t.Fatal("agent carol missing")
	}
	if _, ok := s.Agent("pbx"); ok {
		t.Fatal("a pbx token is not an agent")
	}
	if got := ConsoleTemplates(cfg); len(got) != 1 || got[0] != "call_deflection" {
		t.Fatalf("ConsoleTemplates = %v", got)
	}
	cfg.Inbox.FlowsFile = "testdata/missing.yaml"
	if _, _, err := FromConfig(cfg, h.st, h.client, nil, "test", nil); err == nil {
		t.Fatal("a missing flows file must be an error")
	}
}
