package sandbox_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// shape flattens a JSON document into its key paths with JSON types ("entry[].id:string"), so two
// payloads compare equal when they have the same structure whatever their ids and timestamps.
func shape(t *testing.T, raw []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	set := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			set[path+":object"] = true
			for k, e := range x {
				walk(path+"."+k, e)
			}
		case []any:
			set[path+":array"] = true
			for _, e := range x {
				walk(path+"[]", e)
			}
		case string:
			set[path+":string"] = true
		case float64:
			set[path+":number"] = true
		case bool:
			set[path+":bool"] = true
		case nil:
			set[path+":null"] = true
		}
	}
	walk("", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func diff(a, b []string) (onlyA, onlyB []string) {
	for _, x := range a {
		if !slices.Contains(b, x) {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

// TestWebhookPayloadsMatchMetaExamples captures what the sandbox posts and compares its shape with
// Meta's documented examples in testdata/meta.
func TestWebhookPayloadsMatchMetaExamples(t *testing.T) {
	const absent = "447700900123"
	e := newEnv(t, func(c *sandbox.Config) {
		c.StatusDelay = 10 * time.Millisecond
		c.NotOnWhatsApp = []string{absent}
	})
	got := map[string][]byte{}

	tpl := e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
	for _, name := range []string{"status_sent", "status_delivered", "status_read"} {
		h := e.recv.next(t)
		if s := h.Payload.Entry[0].Changes[0].Value.Statuses[0]; s.ID != tpl.messageID() || "status_"+s.Status != name {
			t.Fatalf("expected %s, got %s", name, h.Raw)
		}
		got[name] = h.Raw
	}
	e.send(t, templateBody(absent, "call_deflection", "en", "Q"))
	got["status_failed"] = e.recv.next(t).Raw

	customerSends := []struct{ name, path, body string }{
		{"message_text", "text", `{"body":"Does it come in another color?"}`},
		{"message_button", "button", `{"payload":"Unsubscribe from Promos","text":"Unsubscribe from Promos"}`},
		{"message_interactive_button_reply", "interactive", `{"type":"button_reply","id":"cancel-button","title":"Cancel"}`},
		{"message_interactive_list_reply", "interactive", `{"type":"list_reply","id":"priority_express","title":"Priority Mail Express","description":"Next Day to 2 Days"}`},
	}
	for _, c := range customerSends {
		if r := e.do(t, http.MethodPost, "/_sandbox/customers/"+customer+"/"+c.path, "", c.body); r.Status != 200 {
			t.Fatalf("%s: HTTP %d %s", c.name, r.Status, r.Raw)
		}
		got[c.name] = e.recv.next(t).Raw
	}

	files, err := filepath.Glob(filepath.Join("testdata", "meta", "*.json"))
	if err != nil || len(files) != len(got) {
		t.Fatalf("%d fixtures for %d payloads (%v)", len(files), len(got), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok := got[name]
			if !ok {
				t.Fatalf("no sandbox payload for fixture %s", name)
			}
			if onlyMeta, onlySandbox := diff(shape(t, want), shape(t, raw)); len(onlyMeta)+len(onlySandbox) > 0 {
				t.Fatalf("shape differs from Meta's example\nonly in Meta's: %v\nonly in the sandbox's: %v\nsandbox: %s", onlyMeta, onlySandbox, raw)
			}
		})
	}
}

func TestShapeCatchesDifferences(t *testing.T) {
	// The comparison itself must be able to fail.
	a := shape(t, []byte(`{"a":{"b":"x","c":[{"d":1}]}}`))
	tests := []struct {
		name string
		doc  string
		same bool
	}{
		{name: "other values", doc: `{"a":{"b":"y","c":[{"d":2},{"d":3}]}}`, same: true},
		{name: "missing key", doc: `{"a":{"c":[{"d":1}]}}`},
		{name: "extra key", doc: `{"a":{"b":"x","c":[{"d":1}],"e":true}}`},
		{name: "other type", doc: `{"a":{"b":1,"c":[{"d":1}]}}`},
		{name: "nested type", doc: `{"a":{"b":"x","c":[{"d":"1"}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, y := diff(a, shape(t, []byte(tt.doc)))
			if same := len(x)+len(y) == 0; same != tt.same {
				t.Fatalf("same = %v, want %v (%v / %v)", same, tt.same, x, y)
			}
		})
	}
}

// TestErrorResponsesMatchMetaExamples compares the shape of the sandbox's Graph error responses
// with Meta's documented error syntax in testdata/meta/errors.
func TestErrorResponsesMatchMetaExamples(t *testing.T) {
	tests := []struct {
		code  int
		cause func(t *testing.T, e *env) response
	}{
		{131047, func(t *testing.T, e *env) response { return e.send(t, textBody(customer, "hi")) }},
		{130429, func(t *testing.T, e *env) response {
			e.sb.InjectFailure(130429, 1)
			return e.send(t, templateBody(customer, "call_deflection", "en", "Q"))
		}},
		{132001, func(t *testing.T, e *env) response {
			return e.send(t, templateBody(customer, "hello_world_x", "en", "Q"))
		}},
		{190, func(t *testing.T, e *env) response {
			return e.do(t, http.MethodPost, "/v23.0/"+phoneID+"/messages", "expired", textBody(customer, "hi"))
		}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "meta", "errors", strconv.Itoa(tt.code)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			e := newEnv(t, func(c *sandbox.Config) { c.WebhookURL = "" })
			r := tt.cause(t, e)
			if r.errorCode() != tt.code {
				t.Fatalf("code %d, want %d: %s", r.errorCode(), tt.code, r.Raw)
			}
			if onlyMeta, onlySandbox := diff(shape(t, want), shape(t, r.Raw)); len(onlyMeta)+len(onlySandbox) > 0 {
				t.Fatalf("shape differs from Meta's example\nonly in Meta's: %v\nonly in the sandbox's: %v\nsandbox: %s", onlyMeta, onlySandbox, r.Raw)
			}
		})
	}
}
