package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

const (
	ibAdmin = "inbox-admin-token"
	ibAlice = "inbox-alice-token"
	ibBob   = "inbox-bob-token"
	ibPBX   = "inbox-pbx-token"
)

// inboxFixture is the conversation side wired as serve wires it: sandbox phone → webhook →
// deflect's handler → the inbox's handler; the API (New + RegisterInbox) over the same store.
type inboxFixture struct {
	t      *testing.T
	cfg    configs.Config
	st     store.Store
	sb     *sandbox.Sandbox
	client *whatsapp.Client
	engine *deflect.Service
	in     *inbox.Service
	desk   *inbox.Desk
	srv    *httptest.Server
}

func newInboxFixture(t *testing.T, deskURL string) *inboxFixture {
	t.Helper()
	return newInboxFixtureStatuses(t, deskURL, time.Hour) // an hour: no statuses during a test
}

// newInboxFixtureStatuses is newInboxFixture with the sandbox phone reporting sent, delivered
// and read statusDelay apart.
func newInboxFixtureStatuses(t *testing.T, deskURL string, statusDelay time.Duration) *inboxFixture {
	t.Helper()
	cfg := configs.Default()
	cfg.API.AdminToken = ibAdmin
	cfg.API.Tokens = []configs.TokenConfig{
		{Name: "alice", Token: ibAlice, Scopes: []string{"agent"}},
		{Name: "bob", Token: ibBob, Scopes: []string{"agent"}},
		{Name: "pbx", Token: ibPBX, Scopes: []string{"pbx"}},
	}
	cfg.Inbox.MediaCacheDir = t.TempDir()
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = m.Close() })
	f := &inboxFixture{t: t, cfg: cfg, st: m}

	wh := httptest.NewServer(http.HandlerFunc(f.webhook))
	t.Cleanup(wh.Close)
	f.sb = sandbox.New(sandbox.Config{PhoneNumberID: cfg.WhatsApp.PhoneNumberID, AccessToken: "wa-token", AppSecret: "app-secret",
		Templates: cfg.WhatsApp.Sandbox.Templates, Definitions: sandbox.FromConfig(cfg).Definitions, WebhookURL: wh.URL, StatusDelay: statusDelay}, nil)
	f.sb.Start(t.Context())
	t.Cleanup(f.sb.Close)
	graph := httptest.NewServer(f.sb.Handler())
	t.Cleanup(graph.Close)
	var err error
	if f.client, err = whatsapp.New(whatsapp.ClientConfig{BaseURL: graph.URL + "/v23.0", PhoneNumberID: cfg.WhatsApp.PhoneNumberID,
		AccessToken: "wa-token", Throughput: 1000, PairPeriod: time.Millisecond, PairBurst: 100,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}, whatsapp.NewLocalBucket(), nil, nil); err != nil {
		t.Fatal(err)
	}
	flows, err := bot.Example()
	if err != nil {
		t.Fatal(err)
	}
	f.desk = inbox.NewDesk(inbox.DeskOptions{URL: deskURL, Secret: "desk-secret", Retries: 1, Backoff: 5 * time.Millisecond,
		Timeout: 2 * time.Second, Store: m, Name: "test"})
	if deskURL != "" {
		go func() { _ = f.desk.Run(t.Context()) }()
	}
	if f.in, err = inbox.New(inbox.Options{Config: cfg, Store: m, Sender: f.client, Media: f.client, Bot: bot.New(flows, cfg.Inbox.FallbackAfter),
		Agents: inbox.AgentsFromConfig(cfg.API), Desk: f.desk}); err != nil {
		t.Fatal(err)
	}
	if f.engine, err = deflect.New(deflect.Options{Config: cfg, Store: m, Sender: deflect.WhatsAppSender(f.client), Chats: f.in}); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(api.NewWithInbox(
		api.Options{API: cfg.API, Engine: f.engine, Sessions: m, Store: m, Region: "SA", Stats: api.StatsOptions{Source: m}},
		api.InboxOptions{Inbox: f.in, Desk: f.desk, Sessions: m, Templates: []string{"licence_renewal", "call_deflection"},
			NotifySender: f.client, NotifyStore: m,
			NotifyConfig: notify.Config{Languages: cfg.Deflect.Template.Languages, Concurrency: 4},
			Heartbeat:    time.Second}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *inboxFixture) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	events, err := whatsapp.ParseWebhook(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range events {
		err := f.engine.HandleEvent(r.Context(), e)
		if err == nil {
			err = f.in.HandleEvent(r.Context(), e)
		}
		if err != nil {
			f.t.Errorf("handle %s: %v", e.Key(), err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
}

// deflectedCustomer stores a session as the engine leaves a deflected call, then makes the
// customer write text from the phone.
func (f *inboxFixture) deflectedCustomer(waID, lang, text string) {
	f.t.Helper()
	s := &store.Session{ID: "s-" + waID, CallID: "c-" + waID, Caller: "+" + waID, Queue: "Licensing", WaitEstimate: 420,
		CustomerID: "CUST-77", Language: lang, Context: map[string]string{"Case": "R-2291", "Tier": "gold"},
		IVRPath: []string{"offer", "1"}, State: "ended", Outcome: deflect.OutcomeDeflected, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := f.st.CreateSession(f.t.Context(), s); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.sb.CustomerText(f.t.Context(), waID, text); err != nil {
		f.t.Fatal(err)
	}
}

// phoneTexts returns the text of every message the customer's phone received.
func (f *inboxFixture) phoneTexts(waID string) []string {
	var out []string
	for _, o := range f.sb.Sent(waID) {
		var b struct {
			Text struct {
				Body string `json:"body"`
			} `json:"text"`
			Interactive struct {
				Body struct {
					Text string `json:"text"`
				} `json:"body"`
			} `json:"interactive"`
			Template struct {
				Name string `json:"name"`
			} `json:"template"`
		}
		_ = json.Unmarshal(o.Body, &b)
		out = append(out, b.Text.Body+b.Interactive.Body.Text+b.Template.Name)
	}
	return out
}

func (f *inboxFixture) do(method, path, token, body string, hdr ...string) (int, string) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, f.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
