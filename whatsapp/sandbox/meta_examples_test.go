package sandbox_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/whatsapp/internal/metaspec"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// exampleCustomer replaces the examples' recipient placeholders ({{Recipient-Phone-Number}}),
// as example hosts are rewritten to loopback.
const exampleCustomer = "+16505551234"

// rewriteExample fills the placeholders a real request cannot carry: the recipient, the template
// language "language-and-locale-code" (en_US), and media links of the form http(s)://… (a
// loopback URL instead). Everything else is sent as Meta wrote it.
func rewriteExample(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			s, isStr := x.(string)
			switch {
			case k == "to" && isStr && strings.HasPrefix(s, "{{"):
				t[k] = exampleCustomer
			case k == "code" && s == "language-and-locale-code":
				t[k] = "en_US"
			case k == "link" && isStr && strings.Contains(s, "http(s)://"):
				t[k] = "https://127.0.0.1/media/" + metaspec.Slug(s)
			default:
				t[k] = rewriteExample(x)
			}
		}
	case []any:
		for i, x := range t {
			t[i] = rewriteExample(x)
		}
	}
	return v
}

// exampleTemplates registers the templates Meta's examples name, with the parameters they fill,
// as they would be in a WABA that created them.
func exampleTemplates() []configs.TemplateDef {
	return []configs.TemplateDef{
		{Name: "hello_world", Languages: []string{"en_US"}},
		{Name: "intro_catalog_offer", Languages: []string{"en_US"}, BodyParams: 3},
		{Name: "sample_issue_resolution", Languages: []string{"en_US"}, BodyParams: 1, Buttons: 2},
		{Name: "sample_shipping_confirmation", Languages: []string{"en_US"}, BodyParams: 3},
		{Name: "template-name", Languages: []string{"en_US"}, BodyParams: 3, Buttons: 2},
	}
}

// metaExampleRefusals: the examples the sandbox refuses, with Meta's error code and why Meta
// would refuse them too. Every other example must be accepted.
var metaExampleRefusals = map[string]struct {
	code int
	why  string
}{
	"Send Flow Template Message":            {132001, "the template name is the placeholder <TEMPLATE_NAME>: no WABA has it"},
	"Send Message Template Interactive":     {132000, "an image header parameter: the registry's templates have no header variable, and Meta refuses a parameter a template does not have"},
	"Send Message Template Media":           {132000, "as Send Message Template Interactive"},
	"Send Reply to List Message":            {100, "type is left out, so Meta takes it as text, and there is no text object"},
	"Send Sample Issue Resolution Template": {100, "a button parameter's text is a boolean where Meta requires a string"},
}

// TestMetaMessageExamples posts each of the 50 /messages request examples of Meta's document to
// the sandbox: each is accepted, or refused with the Graph error Meta gives for it (a parameter
// error with Meta's code), never as a body the sandbox could not read.
func TestMetaMessageExamples(t *testing.T) {
	spec, err := metaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	exs, err := spec.Examples(metaspec.MessagesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 50 {
		t.Fatalf("%d examples, want Meta's 50", len(exs))
	}
	e := newEnv(t, func(c *sandbox.Config) { c.Templates = append(c.Templates, exampleTemplates()...) })
	for _, n := range []string{exampleCustomer, "+16315555555"} {
		if _, err := e.sb.CustomerText(t.Context(), n, "hi"); err != nil { // open the 24-hour window
			t.Fatal(err)
		}
	}
	for _, ex := range exs {
		t.Run(metaspec.Slug(ex.Name), func(t *testing.T) {
			var v any
			if err := json.Unmarshal(ex.Body, &v); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(rewriteExample(v))
			r := e.send(t, string(body))
			msg := ""
			if eo, ok := r.Body["error"].(map[string]any); ok {
				msg, _ = eo["message"].(string)
				if d, ok := eo["error_data"].(map[string]any); ok {
					det, _ := d["details"].(string)
					msg += " " + det
				}
			}
			if strings.Contains(msg, "Invalid JSON") {
				t.Fatalf("the sandbox could not read Meta's example: %d %s\n%s", r.Status, r.Raw, body)
			}
			want, refused := metaExampleRefusals[ex.Name]
			switch {
			case !refused && r.Status != http.StatusOK:
				t.Errorf("refused %d code %d: %s\n%s", r.Status, r.errorCode(), msg, body)
			case refused && r.Status == http.StatusOK:
				t.Errorf("accepted, want refusal %d (%s)", want.code, want.why)
			case refused && r.errorCode() != want.code:
				t.Errorf("refused with code %d (%s), want %d (%s)", r.errorCode(), msg, want.code, want.why)
			}
		})
	}
}

// metaTemplateRefusals: the template creation examples the sandbox refuses, with Meta's code.
// The examples are posted in name order to one WABA.
var metaTemplateRefusals = map[string]struct {
	code int
	why  string
}{
	"Create catalog template": {100, "Meta's example is the one-tap autofill template again (same name and language): the second submission is a duplicate (subcode 2388024)"},
}

// TestMetaTemplateExamples posts each of the 11 template creation examples of Meta's document to
// the sandbox's message_templates: each is accepted for review, or refused with Meta's code, never
// as a body the sandbox could not read.
func TestMetaTemplateExamples(t *testing.T) {
	spec, err := metaspec.Load()
	if err != nil {
		t.Fatal(err)
	}
	exs, err := spec.Examples(metaspec.TemplatesPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 11 {
		t.Fatalf("%d examples, want Meta's 11", len(exs))
	}
	e := newEnv(t, nil)
	for _, ex := range exs {
		t.Run(metaspec.Slug(ex.Name), func(t *testing.T) {
			// The name placeholder <TEMPLATE_NAME> becomes a name Meta allows.
			var v map[string]any
			if err := json.Unmarshal(ex.Body, &v); err != nil {
				t.Fatal(err)
			}
			if v["name"] == "<TEMPLATE_NAME>" {
				v["name"] = metaspec.Slug(ex.Name)
			}
			body, _ := json.Marshal(v)
			r := e.do(t, http.MethodPost, wabaPath, token, string(body))
			if strings.Contains(string(r.Raw), "Invalid JSON") {
				t.Fatalf("the sandbox could not read Meta's example: %d %s", r.Status, r.Raw)
			}
			want, refused := metaTemplateRefusals[ex.Name]
			switch {
			case !refused && r.Status != http.StatusOK:
				t.Errorf("refused %d code %d: %s", r.Status, r.errorCode(), r.Raw)
			case refused && r.Status == http.StatusOK:
				t.Errorf("accepted, want refusal %d (%s)", want.code, want.why)
			case refused && r.errorCode() != want.code:
				t.Errorf("refused with code %d (%s), want %d (%s)", r.errorCode(), r.Raw, want.code, want.why)
			}
		})
	}
}
