package whatsapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/webhooks")

const secret = "test-app-secret"

func toQueue(m store.StreamMessage) whatsapp.QueueMessage { return whatsapp.QueueMessage(m) }

func memQueue(t testing.TB) (*memstore.Mem, whatsapp.Queue) {
	t.Helper()
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	return m, whatsapp.AdaptStreams(m, toQueue)
}

func webhookFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/whatsapp", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set("X-Hub-Signature-256", sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// queued reads everything in the stream (as a fresh group) without acknowledging.
func queued(t testing.TB, q whatsapp.Queue) []whatsapp.Event {
	t.Helper()
	msgs, err := q.StreamRead(context.Background(), whatsapp.DefaultStream, "inspect-"+time.Now().String(), "t", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []whatsapp.Event
	for _, m := range msgs {
		var e whatsapp.Event
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestVerifyHandshake(t *testing.T) {
	_, q := memQueue(t)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret, VerifyToken: "meatyhamhock"}, q, nil, nil)
	tests := []struct {
		name  string
		query string
		code  int
		body  string
	}{
		{"right token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", 200, "1158201444"},
		{"wrong token", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyham", 403, ""},
		{"no token", "hub.mode=subscribe&hub.challenge=1158201444", 403, ""},
		{"wrong mode", "hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/webhooks/whatsapp?"+tt.query, nil))
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			if tt.code == 200 {
				if w.Body.String() != tt.body || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
					t.Errorf("body %q type %q", w.Body.String(), w.Header().Get("Content-Type"))
				}
			} else if strings.Contains(w.Body.String(), "1158201444") {
				t.Error("challenge echoed on refusal")
			}
		})
	}
	t.Run("empty configured token refuses everything", func(t *testing.T) {
		h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/?hub.mode=subscribe&hub.challenge=1&hub.verify_token=", nil))
		if w.Code != 403 {
			t.Errorf("status %d", w.Code)
		}
	})
}

func TestWebhookSignature(t *testing.T) {
	body := webhookFixture(t, "text.json")
	good := whatsapp.Sign(secret, body)
	tampered := bytes.Replace(body, []byte("another color"), []byte("another colour"), 1)
	tests := []struct {
		name string
		body []byte
		sig  string
		code int
	}{
		{"valid", body, good, 200},
		{"tampered body", tampered, good, 401},
		{"missing", body, "", 401},
		{"wrong prefix", body, "sha1=" + strings.TrimPrefix(good, "sha256="), 401},
		{"no prefix", body, strings.TrimPrefix(good, "sha256="), 401},
		{"not hex", body, "sha256=zz" + good[9:], 401},
		{"short", body, good[:20], 401},
		{"other secret", body, whatsapp.Sign("other", body), 401},
		{"upper-case hex", body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, q := memQueue(t)
			reg := prometheus.NewRegistry()
			h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret, VerifyToken: "v"}, q, nil, reg)
			w := post(h, tt.body, tt.sig)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d", w.Code, tt.code)
			}
			n := len(queued(t, q))
			if tt.code == 200 && n != 1 || tt.code != 200 && n != 0 {
				t.Errorf("queued %d events", n)
			}
			if tt.code == 401 {
				if v := testutil.ToFloat64(requestsMetric(t, reg, "unauthorized")); v != 1 {
					t.Errorf("unauthorized metric = %v", v)
				}
			}
		})
	}
	t.Run("no app secret configured refuses", func(t *testing.T) {
		_, q := memQueue(t)
		h := whatsapp.NewWebhook(whatsapp.WebhookConfig{}, q, nil, nil)
		if w := post(h, body, whatsapp.Sign("", body)); w.Code != 401 {
			t.Errorf("status %d", w.Code)
		}
	})
}

func requestsMetric(t *testing.T, reg *prometheus.Registry, result string) prometheus.Collector {
	t.Helper()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "deflectd", Subsystem: "whatsapp", Name: "webhook_requests_total",
		Help: "Webhook HTTP requests by result."}, []string{"result"})
	err := reg.Register(c)
	are, ok := err.(prometheus.AlreadyRegisteredError)
	if !ok {
		t.Fatalf("metric not registered: %v", err)
	}
	return are.ExistingCollector.(*prometheus.CounterVec).WithLabelValues(result)
}

func TestWebhookLimitsAndErrors(t *testing.T) {
	_, q := memQueue(t)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret, MaxBody: 2048}, q, nil, nil)
	big := append(webhookFixture(t, "text.json"), bytes.Repeat([]byte(" "), 2048)...)
	malformed := []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"id":`)
	tests := []struct {
		name string
		req  func() *http.Request
		code int
	}{
		{"over size limit", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
			r.Header.Set("X-Hub-Signature-256", whatsapp.Sign(secret, big))
			return r
		}, 413},
		{"over size limit without content length", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
			r.ContentLength = -1
			r.Header.Set("X-Hub-Signature-256", whatsapp.Sign(secret, big))
			return r
		}, 413},
		{"malformed JSON", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(malformed))
			r.Header.Set("X-Hub-Signature-256", whatsapp.Sign(secret, malformed))
			return r
		}, 400},
		{"method", func() *http.Request { return httptest.NewRequest(http.MethodPut, "/", nil) }, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tt.req())
			if w.Code != tt.code {
				t.Errorf("status %d, want %d", w.Code, tt.code)
			}
		})
	}
	if n := len(queued(t, q)); n != 0 {
		t.Errorf("queued %d events from refused requests", n)
	}
}

type failingQueue struct{ whatsapp.Queue }

func (failingQueue) StreamAdd(context.Context, string, []byte) (string, error) {
	return "", store.ErrUnavailable
}

func (failingQueue) StreamAddBatch(context.Context, string, [][]byte) ([]string, error) {
	return nil, store.ErrUnavailable
}

func TestWebhookEnqueueFailureIs500(t *testing.T) {
	_, q := memQueue(t)
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, failingQueue{q}, nil, nil)
	body := webhookFixture(t, "text.json")
	if w := post(h, body, whatsapp.Sign(secret, body)); w.Code != 500 {
		t.Errorf("status %d, want 500 so that Meta delivers again", w.Code)
	}
}

// Each fixture parses to the events in its golden file; the webhook enqueues exactly those.
func TestWebhookFixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "webhooks", "*.json"))
	if len(files) < 17 {
		t.Fatalf("only %d webhook fixtures", len(files))
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".events.json") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			body := webhookFixture(t, name+".json")
			events, err := whatsapp.ParseWebhook(body)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.MarshalIndent(events, "", "  ")
			golden := filepath.Join("testdata", "webhooks", name+".events.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got, '\n'), want) {
				t.Errorf("events differ from %s:\n%s", golden, got)
			}
			_, q := memQueue(t)
			h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, q, nil, nil)
			if w := post(h, body, whatsapp.Sign(secret, body)); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			q1, _ := json.Marshal(queued(t, q))
			q2, _ := json.Marshal(events)
			if !bytes.Equal(q1, q2) {
				t.Errorf("queued %s\nwant %s", q1, q2)
			}
		})
	}
}

// Explicit checks of what the bot and the deflect service rely on, beyond the golden files.
func TestParsedFields(t *testing.T) {
	one := func(name string) whatsapp.Event {
		t.Helper()
		evs, err := whatsapp.ParseWebhook(webhookFixture(t, name))
		if err != nil || len(evs) != 1 {
			t.Fatalf("%s: %d events, %v", name, len(evs), err)
		}
		return evs[0]
	}
	e := one("text.json")
	if e.Kind != "message" || e.PhoneNumberID != "106540352242922" || e.ContactName != "Sheena Nelson" ||
		e.Message.From != "16505551234" || e.Message.Text != "Does it come in another color?" ||
		!e.Message.Timestamp.Equal(time.Unix(1749416383, 0)) {
		t.Errorf("text: %+v %+v", e, e.Message)
	}
	if e := one("button.json"); e.Message.Button == nil || e.Message.Button.Payload != "deflect:yes:566701" || e.Message.Context == nil ||
		e.Message.Context.ID != "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=" {
		t.Errorf("button: %+v", e.Message)
	}
	if e := one("interactive_button_reply.json"); e.Message.Interactive == nil || *e.Message.Interactive != (whatsapp.InteractiveReply{Type: "button_reply", ID: "change-button", Title: "Change"}) {
		t.Errorf("button_reply: %+v", e.Message.Interactive)
	}
	if e := one("interactive_list_reply.json"); e.Message.Interactive == nil || e.Message.Interactive.ID != "priority_express" || e.Message.Interactive.Description != "Next Day to 2 Days" {
		t.Errorf("list_reply: %+v", e.Message.Interactive)
	}
	if e := one("document.json"); e.Message.Media == nil || e.Message.Media.Filename != "lucky-shrub-invoice.pdf" || e.Message.Media.ID != "1376223850470848" {
		t.Errorf("document: %+v", e.Message.Media)
	}
	if e := one("audio.json"); e.Message.Media == nil || !e.Message.Media.Voice {
		t.Errorf("audio: %+v", e.Message.Media)
	}
	if e := one("location.json"); e.Message.Location == nil || e.Message.Location.Latitude != 37.483307 || e.Message.Location.Name != "Philz Coffee" {
		t.Errorf("location: %+v", e.Message.Location)
	}
	if e := one("contacts.json"); len(e.Message.Contacts) != 1 || e.Message.Contacts[0].Name != "Barbara J. Johnson" || len(e.Message.Contacts[0].Phones) != 2 {
		t.Errorf("contacts: %+v", e.Message.Contacts)
	}
	if e := one("reaction.json"); e.Message.Reaction == nil || e.Message.Reaction.Emoji != "😀" {
		t.Errorf("reaction: %+v", e.Message.Reaction)
	}
	if e := one("unsupported.json"); e.Message.Type != "unsupported" || e.Message.ID == "" {
		t.Errorf("unsupported.json: %+v", e.Message)
	}
	if e := one("order.json"); e.Message.Type != "order" || e.Message.Order == nil || len(e.Message.Order.Items) != 1 ||
		e.Message.Order.Items[0] != (whatsapp.OrderItem{ProductRetailerID: "di9ozbzfi4", Quantity: 2, ItemPrice: 30, Currency: "USD"}) {
		t.Errorf("order: %+v", e.Message)
	}
	for _, s := range []string{"sent", "delivered", "read", "failed"} {
		e := one("status_" + s + ".json")
		if e.Kind != "status" || e.Status.Status != s || e.Status.RecipientID != "16505551234" || e.Key() != "status:"+e.Status.ID+":"+s {
			t.Errorf("status %s: %+v", s, e.Status)
		}
	}
	f := one("status_failed.json").Status
	if len(f.Errors) != 1 || f.Errors[0].Code != 131026 || f.Errors[0].Details != "Message Undeliverable." || !f.NotOnWhatsApp() || f.WindowClosed() {
		t.Errorf("failed: %+v", f)
	}
	evs, err := whatsapp.ParseWebhook(webhookFixture(t, "batch.json"))
	if err != nil || len(evs) != 4 {
		t.Fatalf("batch: %d events, %v", len(evs), err)
	}
	if evs[0].ContactName != "Sheena Nelson" || evs[1].ContactName != "Pablo Morales" || evs[2].Kind != "status" {
		t.Errorf("batch: %+v", evs)
	}
	// The template change in the same webhook (another field of the WABA's subscription).
	if tu := evs[3].Template; evs[3].Kind != "template" || tu == nil || tu.Name != "call_deflection" || tu.Language != "en" ||
		tu.Event != "APPROVED" || tu.ID != "594425479261596" {
		t.Errorf("batch template event: %+v", evs[3])
	}
}

func TestParseWebhookLenient(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		events int
		err    bool
	}{
		{"not JSON", `{"entry":`, 0, true},
		{"empty object", `{}`, 0, false},
		{"other field", `{"entry":[{"changes":[{"field":"account_update","value":{"messages":[{"id":"x","type":"text"}]}}]}]}`, 0, false},
		{"message field of wrong type", `{"entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"x","from":"1","type":"text","text":5}]}}]}]}`, 1, false},
		{"status code as string", `{"entry":[{"changes":[{"value":{"statuses":[{"id":"x","status":"failed","errors":[{"code":"131026"}]}]}}]}]}`, 1, false},
		{"status of wrong type", `{"entry":[{"changes":[{"value":{"statuses":[{"id":"x","status":"failed","errors":{}}]}}]}]}`, 1, false},
		{"numeric timestamp", `{"entry":[{"changes":[{"value":{"messages":[{"id":"x","from":"1","timestamp":1749416383,"type":"text","text":{"body":"hi"}}]}}]}]}`, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := whatsapp.ParseWebhook([]byte(tt.body))
			if (err != nil) != tt.err || len(evs) != tt.events {
				t.Fatalf("events %d err %v", len(evs), err)
			}
			if tt.name == "status code as string" && !evs[0].Status.NotOnWhatsApp() {
				t.Errorf("string error code lost: %+v", evs[0].Status)
			}
			if tt.name == "status of wrong type" && evs[0].Status.ID != "x" {
				t.Errorf("status lost: %+v", evs[0].Status)
			}
		})
	}
}

// countingQueue counts the store round trips of the webhook receiver.
type countingQueue struct {
	whatsapp.Queue
	singles, batches int
}

func (c *countingQueue) StreamAdd(ctx context.Context, s string, p []byte) (string, error) {
	c.singles++
	return c.Queue.StreamAdd(ctx, s, p)
}

func (c *countingQueue) StreamAddBatch(ctx context.Context, s string, ps [][]byte) ([]string, error) {
	c.batches++
	return c.Queue.StreamAddBatch(ctx, s, ps)
}

// TestWebhookBatchIsOneStoreCall: a webhook carrying several events is enqueued in one round
// trip, in order.
func TestWebhookBatchIsOneStoreCall(t *testing.T) {
	_, q := memQueue(t)
	cq := &countingQueue{Queue: q}
	h := whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: secret}, cq, nil, nil)
	body := webhookFixture(t, "batch.json")
	if w := post(h, body, whatsapp.Sign(secret, body)); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if cq.batches != 1 || cq.singles != 0 {
		t.Errorf("%d batch and %d single adds, want one batch", cq.batches, cq.singles)
	}
	if got := len(queued(t, q)); got != 4 {
		t.Errorf("%d events queued, want the batch's 4 (2 messages, a status, a template change)", got)
	}
}
