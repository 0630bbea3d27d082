package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/store"
)

func TestInboxAPIAuth(t *testing.T) {
	f := newInboxFixture(t, "")
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/api/v1/conversations", "", "", 401},
		{"wrong token", "GET", "/api/v1/conversations", "nope", "", 401},
		{"pbx token lacks agent scope", "GET", "/api/v1/conversations", ibPBX, "", 403},
		{"agent lists conversations", "GET", "/api/v1/conversations", ibAlice, "", 200},
		{"admin lists conversations", "GET", "/api/v1/conversations", ibAdmin, "", 200},
		{"agent me", "GET", "/api/v1/agents/me", ibAlice, "", 200},
		{"agents", "GET", "/api/v1/agents", ibBob, "", 200},
		{"bad presence", "PUT", "/api/v1/agents/me/presence", ibAlice, `{"presence":"asleep"}`, 400},
		{"unknown conversation", "GET", "/api/v1/conversations/447700900999", ibAlice, "", 404},
		{"desk reply without token", "POST", "/api/v1/conversations/447700900999/messages", "", `{"text":"x"}`, 401},
		{"desk reply with pbx token", "POST", "/api/v1/conversations/447700900999/messages", ibPBX, `{"text":"x"}`, 403},
		{"dead letters need admin", "GET", "/api/v1/desk/dead-letters", ibAlice, "", 403},
		{"dead letters for admin", "GET", "/api/v1/desk/dead-letters", ibAdmin, "", 200},
		{"replay needs admin", "POST", "/api/v1/desk/dead-letters/abc/replay", ibAlice, "", 403},
		{"notifications need admin", "POST", "/api/v1/notifications", ibAlice, `{}`, 403},
		{"notifications need a template", "POST", "/api/v1/notifications", ibAdmin, `{"rows":[{"phone":"+447700900123"}]}`, 400},
		{"events need a token", "GET", "/api/v1/inbox/events", "", "", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := f.do(tc.method, tc.path, tc.token, tc.body); got != tc.want {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, got, body, tc.want)
			}
		})
	}
}

func TestInboxAPIConversationFlow(t *testing.T) {
	f := newInboxFixture(t, "")
	const waID = "966501239001"
	f.deflectedCustomer(waID, "ar", "موظف") // "agent": greeting, handoff text, queued

	code, body := f.do("GET", "/api/v1/conversations", ibAlice, "")
	var lists inbox.Lists
	if err := json.Unmarshal([]byte(body), &lists); err != nil || code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	if len(lists.Waiting) != 1 || lists.WaitingTotal != 1 || lists.Waiting[0].ID != waID || lists.Waiting[0].Position != 1 {
		t.Fatalf("waiting = %+v", lists.Waiting)
	}
	w := lists.Waiting[0]
	if w.Queue != "Licensing" || w.WaitEstimate == nil || *w.WaitEstimate != 420 || w.CustomerID != "CUST-77" ||
		w.Language != "ar" || w.Context["Case"] != "R-2291" || strings.Join(w.IVRPath, ",") != "offer,1" {
		t.Fatalf("waiting conversation lacks the call context: %+v", w)
	}

	if code, body := f.do("PUT", "/api/v1/agents/me/presence", ibAlice, `{"presence":"online"}`); code != 200 {
		t.Fatalf("presence: %d %s", code, body)
	}
	_, body = f.do("GET", "/api/v1/conversations", ibAlice, "")
	_ = json.Unmarshal([]byte(body), &lists)
	if len(lists.Mine) != 1 || lists.Mine[0].Agent != "alice" || len(lists.Waiting) != 0 {
		t.Fatalf("after going online alice should have it: %s", body)
	}

	path := "/api/v1/conversations/" + waID + "/messages"
	if code, body := f.do("POST", path, ibAlice, `{"type":"text","text":"مرحبا، أنا أليس"}`, "Idempotency-Key", "r1"); code != 201 {
		t.Fatalf("reply: %d %s", code, body)
	}
	if code, body := f.do("POST", path, ibAlice, `{"type":"text","text":"مرحبا، أنا أليس"}`, "Idempotency-Key", "r1"); code != 200 || !strings.Contains(body, "duplicate") {
		t.Fatalf("repeated reply: %d %s", code, body)
	}
	if code, _ := f.do("POST", path, ibBob, `{"type":"text","text":"hi"}`); code != 403 {
		t.Fatalf("bob replying to alice's conversation: %d, want 403", code)
	}
	if code, body := f.do("POST", path, ibAlice, `{"type":"text","text":"pick","buttons":["Yes","No"]}`); code != 201 {
		t.Fatalf("quick replies: %d %s", code, body)
	}
	if code, _ := f.do("POST", path, ibAlice, `{"type":"fax"}`); code != 400 {
		t.Fatalf("bad type: %d, want 400", code)
	}
	texts := f.phoneTexts(waID)
	if n := strings.Count(strings.Join(texts, "\n"), "مرحبا، أنا أليس"); n != 1 {
		t.Fatalf("the phone got the reply %d times: %q", n, texts)
	}

	// Transfer to bob, then bob closes with a disposition.
	if code, body := f.do("PUT", "/api/v1/agents/me/presence", ibBob, `{"presence":"online"}`); code != 200 {
		t.Fatalf("bob presence: %d %s", code, body)
	}
	if code, body := f.do("POST", "/api/v1/conversations/"+waID+"/transfer", ibAlice, `{"to":"bob"}`); code != 200 {
		t.Fatalf("transfer: %d %s", code, body)
	}
	if code, _ := f.do("POST", "/api/v1/conversations/"+waID+"/close", ibAlice, `{"disposition":"resolved"}`); code != 403 {
		t.Fatalf("alice closing bob's conversation: %d, want 403", code)
	}
	if code, _ := f.do("POST", "/api/v1/conversations/"+waID+"/close", ibBob, `{}`); code != 400 {
		t.Fatalf("close without disposition: %d, want 400", code)
	}
	if code, body := f.do("POST", "/api/v1/conversations/"+waID+"/close", ibBob, `{"disposition":"resolved"}`); code != 200 {
		t.Fatalf("close: %d %s", code, body)
	}
	_, body = f.do("GET", "/api/v1/conversations/"+waID, ibBob, "")
	var v inbox.View
	_ = json.Unmarshal([]byte(body), &v)
	if v.Status != inbox.StatusClosed || v.Disposition != "resolved" || len(v.Messages) < 4 {
		t.Fatalf("closed conversation: %s", body)
	}
}

func TestInboxAPIWindowClosedAndTemplate(t *testing.T) {
	f := newInboxFixture(t, "")
	const waID = "447700900901"
	// A deflected call whose customer never wrote: only templates may go out.
	s := &store.Session{ID: "s-x", Caller: "+" + waID, Queue: "Billing", Outcome: "deflected", CreatedAt: time.Now()}
	if err := f.st.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"wa_id": waID, "state": "bot", "queue": "Billing", "language": "en", "messages": []any{}})
	if _, err := f.st.PutDoc(t.Context(), "conversations", waID, data, 0, 0); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/conversations/" + waID + "/messages"
	if code, body := f.do("POST", path, ibAdmin, `{"type":"text","text":"hello"}`); code != 409 || !strings.Contains(body, "window") {
		t.Fatalf("text outside the window: %d %s, want 409", code, body)
	}
	if code, body := f.do("POST", path, ibAdmin, `{"type":"template","template":"licence_renewal","params":["L-1","2027-01-31"]}`); code != 201 {
		t.Fatalf("template: %d %s", code, body)
	}
	if got := f.phoneTexts(waID); len(got) != 1 || got[0] != "licence_renewal" {
		t.Fatalf("phone got %q", got)
	}
	// Opted out: no templates.
	if err := f.st.SetOpt(t.Context(), store.OptRecord{E164: "+" + waID, OptOut: true, Source: "api", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if code, body := f.do("POST", path, ibAdmin, `{"type":"template","template":"licence_renewal","params":["L-1","2027-01-31"]}`); code != 403 {
		t.Fatalf("template to an opted-out number: %d %s, want 403", code, body)
	}
}

func TestDeskAPIDeadLettersAndReplay(t *testing.T) {
	var mu sync.Mutex
	down := true
	var delivered []string
	desk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !inbox.VerifySignature("desk-secret", body, r.Header.Get(inbox.HeaderSignature)) {
			t.Errorf("bad signature")
		}
		mu.Lock()
		defer mu.Unlock()
		if down {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		delivered = append(delivered, r.Header.Get(inbox.HeaderEvent))
	}))
	t.Cleanup(desk.Close)
	f := newInboxFixture(t, desk.URL)
	if _, err := f.sb.CustomerText(t.Context(), "447700900902", "hello"); err != nil {
		t.Fatal(err)
	}
	var list struct {
		DeadLetters []inbox.DeadLetter `json:"dead_letters"`
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(list.DeadLetters) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, body := f.do("GET", "/api/v1/desk/dead-letters", ibAdmin, "")
		_ = json.Unmarshal([]byte(body), &list)
	}
	if len(list.DeadLetters) != 2 {
		t.Fatalf("dead letters = %+v, want conversation.created and message.inbound", list.DeadLetters)
	}
	if code, _ := f.do("POST", "/api/v1/desk/dead-letters/"+list.DeadLetters[0].ID+"/replay", ibAdmin, ""); code != 502 {
		t.Fatalf("replay while the desk is down: %d, want 502", code)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	for _, dl := range list.DeadLetters {
		if code, body := f.do("POST", "/api/v1/desk/dead-letters/"+dl.ID+"/replay", ibAdmin, ""); code != 200 {
			t.Fatalf("replay: %d %s", code, body)
		}
	}
	if code, _ := f.do("POST", "/api/v1/desk/dead-letters/"+list.DeadLetters[0].ID+"/replay", ibAdmin, ""); code != 404 {
		t.Fatalf("replaying a replayed letter: %d, want 404", code)
	}
	mu.Lock()
	got := strings.Join(delivered, ",")
	mu.Unlock()
	if got != inbox.EventConversationCreated+","+inbox.EventMessageInbound && got != inbox.EventMessageInbound+","+inbox.EventConversationCreated {
		t.Fatalf("delivered after replay: %s", got)
	}
}

func TestNotificationsAPI(t *testing.T) {
	f := newInboxFixture(t, "")
	if err := f.st.SetOpt(t.Context(), store.OptRecord{E164: "+447911123412", OptOut: true, Source: "keyword", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	batch := `{"template":"licence_renewal","rows":[
		{"phone":"+447911123411","language":"en","params":["L-1","2027-01-31"]},
		{"phone":"not a number","params":["L-2","2027-01-31"]},
		{"phone":"+447911123412","language":"en","params":["L-3","2027-01-31"]},
		{"phone":"0501234567","language":"ar","params":["L-4","2027-01-31"],"key":"row-4"},
		{"phone":"+447911123413","params":["L-5","2027-01-31"],"send_at":"2099-01-01T08:00:00Z"}]}`
	code, body := f.do("POST", "/api/v1/notifications", ibAdmin, batch)
	if code != 200 {
		t.Fatalf("notifications: %d %s", code, body)
	}
	var sum struct {
		Total    int            `json:"total"`
		Counts   map[string]int `json:"counts"`
		Problems []struct {
			Index  int    `json:"index"`
			Phone  string `json:"phone"`
			Reason string `json:"reason"`
		} `json:"problems"`
	}
	_ = json.Unmarshal([]byte(body), &sum)
	if sum.Total != 5 || sum.Counts["sent"] != 2 || sum.Counts["scheduled"] != 1 || sum.Counts["invalid"] != 1 || sum.Counts["opted-out"] != 1 {
		t.Fatalf("summary: %s", body)
	}
	problems := map[int]string{}
	for _, p := range sum.Problems {
		problems[p.Index] = p.Reason
		if strings.Contains(p.Phone, "123412") {
			t.Fatalf("problem phone not masked: %q", p.Phone)
		}
	}
	if !strings.Contains(problems[1], "invalid") || !strings.Contains(problems[2], "opted") || len(problems) != 2 {
		t.Fatalf("problems by index: %v", problems)
	}
	if got := f.phoneTexts("966501234567"); len(got) != 1 || got[0] != "licence_renewal" {
		t.Fatalf("national number normalised with the default region: phone got %q", got)
	}
	// The same batch again sends nothing.
	_, body = f.do("POST", "/api/v1/notifications", ibAdmin, batch)
	sum.Counts = nil
	_ = json.Unmarshal([]byte(body), &sum)
	if sum.Counts["sent"] != 0 || sum.Counts["duplicate"] != 3 {
		t.Fatalf("second run: %s", body)
	}
	if n := len(f.sb.Sent("447911123411")); n != 1 {
		t.Fatalf("first row sent %d times", n)
	}
}

func TestConsoleServedWithSecurityHeaders(t *testing.T) {
	f := newInboxFixture(t, "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		path, ctype string
		code        int
	}{
		{"/console/", "text/html", 200},
		{"/console/console.js", "text/javascript", 200},
		{"/console/console.css", "text/css", 200},
		{"/console", "", 301},
		{"/console/../api/v1/agents", "", 404},
		{"/console/missing.js", "text/plain", 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := client.Get(f.srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Fatalf("%s: %d %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Fatalf("%s: security headers %v", tc.path, h)
			}
			if tc.path == "/console/" && (strings.Contains(string(body), "<script>") || strings.Contains(string(body), "style=")) {
				t.Fatal("the page has inline script or style, which the CSP blocks")
			}
		})
	}
}

func TestInboxEventsStream(t *testing.T) {
	f := newInboxFixture(t, "")
	// Served as serve does, with a write timeout: the stream must outlive it.
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/inbox/events", nil)
	req.Header.Set("Authorization", "Bearer "+ibAlice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	r := bufio.NewReader(resp.Body)
	readEvent := func() (string, string) {
		var name, data string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && name != "":
				return name, data
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(line[6:])
			case strings.HasPrefix(line, "data:"):
				data = strings.TrimSpace(line[5:])
			}
		}
	}
	if name, _ := readEvent(); name != "ready" {
		t.Fatalf("first event %q, want ready", name)
	}
	go func() {
		time.Sleep(500 * time.Millisecond) // past the write timeout
		_ = f.in.SetPresence(context.Background(), "bob", inbox.PresenceAway)
	}()
	name, data := readEvent()
	var u inbox.Update
	_ = json.Unmarshal([]byte(data), &u)
	if name != "update" || u.Type != inbox.UpdateAgent || u.Agent != "bob" {
		t.Fatalf("event %s %s, want bob's presence update", name, data)
	}
}

// Every inbox endpoint is documented in the embedded OpenAPI file.
func TestOpenAPIDocumentsInboxEndpoints(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"/console": {"get"}, "/api/v1/agents": {"get"}, "/api/v1/agents/me": {"get"}, "/api/v1/agents/me/presence": {"put"},
		"/api/v1/inbox/templates": {"get"}, "/api/v1/inbox/events": {"get"},
		"/api/v1/conversations": {"get"}, "/api/v1/conversations/{id}": {"get"},
		"/api/v1/conversations/{id}/messages": {"post"}, "/api/v1/conversations/{id}/claim": {"post"},
		"/api/v1/conversations/{id}/transfer": {"post"}, "/api/v1/conversations/{id}/close": {"post"},
		"/api/v1/desk/dead-letters": {"get"}, "/api/v1/desk/dead-letters/{id}/replay": {"post"},
		"/api/v1/notifications": {"post"},
	}
	for p, methods := range want {
		for _, m := range methods {
			if _, ok := doc.Paths[p][m]; !ok {
				t.Errorf("%s %s is not documented", strings.ToUpper(m), p)
			}
		}
	}
}

var _ = fmt.Sprint

// TestInboxAPITakeover: GET /conversations lists a bot conversation under "bot"; POST
// /takeover gives it to the agent; a second agent gets 409.
func TestInboxAPITakeover(t *testing.T) {
	f := newInboxFixture(t, "")
	const waID = "966501239501"
	f.deflectedCustomer(waID, "en", "hello")
	var lists inbox.Lists
	_, body := f.do("GET", "/api/v1/conversations", ibBob, "")
	if err := json.Unmarshal([]byte(body), &lists); err != nil || len(lists.Bot) != 1 || lists.Bot[0].ID != waID {
		t.Fatalf("bot list: %s", body)
	}
	tests := []struct {
		name, token, id string
		want            int
	}{
		{"alice takes it over", ibAlice, waID, 200},
		{"bob is too late", ibBob, waID, 409},
		{"unknown conversation", ibBob, "447700900999", 404},
	}
	for _, tc := range tests {
		if code, body := f.do("POST", "/api/v1/conversations/"+tc.id+"/takeover", tc.token, ""); code != tc.want {
			t.Fatalf("%s: %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	_, body = f.do("GET", "/api/v1/conversations", ibAlice, "")
	lists = inbox.Lists{}
	if err := json.Unmarshal([]byte(body), &lists); err != nil || len(lists.Bot) != 0 || len(lists.Mine) != 1 {
		t.Fatalf("after takeover: %s", body)
	}
}
