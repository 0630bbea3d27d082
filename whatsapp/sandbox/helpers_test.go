package sandbox_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

const (
	phoneID   = "106540352242922"
	token     = "test-token"
	appSecret = "test-app-secret"
	customer  = "966501234567"
)

// clock is a settable clock for the window and rate limits.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hook is one webhook the receiver accepted.
type hook struct {
	Raw     []byte
	Payload payload
}

type payload struct {
	Object string `json:"object"`
	Entry  []struct {
		ID      string `json:"id"`
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				MessagingProduct string `json:"messaging_product"`
				Metadata         struct {
					DisplayPhoneNumber string `json:"display_phone_number"`
					PhoneNumberID      string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
					WaID string `json:"wa_id"`
				} `json:"contacts"`
				Messages []struct {
					Context *struct {
						From string `json:"from"`
						ID   string `json:"id"`
					} `json:"context"`
					From      string `json:"from"`
					ID        string `json:"id"`
					Timestamp string `json:"timestamp"`
					Type      string `json:"type"`
					Text      *struct {
						Body string `json:"body"`
					} `json:"text"`
					Button *struct {
						Payload string `json:"payload"`
						Text    string `json:"text"`
					} `json:"button"`
					Interactive *struct {
						Type        string            `json:"type"`
						ButtonReply map[string]string `json:"button_reply"`
						ListReply   map[string]string `json:"list_reply"`
					} `json:"interactive"`
				} `json:"messages"`
				Statuses []struct {
					ID           string          `json:"id"`
					Status       string          `json:"status"`
					Timestamp    string          `json:"timestamp"`
					RecipientID  string          `json:"recipient_id"`
					Conversation json.RawMessage `json:"conversation"`
					Pricing      *struct {
						Billable     bool   `json:"billable"`
						PricingModel string `json:"pricing_model"`
						Category     string `json:"category"`
						Type         string `json:"type"`
					} `json:"pricing"`
					Errors []struct {
						Code      int    `json:"code"`
						Title     string `json:"title"`
						Message   string `json:"message"`
						ErrorData struct {
							Details string `json:"details"`
						} `json:"error_data"`
					} `json:"errors"`
				} `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

// receiver is a webhook endpoint that verifies X-Hub-Signature-256 like a real receiver must:
// a request with a missing or wrong signature is answered 401 and counted as bad.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	hooks  chan hook
	mu     sync.Mutex
	bad    int
	calls  int
	failN  int // answer 500 to the first failN well-signed requests
	always int // answer this status to every request (0 = 200)
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{t: t, hooks: make(chan hook, 256)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	got := req.Header.Get("X-Hub-Signature-256")
	r.mu.Lock()
	r.calls++
	if !hmac.Equal([]byte(got), []byte(want)) || req.Header.Get("Content-Type") != "application/json" {
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.always != 0 {
		r.mu.Unlock()
		w.WriteHeader(r.always)
		return
	}
	if r.failN > 0 {
		r.failN--
		r.mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	r.mu.Unlock()
	var p payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.t.Errorf("webhook body is not JSON: %v", err)
	}
	select {
	case r.hooks <- hook{Raw: body, Payload: p}:
		w.WriteHeader(http.StatusOK)
	case <-req.Context().Done():
		// Nobody reads any more and the sandbox gave up: do not block the server's Close.
	}
}

func (r *receiver) counts() (calls, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, r.bad
}

// next waits for the next webhook.
func (r *receiver) next(t *testing.T) hook {
	t.Helper()
	select {
	case h := <-r.hooks:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
		return hook{}
	}
}

// none asserts that no webhook arrives for d.
func (r *receiver) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case h := <-r.hooks:
		t.Fatalf("unexpected webhook: %s", h.Raw)
	case <-time.After(d):
	}
}

func templates() []configs.TemplateDef {
	return []configs.TemplateDef{
		{Name: "call_deflection", Languages: []string{"en", "ar"}, BodyParams: 1, Buttons: 2},
		{Name: "licence_renewal", Languages: []string{"en"}, BodyParams: 2},
	}
}

type env struct {
	sb   *sandbox.Sandbox
	srv  *httptest.Server
	recv *receiver
	clk  *clock
}

// newEnv starts a sandbox behind httptest with a signature-checking receiver. mod adjusts the
// config before New.
func newEnv(t *testing.T, mod func(*sandbox.Config)) *env {
	t.Helper()
	e := &env{recv: newReceiver(t), clk: newClock()}
	cfg := sandbox.Config{
		PhoneNumberID:  phoneID,
		AccessToken:    token,
		AppSecret:      appSecret,
		Templates:      templates(),
		WebhookURL:     e.recv.srv.URL + "/webhooks/whatsapp",
		WebhookBackoff: 10 * time.Millisecond,
		Now:            e.clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.sb = sandbox.New(cfg, nil)
	e.sb.Start(t.Context())
	t.Cleanup(e.sb.Close)
	e.srv = httptest.NewServer(e.sb.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

func (e *env) do(t *testing.T, method, path, tok, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}

// send posts a message body to /v23.0/{phone_number_id}/messages with the right token.
func (e *env) send(t *testing.T, body string) response {
	t.Helper()
	return e.do(t, http.MethodPost, "/v23.0/"+phoneID+"/messages", token, body)
}

// errorCode returns error.code of a Graph error response, or 0.
func (r response) errorCode() int {
	eo, _ := r.Body["error"].(map[string]any)
	c, _ := eo["code"].(float64)
	return int(c)
}

// messageID returns messages[0].id of a success response.
func (r response) messageID() string {
	ms, _ := r.Body["messages"].([]any)
	if len(ms) == 0 {
		return ""
	}
	m, _ := ms[0].(map[string]any)
	id, _ := m["id"].(string)
	return id
}

func textBody(to, text string) string {
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
		"text": map[string]any{"preview_url": false, "body": text},
	})
	return string(b)
}

func templateBody(to, name, lang string, params ...string) string {
	ps := make([]map[string]string, len(params))
	for i, p := range params {
		ps[i] = map[string]string{"type": "text", "text": p}
	}
	b, _ := json.Marshal(map[string]any{
		"messaging_product": "whatsapp", "to": to, "type": "template",
		"template": map[string]any{
			"name": name, "language": map[string]string{"code": lang},
			"components": []any{map[string]any{"type": "body", "parameters": ps}},
		},
	})
	return string(b)
}
