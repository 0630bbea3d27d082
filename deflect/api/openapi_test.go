package api_test

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/deflect/api"
)

// TestOpenAPIDocumentIsValid validates the served document against the OpenAPI 3 specification
// (kin-openapi's loader and validator, examples included): a YAML slip such as an unquoted
// ", " in a flow mapping turns a description into a stray key and fails here.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	f := newFixture(t)
	code, body := f.do(t, "GET", "/api/v1/openapi.yaml", "", "")
	if code != 200 {
		t.Fatalf("openapi.yaml = %d", code)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData([]byte(body))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
}

// TestOpenAPIPathsMatchRoutes: every route gin serves under /api/v1 (and the webhook, health and
// metrics routes) is in the document, and the document lists nothing that is not served.
func TestOpenAPIPathsMatchRoutes(t *testing.T) {
	f := newFixture(t)
	_, body := f.do(t, "GET", "/api/v1/openapi.yaml", "", "")
	doc, err := openapi3.NewLoader().LoadFromData([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		if fakeOfMeta(path) {
			continue
		}
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	param := regexp.MustCompile(`[:*]([a-zA-Z_]+)`)
	for _, r := range servedRoutes() {
		if fakeOfMeta(r.Path) {
			continue
		}
		if strings.HasPrefix(r.Path, "/console/") && strings.Contains(r.Path, "*") {
			continue // the console's page assets, documented as GET /console
		}
		served[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("served but not documented: %v\ndocumented but not served: %v", missing, extra)
	}
}

// servedRoutes builds the API as cmd/deflectd wires it, with every optional part present.
func servedRoutes() gin.RoutesInfo {
	h := api.NewWithInbox(api.Options{Gatherer: prometheus.NewRegistry(), Webhook: http.NotFoundHandler()}, api.InboxOptions{})
	return h.(*gin.Engine).Routes()
}

// fakeOfMeta: the sandbox's routes fake Meta's Graph API (documented by Meta, a few of them in the
// document as pointers), not deflectd's own API.
func fakeOfMeta(path string) bool {
	return strings.HasPrefix(path, "/sandbox/") || strings.HasPrefix(path, "/_sandbox/")
}
