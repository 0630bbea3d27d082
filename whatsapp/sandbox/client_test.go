package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// These tests drive the real Cloud API client (package whatsapp) against the sandbox, and the
// sandbox's webhooks into the real webhook receiver: the same code path as production with the
// in-process sandbox. The sandbox itself never imports package whatsapp.

func newClient(t *testing.T, e *env, mod func(*whatsapp.ClientConfig)) *whatsapp.Client {
	t.Helper()
	cfg := whatsapp.ClientConfig{
		BaseURL:       e.srv.URL + "/v23.0",
		PhoneNumberID: phoneID,
		AccessToken:   token,
		Timeout:       5 * time.Second,
		BackoffBase:   time.Millisecond,
		BackoffMax:    5 * time.Millisecond,
		// The client's own pair limiter (default one per 6 s) would make these tests wait; the
		// sandbox's limits are exercised through injected failures instead.
		PairPeriod: time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := whatsapp.New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRealClientTemplateAndWindow(t *testing.T) {
	e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
	cl := newClient(t, e, nil)
	ctx := t.Context()

	res, err := cl.SendTemplate(ctx, "+"+customer, whatsapp.Template{
		Name: "call_deflection", Language: "en", BodyParams: []string{"Billing"},
		QuickReplyPayloads: []string{"CALLBACK", "AGENT"},
	})
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	if res.WAID != customer || res.Status != "accepted" || res.Input != "+"+customer {
		t.Fatalf("template result %+v", res)
	}
	sent := e.sb.Sent(customer)
	if len(sent) != 1 || sent[0].ID != res.MessageID || sent[0].Type != "template" {
		t.Fatalf("the phone got %+v", sent)
	}

	// Outside the 24-hour window a text is refused with 131047: permanent for the recipient.
	_, err = cl.SendText(ctx, customer, "hello", false)
	var apiErr *whatsapp.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != whatsapp.CodeReEngagement || !whatsapp.IsWindowClosed(err) ||
		whatsapp.ClassOf(err) != whatsapp.RecipientPermanent || apiErr.FBTraceID == "" || apiErr.Details == "" {
		t.Fatalf("text outside the window: %v", err)
	}

	// The customer taps a button and writes: the window is open.
	if _, err := e.sb.CustomerButton(ctx, customer, sandbox.Button{Payload: "AGENT"}); err != nil {
		t.Fatal(err)
	}
	res, err = cl.SendText(ctx, customer, "An agent will write to you here.", false)
	if err != nil || res.Status != "" || res.WAID != customer {
		t.Fatalf("text inside the window: %+v %v", res, err)
	}
	if _, err := cl.SendButtons(ctx, customer, "Anything else?", []whatsapp.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}}); err != nil {
		t.Fatalf("buttons: %v", err)
	}
	if _, err := cl.SendList(ctx, customer, "Pick a topic", "Topics", []whatsapp.Section{
		{Title: "Billing", Rows: []whatsapp.Row{{ID: "inv", Title: "Invoices", Description: "Copies and dates"}}},
		{Title: "Other", Rows: []whatsapp.Row{{ID: "oth", Title: "Something else"}}},
	}); err != nil {
		t.Fatalf("list: %v", err)
	}
	if _, err := cl.SendMedia(ctx, customer, whatsapp.Media{Kind: whatsapp.MediaDocument, Link: "https://127.0.0.1/invoice.pdf", Filename: "invoice.pdf", Caption: "Invoice"}); err != nil {
		t.Fatalf("document: %v", err)
	}
	in := e.sb.Received(customer)
	if len(in) != 1 {
		t.Fatalf("received %+v", in)
	}
	if err := cl.MarkRead(ctx, in[0].ID); err != nil {
		t.Fatalf("mark read: %v", err)
	}
	if in = e.sb.Received(customer); !in[0].ReadByBusiness {
		t.Fatal("mark read did not reach the phone")
	}
	if got := len(e.sb.Sent(customer)); got != 5 {
		t.Fatalf("the phone got %d messages, want 5", got)
	}
}

func TestRealClientErrors(t *testing.T) {
	tests := []struct {
		name   string
		inject []sandbox.Failure
		client func(*whatsapp.ClientConfig)
		tpl    whatsapp.Template
		check  func(t *testing.T, e *env, err error)
	}{
		{
			name: "wrong token is a configuration error",
			client: func(c *whatsapp.ClientConfig) {
				c.AccessToken = "stale"
			},
			check: func(t *testing.T, _ *env, err error) {
				var a *whatsapp.APIError
				if !errors.As(err, &a) || a.Code != whatsapp.CodeAccessToken || a.HTTPStatus != 401 || whatsapp.ClassOf(err) != whatsapp.Config {
					t.Fatalf("%v", err)
				}
			},
		},
		{
			name: "unknown template",
			tpl:  whatsapp.Template{Name: "nope", Language: "en", BodyParams: []string{"x"}},
			check: func(t *testing.T, _ *env, err error) {
				var a *whatsapp.APIError
				if !errors.As(err, &a) || a.Code != whatsapp.CodeTemplateDoesNotExist || whatsapp.ClassOf(err) != whatsapp.Config {
					t.Fatalf("%v", err)
				}
			},
		},
		{
			name: "wrong parameter count",
			tpl:  whatsapp.Template{Name: "licence_renewal", Language: "en", BodyParams: []string{"x"}},
			check: func(t *testing.T, _ *env, err error) {
				var a *whatsapp.APIError
				if !errors.As(err, &a) || a.Code != whatsapp.CodeTemplateParamCount || whatsapp.ClassOf(err) != whatsapp.Config {
					t.Fatalf("%v", err)
				}
			},
		},
		{
			name:   "throughput and pair limits are retried",
			inject: []sandbox.Failure{{Code: 130429, Count: 1}, {Code: 131056, Count: 1}, {Code: 500, Count: 1}},
			client: func(c *whatsapp.ClientConfig) { c.MaxRetries = 3 },
			check: func(t *testing.T, e *env, err error) {
				if err != nil {
					t.Fatalf("not retried to success: %v", err)
				}
				if n := len(e.sb.Sent(customer)); n != 1 {
					t.Fatalf("%d messages delivered, want exactly 1", n)
				}
			},
		},
		{
			name:   "retries give up with a retryable error",
			inject: []sandbox.Failure{{Code: 130429, Count: 5}},
			client: func(c *whatsapp.ClientConfig) { c.MaxRetries = 1 },
			check: func(t *testing.T, _ *env, err error) {
				if !whatsapp.IsRetryable(err) {
					t.Fatalf("%v", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
			e.sb.InjectFailures(tt.inject...)
			cl := newClient(t, e, tt.client)
			tpl := tt.tpl
			if tpl.Name == "" {
				tpl = whatsapp.Template{Name: "call_deflection", Language: "ar", BodyParams: []string{"Billing"}}
			}
			_, err := cl.SendTemplate(t.Context(), customer, tpl)
			tt.check(t, e, err)
		})
	}
}

// recordingQueue is the smallest whatsapp.Queue: it keeps what the webhook receiver enqueues.
type recordingQueue struct {
	mu     sync.Mutex
	events []whatsapp.Event
	added  chan struct{}
}

func (q *recordingQueue) StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) ([]string, error) {
	ids := make([]string, 0, len(payloads))
	for _, p := range payloads {
		id, err := q.StreamAdd(ctx, stream, p)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (q *recordingQueue) StreamAdd(_ context.Context, _ string, payload []byte) (string, error) {
	var ev whatsapp.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return "", err
	}
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	q.added <- struct{}{}
	return "1-0", nil
}

func (q *recordingQueue) StreamRead(context.Context, string, string, string, int, time.Duration) ([]whatsapp.QueueMessage, error) {
	return nil, nil
}
func (q *recordingQueue) StreamAck(context.Context, string, string, ...string) error { return nil }
func (q *recordingQueue) StreamClaim(context.Context, string, string, string, time.Duration, int) ([]whatsapp.QueueMessage, error) {
	return nil, nil
}

func (q *recordingQueue) next(t *testing.T) whatsapp.Event {
	t.Helper()
	select {
	case <-q.added:
	case <-time.After(5 * time.Second):
		t.Fatal("no event enqueued within 5s")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.events[len(q.events)-1]
}

func TestRealWebhookReceiverAcceptsSandboxWebhooks(t *testing.T) {
	const absent = "447700900123"
	q := &recordingQueue{added: make(chan struct{}, 64)}
	recv := httptest.NewServer(whatsapp.NewWebhook(whatsapp.WebhookConfig{AppSecret: appSecret, VerifyToken: "v"}, q, nil, nil))
	t.Cleanup(recv.Close)
	e := newEnv(t, func(c *sandbox.Config) {
		c.WebhookURL = recv.URL
		c.StatusDelay = 5 * time.Millisecond
		c.NotOnWhatsApp = []string{absent}
		c.WebhookRetries = -1 // a refused webhook must show up as a missing event
	})
	cl := newClient(t, e, nil)
	ctx := t.Context()

	res, err := cl.SendTemplate(ctx, customer, whatsapp.Template{Name: "call_deflection", Language: "en", BodyParams: []string{"Q"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sent", "delivered", "read"} {
		ev := q.next(t)
		if ev.Kind != "status" || ev.Status == nil || ev.Status.ID != res.MessageID || ev.Status.Status != want ||
			ev.Status.RecipientID != customer || ev.PhoneNumberID != phoneID || ev.Status.Timestamp.IsZero() {
			t.Fatalf("want %s, got %+v", want, ev)
		}
	}

	res, err = cl.SendTemplate(ctx, absent, whatsapp.Template{Name: "call_deflection", Language: "en", BodyParams: []string{"Q"}})
	if err != nil {
		t.Fatalf("a number not on WhatsApp is accepted first: %v", err)
	}
	if ev := q.next(t); ev.Status == nil || ev.Status.ID != res.MessageID || ev.Status.Status != "failed" || !ev.Status.NotOnWhatsApp() {
		t.Fatalf("failed status %+v", ev)
	}

	if _, err := e.sb.CustomerInteractive(ctx, customer, sandbox.Reply{Type: "list_reply", ID: "inv", Title: "Invoices"}); err != nil {
		t.Fatalf("customer webhook refused by the real receiver: %v", err)
	}
	ev := q.next(t)
	if ev.Kind != "message" || ev.Message == nil || ev.Message.From != customer || ev.Message.Type != "interactive" ||
		ev.Message.Interactive == nil || ev.ContactName == "" {
		t.Fatalf("inbound %+v", ev)
	}
	if _, err := e.sb.CustomerText(ctx, customer, "thanks"); err != nil {
		t.Fatal(err)
	}
	if ev := q.next(t); ev.Message == nil || ev.Message.Text != "thanks" {
		t.Fatalf("inbound text %+v", ev)
	}
}
