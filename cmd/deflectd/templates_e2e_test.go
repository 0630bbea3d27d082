package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2ETemplatesPushListSync: a gateway whose sandbox has no templates yet. Its first sync
// finds the deflection template missing, so callers are not offered; deflectd templates push
// --gateway creates call_deflection in en, ar and fr (UTILITY, one body parameter, two quick
// replies: what the engine sends) and licence_renewal; list shows Meta's review; the French
// one is rejected (injected), so after a sync French callers get 480 template-unavailable
// while Arabic callers are deflected through the pushed template; a second push reports the
// rejection as a conflict (exit 1).
func TestE2ETemplatesPushListSync(t *testing.T) {
	t.Parallel()
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.Sandbox.Templates = nil
		c.WhatsApp.Sandbox.SeedTemplates = false
		c.WhatsApp.Sandbox.ReviewDelay = 100 * time.Millisecond
		c.Deflect.Template.Params = []string{"{{.Queue}}"}
	})
	n := 0
	caller := func(lang string) ivr.CallReport {
		n++
		return g.call(fmt.Sprintf("+9665012307%02d", n), ivr.CallOptions{Press: "1",
			Headers: []string{"X-Queue: billing", "X-Wait-Estimate: 300", "X-Language: " + lang}})
	}
	env := testEnv("DEFLECTD_API_TOKEN=" + e2eToken)
	cli := func(args ...string) (string, int) {
		stdout, stderr, code := runCLI(t, env, append([]string{"templates"}, args...)...)
		return stdout + stderr, code
	}
	// until runs a CLI command until its output has all of want.
	until := func(want []string, args ...string) string {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			out, _ := cli(args...)
			if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(out, w) }) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("templates %v never showed %q:\n%s", args, want, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The start-up sync found nothing at Meta: readyz says why Arabic callers are not offered.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, body := g.get("/readyz"); strings.Contains(body, "template call_deflection/ar: MISSING") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("readyz never named the missing template: %q", body)
		}
	}
	wantResult(t, caller("ar"), "ineligible;reason=template-unavailable")

	post(t, g.base+"/sandbox/graph/_sandbox/templates/call_deflection/fr/reject", `{"reason":"INVALID_FORMAT"}`)
	out, code := cli("push", "--gateway", g.base)
	if code != 0 || !strings.Contains(out, "created 5, updated 0, unchanged 0, failed 0, conflict 0") {
		t.Fatalf("push: exit %d\n%s", code, out)
	}
	info := g.sandbox.Templates()
	if len(info) != 2 || info[0].Name != "call_deflection" || !slices.Equal(info[0].Languages, []string{"ar", "en", "fr"}) ||
		info[0].BodyParams != 1 || info[0].Buttons != 2 || info[1].Name != "licence_renewal" || info[1].BodyParams != 2 {
		t.Fatalf("the sandbox has %+v, want call_deflection ar/en/fr with 1 parameter and 2 buttons, licence_renewal with 2", info)
	}
	list := until([]string{"APPROVED", "REJECTED"}, "list", "--gateway", g.base)
	for _, row := range []string{"call_deflection  ar        APPROVED  UTILITY", "call_deflection  fr        REJECTED  UTILITY   UNKNOWN  INVALID_FORMAT"} {
		until([]string{row}, "list", "--gateway", g.base)
	}
	if !strings.HasPrefix(list, "NAME") || !strings.Contains(list, "QUALITY") {
		t.Errorf("list has no header:\n%s", list)
	}

	until([]string{"call_deflection/fr: REJECTED"}, "sync", "--gateway", g.base)
	wantResult(t, caller("ar"), "deflected") // sent through the pushed template: the sandbox checked its shape
	wantResult(t, caller("fr"), "ineligible;reason=template-unavailable")

	out, code = cli("push", "--gateway", g.base)
	if code != 1 || !strings.Contains(out, "unchanged 4, failed 0, conflict 1") || !strings.Contains(out, "rejected (INVALID_FORMAT)") {
		t.Errorf("second push: exit %d, want 1 with the rejection as a conflict\n%s", code, out)
	}
	if _, stderr, code := runCLI(t, testEnv(), "templates", "list", "--gateway", g.base); code != 2 || !strings.Contains(stderr, "DEFLECTD_API_TOKEN") {
		t.Errorf("list without a token: exit %d %s", code, stderr)
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d", url, res.StatusCode)
	}
}

// graphStandIn is a Graph API that lists one outdated template language and records what it is
// sent.
type graphStandIn struct {
	mu    sync.Mutex
	posts map[string][]map[string]any // by path
}

func (s *graphStandIn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer graph-token" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Invalid OAuth access token","type":"OAuthException","code":190}}`)
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v23.0/4242/message_templates" {
		_, _ = io.WriteString(w, `{"data":[{"id":"77","name":"call_deflection","language":"en","status":"APPROVED","category":"UTILITY",`+
			`"quality_score":{"score":"GREEN"},"components":[{"type":"BODY","text":"An older text {{1}}"}]}],"paging":{"cursors":{"before":"a","after":"b"}}}`)
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.posts[r.URL.Path] = append(s.posts[r.URL.Path], body)
	s.mu.Unlock()
	if r.URL.Path == "/v23.0/77" {
		_, _ = io.WriteString(w, `{"success":true}`)
		return
	}
	_, _ = fmt.Fprintf(w, `{"id":"%d","status":"PENDING","category":%q}`, len(s.posts[r.URL.Path]), body["category"])
}

// TestTemplatesPushToGraphAPI: push against a Graph API stand-in with the configuration's
// credentials sends Meta's documented bodies: a creation per missing template language with
// name, language, category UTILITY, the body with its {{1}} and sample, and the two quick
// replies; an edit (POST /{template-id}) for the outdated one. A definition that does not fit
// what the engine sends (two parameters configured) is refused before anything is sent.
func TestTemplatesPushToGraphAPI(t *testing.T) {
	t.Parallel()
	graph := &graphStandIn{posts: map[string][]map[string]any{}}
	srv := httptest.NewServer(graph)
	defer srv.Close()
	env := testEnv("DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL="+srv.URL+"/v23.0",
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=graph-token", "DEFLECTD_WHATSAPP_APP_SECRET=app-secret",
		"DEFLECTD_WHATSAPP_BUSINESS_ACCOUNT_ID=4242")
	stdout, stderr, code := runCLI(t, env, "templates", "push")
	if code != 0 || !strings.Contains(stdout, "created 4, updated 1, unchanged 0") {
		t.Fatalf("push: exit %d\n%s%s", code, stdout, stderr)
	}
	created := graph.posts["/v23.0/4242/message_templates"]
	langs := map[string]bool{}
	for _, b := range created {
		if b["name"] != "call_deflection" {
			continue
		}
		langs[b["language"].(string)] = true
		raw, _ := json.Marshal(b["components"])
		var comps []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Example struct {
				BodyText [][]string `json:"body_text"`
			} `json:"example"`
			Buttons []struct{ Type, Text string } `json:"buttons"`
		}
		_ = json.Unmarshal(raw, &comps)
		if b["category"] != "UTILITY" || len(comps) != 2 || comps[0].Type != "BODY" || !strings.Contains(comps[0].Text, "{{1}}") ||
			len(comps[0].Example.BodyText) != 1 || len(comps[0].Example.BodyText[0]) != 1 ||
			comps[1].Type != "BUTTONS" || len(comps[1].Buttons) != 2 || comps[1].Buttons[0].Type != "QUICK_REPLY" {
			t.Errorf("creation body %s/%v: %s", b["name"], b["language"], raw)
		}
	}
	if len(created) != 4 || !langs["ar"] || !langs["fr"] || langs["en"] {
		t.Errorf("created %d template languages (call_deflection in %v), want ar and fr created, en edited, licence_renewal en and ar", len(created), langs)
	}
	if edits := graph.posts["/v23.0/77"]; len(edits) != 1 || edits[0]["category"] != nil || !strings.Contains(fmt.Sprint(edits[0]["components"]), "Instead of waiting on hold") {
		t.Errorf("edit of template 77: %v", edits)
	}

	stdout, _, code = runCLI(t, env, "templates", "list")
	if code != 0 || !strings.Contains(stdout, "call_deflection  en        APPROVED  UTILITY   GREEN") || !strings.Contains(stdout, "call_deflection  ar        MISSING") {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}

	before := len(graph.posts["/v23.0/4242/message_templates"])
	_, stderr, code = runCLI(t, append(env, "DEFLECTD_DEFLECT_TEMPLATE_PARAMS={{.Queue}},{{.CustomerID}}"), "templates", "push")
	if code != 2 || !strings.Contains(stderr, "deflect.template.params fills 2") || len(graph.posts["/v23.0/4242/message_templates"]) != before {
		t.Errorf("push with two parameters configured: exit %d, want 2 and nothing sent\n%s", code, stderr)
	}
	if _, stderr, code := runCLI(t, testEnv("DEFLECTD_WHATSAPP_ACCESS_TOKEN=x"), "templates", "push"); code != 2 || !strings.Contains(stderr, "--gateway") {
		t.Errorf("push on the embedded default without --gateway: exit %d %s", code, stderr)
	}
}
