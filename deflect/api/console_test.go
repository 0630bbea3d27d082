package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// chromiumPath finds Debian's chromium; missing means skip, or fail on CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	return testkit.RequireTool(t, "/usr/bin/chromium", "chromium", "chromium-browser")
}

// browser starts a fresh headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768), // a laptop screen
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// screenshotOnFailure saves the page as it was when the test failed.
func screenshotOnFailure(t *testing.T, bctx context.Context) {
	if !t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot failed: %v", err)
		return
	}
	path := filepath.Join(os.TempDir(), t.Name()+"-failure.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("write screenshot: %v", err)
		return
	}
	t.Logf("screenshot of the failure: %s", path)
}

// TestConsoleEndToEndInChromium: a caller deflected from the queue asks for an agent on
// WhatsApp; the agent signs in to the console in a real browser, sees the conversation with
// the call's context, replies in Arabic, the customer's phone gets it, a new customer message
// appears live, and the agent closes the conversation.
func TestConsoleEndToEndInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	const waID = "966501239100"
	f.deflectedCustomer(waID, "ar", "موظف") // "agent" in Arabic: handed off, waiting

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)

	conv := chromedp.CSS(`#mine button[data-id="` + waID + `"]`)
	err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), ibAlice),
		chromedp.Click(chromedp.CSS("#signin button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("app-view")),
		// Signing in sets alice online, which assigns her the waiting conversation.
		chromedp.WaitVisible(conv),
		chromedp.Click(conv),
		chromedp.WaitVisible(chromedp.ID("conv")),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
	)
	if err != nil {
		t.Fatalf("sign in and open the conversation: %v", err)
	}
	contextText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("context")))
	if err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("conv-title")))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#messages li .body"), "dir"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Licensing", "7 min 0 s", "CUST-77", "ar", "offer → 1", "X-Context-Case", "R-2291", "X-Context-Tier", "gold"} {
		if !strings.Contains(contextText, want) {
			t.Errorf("call context %q lacks %q", contextText, want)
		}
	}
	if !dir.Exists || dir.Value != "auto" {
		t.Errorf(`message bodies have dir=%q, want "auto" (Arabic right to left)`, dir.Value)
	}
	if !strings.Contains(title, "assigned, alice") {
		t.Errorf("title %q", title)
	}

	const reply = "أهلاً، كيف أساعدك؟"
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("reply-text"), reply),
		chromedp.Click(chromedp.CSS("#reply button[type=submit]")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(@class,"out")]/p[contains(., "كيف أساعدك")]`)),
	); err != nil {
		t.Fatalf("reply: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(f.phoneTexts(waID), reply) {
		if time.Now().After(deadline) {
			t.Fatalf("the customer's phone did not get the reply; it has %q", f.phoneTexts(waID))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The customer answers: the message appears without a reload (server-sent events).
	if _, err := f.sb.CustomerText(t.Context(), waID, "شكراً جزيلاً"); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(@class,"in")]/p[contains(., "شكراً جزيلاً")]`)),
	); err != nil {
		t.Fatalf("live inbound message: %v", err)
	}

	// Close with a disposition.
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("disposition"), "resolved"),
		chromedp.Click(chromedp.CSS("#close button[type=submit]")),
		chromedp.WaitNotPresent(conv),
		chromedp.WaitVisible(chromedp.ID("empty")),
	); err != nil {
		t.Fatalf("close: %v", err)
	}
	v, err := f.in.Get(t.Context(), waID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != inbox.StatusClosed || v.Disposition != "resolved" {
		t.Fatalf("after closing in the console: status %q disposition %q", v.Status, v.Disposition)
	}
}

// TestConsoleTemplateAndTransferInChromium: outside the 24-hour window the console offers only
// a template; the agent sends one, then transfers the conversation to a colleague. Every form
// control has a label.
func TestConsoleTemplateAndTransferInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	const waID = "966501239200"
	f.deflectedCustomer(waID, "ar", "موظف")
	if err := f.in.SetPresence(t.Context(), "bob", inbox.PresenceOnline); err != nil {
		t.Fatal(err)
	}
	if err := f.in.SetPresence(t.Context(), "bob", inbox.PresenceAway); err != nil { // bob holds it, then steps away
		t.Fatal(err)
	}
	if err := f.in.SetPresence(t.Context(), "alice", inbox.PresenceAway); err != nil { // a transfer target may be away, not offline
		t.Fatal(err)
	}
	// The customer last wrote 25 hours ago.
	doc, err := f.st.GetDoc(t.Context(), inbox.RecordsCollection, waID)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	_ = json.Unmarshal(doc.Data, &rec)
	rec["last_inbound"] = time.Now().Add(-25 * time.Hour).Format(time.RFC3339Nano)
	data, _ := json.Marshal(rec)
	if _, err := f.st.PutDoc(t.Context(), inbox.RecordsCollection, waID, data, doc.Version, 0); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	conv := chromedp.CSS(`#mine button[data-id="` + waID + `"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.SendKeys(chromedp.ID("token"), ibBob+"\r"), // Enter submits the sign-in form
		chromedp.WaitVisible(conv),
		chromedp.Click(conv),
		chromedp.WaitVisible(chromedp.ID("template")),
		chromedp.WaitNotVisible(chromedp.ID("reply")),
	); err != nil {
		t.Fatalf("open the conversation: %v", err)
	}
	unlabelled, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("input, select, textarea")].filter(e => e.labels.length === 0).map(e => e.id)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(unlabelled) > 0 {
		t.Errorf("form controls without a label: %v", unlabelled)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitReady(chromedp.CSS(`#template-name option[value="licence_renewal"]`)),
		chromedp.SetValue(chromedp.ID("template-name"), "licence_renewal"),
		chromedp.SendKeys(chromedp.ID("template-params"), "L-1, 2027-01-31"),
		// The preview shows what the customer will read before it is sent.
		chromedp.WaitVisible(chromedp.Search(`//p[@id="template-preview"][contains(., "رخصتك L-1 تنتهي في 2027-01-31")]`)),
		chromedp.Click(chromedp.CSS("#template button[type=submit]")),
		// Shown as the customer read it: the template's Arabic body with the parameters.
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(@class,"out")]/p[contains(., "رخصتك L-1 تنتهي في 2027-01-31")]`)),
	); err != nil {
		t.Fatalf("send a template: %v", err)
	}
	if got := f.phoneTexts(waID); !slices.Contains(got, "licence_renewal") {
		t.Fatalf("the phone did not get the template: %q", got)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitReady(chromedp.CSS(`#transfer-to option[value="alice"]`)),
		chromedp.SetValue(chromedp.ID("transfer-to"), "alice"),
		chromedp.Click(chromedp.CSS("#transfer button[type=submit]")),
		chromedp.WaitNotPresent(conv),
	); err != nil {
		t.Fatalf("transfer: %v", err)
	}
	v, err := f.in.Get(t.Context(), waID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Agent != "alice" || v.Status != inbox.StatusAssigned {
		t.Fatalf("after the transfer: agent %q status %q", v.Agent, v.Status)
	}
}

// TestConsoleMessageStatesInChromium: the agent's reply shows ✓ sent, then ✓✓ read when the
// sandbox customer reads it; an undeliverable reply shows failed with Meta's code, a plain
// reason and what to do; a reply Meta refuses for the closed window brings up the templates.
func TestConsoleMessageStatesInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixtureStatuses(t, "", 150*time.Millisecond)
	const waID = "966501239300"
	f.deflectedCustomer(waID, "en", "agent")

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	conv := chromedp.CSS(`#mine button[data-id="` + waID + `"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.SendKeys(chromedp.ID("token"), ibAlice+"\r"),
		chromedp.WaitVisible(conv),
		chromedp.Click(conv),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		chromedp.SendKeys(chromedp.ID("reply-text"), "Checking your case now"),
		chromedp.Click(chromedp.CSS("#reply button[type=submit]")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[@data-status="read"][p[contains(., "Checking your case now")]]/span[@class="state" and contains(., "✓✓ Read")]`)),
	); err != nil {
		t.Fatalf("reply turning read: %v", err)
	}

	f.sb.InjectFailures(sandbox.Failure{Code: 131026, Count: 1})
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("reply-text"), "Hello?"),
		chromedp.Click(chromedp.CSS("#reply button[type=submit]")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[@data-status="failed"][p[contains(., "Hello?")]]/span[contains(., "WhatsApp error 131026") and contains(., "not be on WhatsApp")]`)),
	); err != nil {
		t.Fatalf("failed reply with its reason: %v", err)
	}

	f.sb.InjectFailures(sandbox.Failure{Code: 131047, Count: 1})
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("reply-text"), "One more thing"),
		chromedp.Click(chromedp.CSS("#reply button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("template")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[@data-status="failed"][p[contains(., "One more thing")]]/span[contains(., "131047")]`)),
	); err != nil {
		t.Fatalf("window closed by Meta → template picker: %v", err)
	}
}

// tinyPNG is a real 3×2 PNG, so the browser can decode what the media endpoint serves.
func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i := range img.Pix {
		img.Pix[i] = 0xc0
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestConsoleMediaInChromium: a customer's image is shown inline (its bytes came through the
// media endpoint), a location has a map link, a contact card its name and number, and the
// customer's reaction sits on the message it reacts to.
func TestConsoleMediaInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	const waID = "966501239400"
	f.deflectedCustomer(waID, "en", "agent")
	imgID, err := f.sb.CustomerMedia(t.Context(), waID, "image", sandbox.MediaFile{MimeType: "image/png", Data: tinyPNG(t), Caption: "the error"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.CustomerLocation(t.Context(), waID, sandbox.Location{Latitude: 24.7136, Longitude: 46.6753, Name: "Branch"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.CustomerContact(t.Context(), waID, sandbox.Contact{Name: "Sara", Phones: []string{"+966501112233"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sb.CustomerReaction(t.Context(), waID, imgID, "❤️"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	conv := chromedp.CSS(`#mine button[data-id="` + waID + `"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.SendKeys(chromedp.ID("token"), ibAlice+"\r"),
		chromedp.WaitVisible(conv),
		chromedp.Click(conv),
		chromedp.WaitVisible(chromedp.CSS(`#messages img.media[src^="blob:"]`)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]//a[contains(@href, "mlat=24.7136")]`)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]//div[contains(@class,"contact")][contains(., "Sara")][contains(., "+966501112233")]`)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[@data-id="`+imgID+`"]/span[@class="reaction" and .="❤️"]`)),
	); err != nil {
		t.Fatalf("media in the console: %v", err)
	}
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => { const i = document.querySelector("#messages img.media"); await i.decode(); return i.naturalWidth; })()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if width != 3 {
		t.Fatalf("the image decoded %d pixels wide, want 3 (the PNG the customer sent)", width)
	}
}

// TestConsoleComfortInChromium: at 1366×768 the Send button is on screen beside a long
// conversation; canned responses fill the reply; search finds a conversation by part of its
// number; a message in another conversation shows an unread count and a title badge;
// Alt+↓ moves to the next conversation and Ctrl+Enter sends; a supervisor sees no empty
// "other agents" heading.
func TestConsoleComfortInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	const first, second = "966501239701", "966501239702"
	f.deflectedCustomer(first, "en", "agent")
	f.deflectedCustomer(second, "en", "agent")
	for i := range 25 { // a long conversation
		if _, err := f.sb.CustomerText(t.Context(), first, fmt.Sprintf("line %d of a long story", i)); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(bctx, 40*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	conv := func(id string) chromedp.CSS { return chromedp.CSS(`#mine button[data-id="` + id + `"]`) }
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.SendKeys(chromedp.ID("token"), ibAlice+"\r"),
		chromedp.WaitVisible(conv(first)),
		chromedp.WaitVisible(conv(second)),
		chromedp.Click(conv(first)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li/p[contains(., "line 24 of a long story")]`)),
	); err != nil {
		t.Fatalf("open the long conversation: %v", err)
	}
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const r = document.querySelector("#reply button[type=submit]").getBoundingClientRect();
		return innerWidth === 1366 && r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if !fits {
		t.Fatal("the Send button is not fully on screen at 1366×768")
	}

	// Canned response, then Ctrl+Enter sends it.
	if err := chromedp.Do(ctx,
		chromedp.WaitReady(chromedp.CSS(`#canned option[value="Is there anything else I can help with?"]`)),
	); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById("canned");
		s.value = "Is there anything else I can help with?"; return s.dispatchEvent(new Event("change")); })()`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Focus(chromedp.ID("reply-text")),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(@class,"out")]/p[contains(., "anything else I can help with")]`)),
	); err != nil {
		t.Fatalf("canned response sent with Ctrl+Enter: %v", err)
	}

	// The other customer writes: unread count on its entry, badge in the title.
	if _, err := f.sb.CustomerText(t.Context(), second, "are you there?"); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.Search(`//ul[@id="mine"]//button[@data-id="`+second+`"]/span[@class="unread" and normalize-space(.)!=""]`)),
	); err != nil {
		t.Fatalf("unread count: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(title, "(") {
		t.Fatalf("title %q has no unread badge", title)
	}

	// Alt+↓ opens the next conversation, which clears its unread count.
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li/p[contains(., "are you there?")]`)),
		chromedp.WaitReady(chromedp.Search(`//ul[@id="mine"]//button[@data-id="`+second+`" and @aria-current="true"]/span[@class="unread" and .=""]`)),
	); err != nil {
		t.Fatalf("Alt+↓ to the next conversation: %v", err)
	}

	// Search by part of the number.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("search-q"), "239701"),
		chromedp.WaitVisible(chromedp.CSS(`#results button[data-id="`+first+`"]`)),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results li").length`))
	if err != nil || n != 1 {
		t.Fatalf("search results = %d (%v), want 1", n, err)
	}
}

// TestConsoleSupervisorTakesNoChatsInChromium: an admin signing in stays a supervisor (no chats
// assigned), sees no empty "other agents" heading, and takes a chat only by choice.
func TestConsoleSupervisorTakesNoChatsInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	const waID = "966501239801"
	f.deflectedCustomer(waID, "en", "agent") // waiting for an agent

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(f.srv.URL+"/console/"),
		chromedp.SendKeys(chromedp.ID("token"), ibAdmin+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`#waiting button[data-id="`+waID+`"]`)),
		chromedp.WaitNotVisible(chromedp.ID("others-section")),
	); err != nil {
		t.Fatalf("supervisor signs in: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // a wrong auto-assignment would happen now
	if v, err := f.in.Get(t.Context(), waID, nil); err != nil || v.Status != inbox.StatusWaiting {
		t.Fatalf("after the supervisor signed in the conversation is %+v (%v), want still waiting", v.Status, err)
	}
	empty, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("h1, h2, h3")].filter(h => h.offsetParent !== null && h.textContent.trim() === "").map(h => h.id)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(empty) > 0 {
		t.Errorf("empty headings on screen: %v", empty)
	}
}
