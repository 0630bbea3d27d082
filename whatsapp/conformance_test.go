package whatsapp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/internal/metaspec"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

func strictSpec(t *testing.T) *metaspec.Spec { return metaspec.Strict(t) }

// bodyRecorder keeps the request bodies the Graph API stand-in received, then lets the sandbox answer.
type bodyRecorder struct {
	next http.Handler
	mu   sync.Mutex
	got  [][]byte
}

func (r *bodyRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if strings.HasSuffix(req.URL.Path, "/messages") {
		r.mu.Lock()
		r.got = append(r.got, body)
		r.mu.Unlock()
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	r.next.ServeHTTP(w, req)
}

func (r *bodyRecorder) last(t *testing.T) []byte {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		t.Fatal("the client sent nothing")
	}
	return r.got[len(r.got)-1]
}

// bsuid is a business-scoped user id, the form of Meta's "Business-scoped user IDs" page.
const bsuid = "US.13491208655302741918"

// clientBody is one kind of request the product's client sends, and the schema it must satisfy.
type clientBody struct {
	name   string
	schema string // a component schema; "" = the /messages operation's request body
	send   func(ctx context.Context, c *whatsapp.Client, inbound string) error
}

func clientBodies() []clientBody {
	const to = "+447700900123"
	send := func(f func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error)) func(context.Context, *whatsapp.Client, string) error {
		return func(ctx context.Context, c *whatsapp.Client, _ string) error { _, err := f(ctx, c); return err }
	}
	return []clientBody{
		{name: "template with body parameters and quick replies", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendTemplate(ctx, to, whatsapp.Template{Name: "call_deflection", Language: "en", BodyParams: []string{"Billing"}, QuickReplyPayloads: []string{"s1:yes", "s1:agent"}})
		})},
		{name: "template with a header parameter", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendTemplate(ctx, to, whatsapp.Template{Name: "renewal", Language: "en", HeaderParams: []string{"Case R-2291"}})
		})},
		{name: "text", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendText(ctx, to, "Your case R-2291 is open.", false)
		})},
		{name: "text with link preview", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendText(ctx, to, "See https://127.0.0.1/help", true)
		})},
		{name: "interactive reply buttons", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendButtons(ctx, to, "Call you back?", []whatsapp.Button{{ID: "yes", Title: "Yes"}, {ID: "no", Title: "No"}, {ID: "agent", Title: "An agent"}})
		})},
		{name: "interactive call button", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendCallButton(ctx, to, whatsapp.CallButton{Body: "Call us on WhatsApp", DisplayText: "Call now", TTL: time.Hour, Payload: "s1:call"})
		})},
		{name: "interactive list", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendList(ctx, to, "What is it about?", "Choose", []whatsapp.Section{
				{Title: "Billing", Rows: []whatsapp.Row{{ID: "inv", Title: "Invoice", Description: "A question on an invoice"}}},
				{Title: "Other", Rows: []whatsapp.Row{{ID: "agent", Title: "Talk to someone"}}}})
		})},
		{name: "image by link", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendMedia(ctx, to, whatsapp.Media{Kind: whatsapp.MediaImage, Link: "https://127.0.0.1/a.jpg", Caption: "Your receipt"})
		})},
		{name: "document by id", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendMedia(ctx, to, whatsapp.Media{Kind: whatsapp.MediaDocument, ID: "1003383421387256", Caption: "Terms", Filename: "terms.pdf"})
		})},
		{name: "video by id", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendMedia(ctx, to, whatsapp.Media{Kind: whatsapp.MediaVideo, ID: "1003383421387257"})
		})},
		{name: "audio by link", send: send(func(ctx context.Context, c *whatsapp.Client) (whatsapp.SendResult, error) {
			return c.SendMedia(ctx, to, whatsapp.Media{Kind: whatsapp.MediaAudio, Link: "https://127.0.0.1/a.ogg"})
		})},
		{name: "text to a business-scoped user id", send: func(ctx context.Context, c *whatsapp.Client, _ string) error {
			_, err := c.SendText(ctx, bsuid, "Your case R-2291 is open.", false)
			return err
		}},
		{name: "mark read", schema: "MarkMessageRequestPayload", send: func(ctx context.Context, c *whatsapp.Client, inbound string) error {
			return c.MarkRead(ctx, inbound)
		}},
	}
}

// captureClientBodies sends every kind of request through the client, over HTTP, to the sandbox
// behind a bodyRecorder; the sandbox must accept each. It returns the bodies by case name.
func captureClientBodies(t *testing.T) map[string][]byte {
	t.Helper()
	sb := sandbox.New(sandbox.Config{PhoneNumberID: sbPhoneID, AccessToken: sbToken, AppSecret: secret,
		Templates: []configs.TemplateDef{
			{Name: "call_deflection", Languages: []string{"en"}, BodyParams: 1, Buttons: 2},
			{Name: "renewal", Languages: []string{"en"}},
		}}, nil)
	sb.Start(t.Context())
	t.Cleanup(sb.Close)
	rec := &bodyRecorder{next: sb.Handler()}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c := sandboxClient(t, srv.URL+"/v23.0", nil, nil)
	// The customer writes first: free-form messages need the 24-hour window, and mark-read a
	// message to mark.
	inbound, err := sb.CustomerText(t.Context(), "447700900123", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.CustomerText(t.Context(), bsuid, "hello"); err != nil { // a customer with a username
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, cb := range clientBodies() {
		if err := cb.send(t.Context(), c, inbound); err != nil {
			// The template-with-header case: the sandbox's registry has no header variables,
			// and answers 132000 as Meta does; the body is still what the client sends.
			var ae *whatsapp.APIError
			if !(errors.As(err, &ae) && ae.Code == 132000 && strings.Contains(cb.name, "header")) {
				t.Fatalf("%s: sandbox refused the client's request: %v", cb.name, err)
			}
		}
		out[cb.name] = rec.last(t)
	}
	return out
}

func validateClientBody(spec *metaspec.Spec, schema string, body []byte) error {
	if schema == "" {
		return spec.ValidateRequest(metaspec.MessagesPath, body)
	}
	return spec.ValidateNamed(schema, body)
}

// TestConformanceClientBodies: every request body the client sends, as the Graph API stand-in
// received it, satisfies the schema of Meta's OpenAPI document, and names no field the document
// does not (strict); renaming any one field of it makes the strict validation fail, so the check
// is not vacuous.
func TestConformanceClientBodies(t *testing.T) {
	strict := strictSpec(t)
	bodies := captureClientBodies(t)
	for _, cb := range clientBodies() {
		body := bodies[cb.name]
		t.Run(cb.name, func(t *testing.T) {
			if err := metaspec.Check(func(s *metaspec.Spec) error { return validateClientBody(s, cb.schema, body) }); err != nil {
				t.Fatalf("%s %s", body, firstLine(err))
			}
		})
		t.Run(cb.name+"/every field renamed", func(t *testing.T) {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			paths := metaspec.KeyPaths(v)
			if len(paths) < 3 {
				t.Fatalf("only %d fields in %s", len(paths), body)
			}
			for _, p := range paths {
				mutated, err := json.Marshal(metaspec.RenameKey(v, p))
				if err != nil {
					t.Fatal(err)
				}
				if err := validateClientBody(strict, cb.schema, mutated); err == nil {
					t.Errorf("renaming %s still conforms: %s", p, mutated)
				}
			}
		})
	}
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
