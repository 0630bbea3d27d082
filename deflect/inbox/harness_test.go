package inbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func TestMain(m *testing.M) { os.Exit(redistest.Main(m)) }

const (
	phoneID = "100000000000001"
	waToken = "sandbox-token"
	appSec  = "app-secret"
)

// harness is the real chain: customer phone (sandbox) → signed webhook → deflect's handler →
// the inbox's handler → WhatsApp client → sandbox.
type harness struct {
	t      testing.TB
	cfg    configs.Config
	st     store.Store
	sb     *sandbox.Sandbox
	client *whatsapp.Client
	engine *deflect.Service
	in     *Service
	desk   *Desk

	mu     sync.Mutex
	events []whatsapp.Event // every inbound message event handled, for redelivery tests
}

type harnessOpt func(*configs.Config, *Options)

func newHarness(t testing.TB, st store.Store, opts ...harnessOpt) *harness {
	t.Helper()
	return newHarnessStatuses(t, st, time.Hour, opts...) // an hour: no statuses during a test
}

// newHarnessStatuses is newHarness with the sandbox phone reporting sent, delivered and read
// statusDelay apart.
func newHarnessStatuses(t testing.TB, st store.Store, statusDelay time.Duration, opts ...harnessOpt) *harness {
	t.Helper()
	cfg := configs.Default()
	cfg.API.AdminToken = "admin-token"
	cfg.API.Tokens = []configs.TokenConfig{
		{Name: "alice", Token: "alice-token", Scopes: []string{"agent"}},
		{Name: "bob", Token: "bob-token", Scopes: []string{"agent"}},
		{Name: "pbx", Token: "pbx-token", Scopes: []string{"pbx"}},
	}
	if st == nil {
		m := memstore.New(memstore.Options{})
		t.Cleanup(func() { _ = m.Close() })
		st = m
	}
	cfg.Inbox.MediaCacheDir = t.TempDir()
	h := &harness{t: t, cfg: cfg, st: st}

	wh := httptest.NewServer(http.HandlerFunc(h.webhook))
	t.Cleanup(wh.Close)
	h.sb = sandbox.New(sandbox.Config{PhoneNumberID: phoneID, AccessToken: waToken, AppSecret: appSec,
		Templates: cfg.WhatsApp.Sandbox.Templates, Definitions: sandbox.FromConfig(cfg).Definitions, WebhookURL: wh.URL, StatusDelay: statusDelay}, nil)
	h.sb.Start(t.Context())
	t.Cleanup(h.sb.Close)
	graph := httptest.NewServer(h.sb.Handler())
	t.Cleanup(graph.Close)
	var err error
	h.client, err = whatsapp.New(whatsapp.ClientConfig{BaseURL: graph.URL + "/v23.0", PhoneNumberID: phoneID, AccessToken: waToken,
		Throughput: 1000, PairPeriod: time.Millisecond, PairBurst: 100, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}, whatsapp.NewLocalBucket(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := bot.Example()
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Store: st, Sender: h.client, Media: h.client, Bot: bot.New(flows, cfg.Inbox.FallbackAfter), Agents: AgentsFromConfig(cfg.API)}
	for _, f := range opts {
		f(&cfg, &o)
	}
	o.Config = cfg
	h.cfg = cfg
	if h.in, err = New(o); err != nil {
		t.Fatal(err)
	}
	h.desk = o.Desk
	if h.engine, err = deflect.New(deflect.Options{Config: cfg, Store: st, Sender: deflect.WhatsAppSender(h.client), Chats: h.in}); err != nil {
		t.Fatal(err)
	}
	return h
}

// webhook plays the consumer: deflect's handler first, then the inbox's, as serve chains them.
func (h *harness) webhook(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	events, err := whatsapp.ParseWebhook(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range events {
		if err := h.handle(r.Context(), e); err != nil {
			h.t.Errorf("handle %s: %v", e.Key(), err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if e.Kind == whatsapp.KindMessage {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		}
	}
}

func (h *harness) handle(ctx context.Context, e whatsapp.Event) error {
	if err := h.engine.HandleEvent(ctx, e); err != nil {
		return err
	}
	return h.in.HandleEvent(ctx, e)
}

// redeliver runs the handlers again for every message event seen so far (Meta redelivering).
func (h *harness) redeliver() {
	h.mu.Lock()
	evs := append([]whatsapp.Event(nil), h.events...)
	h.mu.Unlock()
	for _, e := range evs {
		if err := h.handle(context.Background(), e); err != nil {
			h.t.Fatalf("redeliver %s: %v", e.Key(), err)
		}
	}
}

func (h *harness) text(waID, body string) {
	h.t.Helper()
	if _, err := h.sb.CustomerText(h.t.Context(), waID, body); err != nil {
		h.t.Fatalf("customer text: %v", err)
	}
}

func (h *harness) tap(waID, id, title string) {
	h.t.Helper()
	if _, err := h.sb.CustomerInteractive(h.t.Context(), waID, sandbox.Reply{Type: "list_reply", ID: id, Title: title}); err != nil {
		h.t.Fatalf("customer tap: %v", err)
	}
}

// deflected stores a session as the engine leaves it after a deflected call.
func (h *harness) deflected(e164, lang string) *store.Session {
	h.t.Helper()
	s := &store.Session{ID: "s-" + e164[1:], CallID: "c-" + e164[1:], Caller: e164, Region: "SA", Queue: "Licensing",
		WaitEstimate: 420, CustomerID: "CUST-77", Language: lang, Context: map[string]string{"Case": "R-2291", "Tier": "gold"},
		IVRPath: []string{"offer", "1"}, State: "ended", Outcome: deflect.OutcomeDeflected, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := h.st.CreateSession(h.t.Context(), s); err != nil {
		h.t.Fatal(err)
	}
	return s
}

// received returns what the customer's phone got: type and the text shown.
func (h *harness) received(waID string) []sent {
	var out []sent
	for _, o := range h.sb.Sent(waID) {
		var b struct {
			Text *struct {
				Body string `json:"body"`
			} `json:"text"`
			Interactive *struct {
				Type string `json:"type"`
				Body struct {
					Text string `json:"text"`
				} `json:"body"`
			} `json:"interactive"`
			Template *struct {
				Name string `json:"name"`
			} `json:"template"`
			Document *struct {
				Link string `json:"link"`
			} `json:"document"`
		}
		_ = json.Unmarshal(o.Body, &b)
		s := sent{Type: o.Type}
		switch {
		case b.Text != nil:
			s.Text = b.Text.Body
		case b.Interactive != nil:
			s.Type, s.Text = "interactive/"+b.Interactive.Type, b.Interactive.Body.Text
		case b.Template != nil:
			s.Text = b.Template.Name
		case b.Document != nil:
			s.Text = b.Document.Link
		}
		out = append(out, s)
	}
	return out
}

type sent struct{ Type, Text string }

func (h *harness) record(waID string) *Record {
	h.t.Helper()
	r, _, err := h.in.getRecord(h.t.Context(), waID)
	if err != nil {
		h.t.Fatalf("record %s: %v", waID, err)
	}
	return r
}

func redisStore(t testing.TB) store.Store {
	t.Helper()
	r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(t), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func redisStoreWithPrefix(t testing.TB, prefix string) store.Store {
	t.Helper()
	r, err := redisstore.New(configs.RedisConfig{URL: redistest.Start(t), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}
