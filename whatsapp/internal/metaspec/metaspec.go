// Package metaspec loads Meta's OpenAPI document of the WhatsApp Business Messaging API (a test
// fixture: whatsapp/testdata/meta-openapi) with kin-openapi and validates JSON bodies against
// its schemas. Only tests import it.
//
// Three things are done to the document before kin-openapi loads it, all in code so that the
// fixture stays Meta's file byte for byte:
//
//   - the points where the schema contradicts Meta's own examples are relaxed, and the
//     references its generator broke are repaired: each is listed in relax.go.
//   - allOf members are merged (merge.go). Meta writes each message kind as
//     allOf(BaseMessageProperties, {additionalProperties: false, ...}); JSON Schema applies
//     additionalProperties to each member on its own, so the second member refuses
//     messaging_product, to and type and every body fails. Merging the members into one object
//     (properties and required united, closed when any member is closed) is what the document
//     means. A parent with a discriminator becomes a oneOf of its children.
//   - in strict mode (LoadStrict), every object is closed: a field the document does not name
//     is refused, so a misspelt optional field fails too.
//
// Meta's document itself does not pass kin-openapi's document validation (some schema examples
// break their own patterns), so only the schemas used here are relied on.
package metaspec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// File is the fixture's name; Commit is the facebook/openapi commit it was taken from.
const (
	File   = "business-messaging-api_v23.0.yaml"
	Commit = "ecba623b4aba6ae770185b074ed77ed5acef22f7"
)

// Paths of the operations used here.
const (
	MessagesPath  = "/{Version}/{Phone-Number-ID}/messages"
	WebhooksPath  = "/whatsapp/webhooks"
	TemplatesPath = "/{Version}/{WABA-ID}/message_templates"
)

// Dir is the fixture directory (whatsapp/testdata/meta-openapi).
func Dir() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "testdata", "meta-openapi")
}

// Spec is the loaded, merged and relaxed document.
type Spec struct {
	Doc *openapi3.T
	raw map[string]any // the document as read, before merging (for the examples)
}

// Options change how the document is loaded.
type Options struct {
	// Strict closes every object schema that lists properties and says nothing of others
	// (additionalProperties: false): a field the document does not name is refused. Meta's
	// document closes only some objects; in strict mode a misspelt optional field fails too.
	Strict bool
	// Edit, when set, changes the raw component schemas after relaxing, before merging and
	// loading (tests use it to rename a field in a schema).
	Edit func(schemas map[string]any)
}

var (
	onces  [2]sync.Once
	shared [2]*Spec
	errs   [2]error
)

// Load reads the fixture once per process (it is about 1 MB) and returns the shared Spec, as
// Meta wrote it (merged and relaxed). Callers must not modify it.
func Load() (*Spec, error) { return loadShared(0) }

// LoadStrict is Load with Options.Strict.
func LoadStrict() (*Spec, error) { return loadShared(1) }

// Strict is LoadStrict for a test: a document that does not load fails it.
func Strict(t testing.TB) *Spec {
	t.Helper()
	s, err := LoadStrict()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func loadShared(i int) (*Spec, error) {
	onces[i].Do(func() { shared[i], errs[i] = LoadWith(Options{Strict: i == 1}) })
	return shared[i], errs[i]
}

// LoadWith loads a private copy.
func LoadWith(o Options) (*Spec, error) {
	raw, err := readRaw()
	if err != nil {
		return nil, err
	}
	var work map[string]any
	if err := remarshal(raw, &work); err != nil {
		return nil, err
	}
	schemas := dig(work, "components", "schemas")
	if schemas == nil {
		return nil, fmt.Errorf("meta openapi: no components.schemas")
	}
	if err := relax(schemas); err != nil {
		return nil, err
	}
	if err := relaxTemplateCreation(work); err != nil {
		return nil, err
	}
	if o.Edit != nil {
		o.Edit(schemas)
	}
	mergeAllOf(schemas)
	if o.Strict {
		closeObjects(schemas)
		closeObjects(dig(work, "paths", TemplatesPath)) // its request schema is inline
	}
	js, err := json.Marshal(work)
	if err != nil {
		return nil, fmt.Errorf("marshal meta openapi: %w", err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(js)
	if err != nil {
		return nil, fmt.Errorf("load meta openapi: %w", err)
	}
	return &Spec{Doc: doc, raw: raw}, nil
}

var (
	rawOnce sync.Once
	rawDoc  map[string]any
	rawErr  error
)

// readRaw parses the fixture once per process; the result is shared and only read (each load
// works on its own copy).
func readRaw() (map[string]any, error) {
	rawOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(Dir(), File))
		if err != nil {
			rawErr = fmt.Errorf("read meta openapi: %w", err)
			return
		}
		var raw map[string]any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			rawErr = fmt.Errorf("parse meta openapi: %w", err)
			return
		}
		rawDoc = stringKeys(raw).(map[string]any)
	})
	return rawDoc, rawErr
}

func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("convert meta openapi: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("convert meta openapi: %w", err)
	}
	return nil
}

func dig(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		n, ok := m[k].(map[string]any)
		if !ok {
			return nil
		}
		m = n
	}
	return m
}

// Schema returns a named component schema.
func (s *Spec) Schema(name string) (*openapi3.Schema, error) {
	ref, ok := s.Doc.Components.Schemas[name]
	if !ok || ref.Value == nil {
		return nil, fmt.Errorf("meta openapi: no schema %q", name)
	}
	return ref.Value, nil
}

// RequestSchema returns the JSON request body schema of POST path.
func (s *Spec) RequestSchema(path string) (*openapi3.Schema, error) {
	item := s.Doc.Paths.Value(path)
	if item == nil || item.Post == nil || item.Post.RequestBody == nil || item.Post.RequestBody.Value == nil {
		return nil, fmt.Errorf("meta openapi: no POST request body at %s", path)
	}
	mt := item.Post.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil, fmt.Errorf("meta openapi: no JSON schema for POST %s", path)
	}
	return mt.Schema.Value, nil
}

// Validate checks body against schema with kin-openapi's schema validator. It follows the
// discriminator of a oneOf to the one member to check (and names that member's errors); asked
// for JSON Schema 2020-12 instead, kin-openapi compiles the whole schema on every call and, for
// schemas with component references and no 2020-only keyword, such as these, falls back to this
// validator anyway.
func Validate(schema *openapi3.Schema, body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return schema.VisitJSON(v)
}

// ValidateRequest validates body against the request body schema of POST path.
func (s *Spec) ValidateRequest(path string, body []byte) error {
	sch, err := s.RequestSchema(path)
	if err != nil {
		return err
	}
	return Validate(sch, body)
}

// ValidateNamed validates body against a named component schema.
func (s *Spec) ValidateNamed(name string, body []byte) error {
	sch, err := s.Schema(name)
	if err != nil {
		return err
	}
	return Validate(sch, body)
}

// Example is one named request example of the document.
type Example struct {
	Name string
	Body json.RawMessage
}

// Examples returns the request examples of POST path, sorted by name, as Meta wrote them (before
// any merging or relaxing).
func (s *Spec) Examples(path string) ([]Example, error) {
	exs := dig(s.raw, "paths", path, "post", "requestBody", "content", "application/json", "examples")
	if exs == nil {
		return nil, fmt.Errorf("meta openapi: no examples for POST %s", path)
	}
	var out []Example
	for name, e := range exs {
		m, _ := e.(map[string]any)
		b, err := json.Marshal(m["value"])
		if err != nil {
			return nil, fmt.Errorf("example %q: %w", name, err)
		}
		out = append(out, Example{Name: name, Body: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Slug turns an example's name into a file name: "Send Text Message" → "send_text_message".
func Slug(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			under = false
		} else if !under && b.Len() > 0 {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// stringKeys turns the maps YAML decodes with non-string keys (response codes) into JSON objects.
func stringKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = stringKeys(x)
		}
		return t
	case map[any]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[fmt.Sprint(k)] = stringKeys(x)
		}
		return out
	case []any:
		for i, x := range t {
			t[i] = stringKeys(x)
		}
	}
	return v
}

// closeObjects sets additionalProperties: false on every object schema with properties that
// leaves additionalProperties unsaid and whose properties are not spread over members (anyOf,
// allOf members with properties of their own; members that only require are fine).
func closeObjects(schemas map[string]any) {
	walk(schemas, func(m map[string]any) {
		if _, ok := m["properties"].(map[string]any); !ok {
			return
		}
		if _, ok := m["additionalProperties"]; ok {
			return
		}
		for _, k := range []string{"anyOf", "allOf"} {
			members, _ := m[k].([]any)
			for _, x := range members {
				if mm, _ := x.(map[string]any); mm != nil && mm["properties"] != nil {
					return
				}
			}
		}
		m["additionalProperties"] = false
	})
}

// Check validates with the strict document (validate is called with it). Strict conformance
// implies conformance to the document as written, which is loaded only to explain a failure:
// the body breaks the document, or only names a field the document does not.
func Check(validate func(*Spec) error) error {
	strict, err := LoadStrict()
	if err != nil {
		return err
	}
	serr := validate(strict)
	if serr == nil {
		return nil
	}
	plain, err := Load()
	if err != nil {
		return err
	}
	if perr := validate(plain); perr != nil {
		return fmt.Errorf("does not conform to Meta's document: %w", perr)
	}
	return fmt.Errorf("names a field Meta's document does not: %w", serr)
}
