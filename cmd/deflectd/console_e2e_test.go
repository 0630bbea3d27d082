package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr"
)

// chromium starts a headless Chromium at a laptop's 1366×768.
func chromium(t *testing.T) context.Context {
	t.Helper()
	exe := testkit.RequireTool(t, "/usr/bin/chromium", "chromium", "chromium-browser")
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 768))
	t.Cleanup(cancelAlloc)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// screenshotDir is where the walkthrough's screenshots go: $SCREENSHOTS_DIR (the docs script
// sets it to docs/screenshots), else a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("SCREENSHOTS_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// shoot saves the viewport (full: the whole page) as dir/name, a PNG.
func shoot(t *testing.T, ctx context.Context, dir, name string, full bool) {
	t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100) // quality 100 is PNG
	}
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// customerPhoto is a small real PNG the sandbox customer sends.
func customerPhoto(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 90))
	for y := range 90 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{R: uint8(40 + x), G: uint8(90 + y), B: 160, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandboxCustomer acts as the customer's phone through the sandbox's HTTP control API, as the
// README's quickstart does.
func (g *testGateway) sandboxCustomer(waID, kind, body string) {
	g.t.Helper()
	resp, err := http.Post(g.base+"/sandbox/graph/_sandbox/customers/"+waID+"/"+kind, "application/json", strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		g.t.Fatalf("sandbox customer %s: %d", kind, resp.StatusCode)
	}
}

// TestFirstRunConsoleInChromium is the README's first run, in a real browser: the embedded
// default, a deflected call, the customer writes; the logged demo agent link opens a console
// where the customer is "with the bot"; the agent takes over (the bot goes quiet), replies and
// sees it read, and sees the customer's photo; the supervisor link opens the supervisor view.
// With SCREENSHOTS_DIR set it saves the screenshots the README shows.
func TestFirstRunConsoleInChromium(t *testing.T) {
	bctx := chromium(t)
	var logs syncBuffer
	g := startGatewayLogging(t, nil, &logs)
	links := waitDemoLinks(t, &logs)
	dir := screenshotDir(t)
	const caller, waID = "+966501234567", "966501234567"

	if rep := g.call(caller, ivr.CallOptions{Press: "1"}); rep.Result != "deflected" {
		t.Fatalf("call result %q", rep.Result)
	}
	g.sandboxCustomer(waID, "text", `{"body":"Hi, I'm calling about my licence renewal","name":"Noura"}`)

	ctx, cancel := context.WithTimeout(bctx, 60*time.Second)
	defer cancel()
	entry := chromedp.CSS(`#bot button[data-id="` + waID + `"]`)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(links["agent"]),
		chromedp.WaitVisible(entry),
		chromedp.Click(entry),
		chromedp.WaitVisible(chromedp.ID("takeover")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[contains(@class,"out")]`)), // the bot's answer
	); err != nil {
		t.Fatalf("agent link → the customer with the bot: %v", err)
	}
	shoot(t, ctx, dir, "console-with-the-bot.png", false)

	botAnswers := len(strings.Split(g.getNoAuth("/sandbox/graph/_sandbox/messages?to="+waID), `"id":"wamid.`))
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("takeover")),
		chromedp.WaitVisible(chromedp.CSS(`#mine button[data-id="`+waID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("reply-text")),
		chromedp.SendKeys(chromedp.ID("reply-text"), "Hello Noura, I can see your call. Let me check the renewal."),
		chromedp.Click(chromedp.CSS("#reply button[type=submit]")),
		chromedp.WaitVisible(chromedp.Search(`//ol[@id="messages"]/li[@data-status="read"][p[contains(., "Let me check the renewal")]]`)),
	); err != nil {
		t.Fatalf("take over and reply: %v", err)
	}
	photo := base64.StdEncoding.EncodeToString(customerPhoto(t))
	g.sandboxCustomer(waID, "image", `{"mime_type":"image/png","data":"`+photo+`","caption":"Here is my licence card"}`)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS(`#messages img.media[src^="blob:"]`)),
	); err != nil {
		t.Fatalf("the customer's photo: %v", err)
	}
	// The bot stayed quiet after the takeover: the only new message is the agent's reply.
	if n := len(strings.Split(g.getNoAuth("/sandbox/graph/_sandbox/messages?to="+waID), `"id":"wamid.`)); n != botAnswers+1 {
		t.Errorf("the phone got %d messages after the takeover, want 1 (the agent's)", n-botAnswers)
	}
	shoot(t, ctx, dir, "console-conversation.png", false)

	if err := chromedp.Do(ctx,
		chromedp.Navigate(links["supervisor"]),
		chromedp.WaitVisible(chromedp.CSS(`#funnel g.step[data-step="offered"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#agents tr[data-agent="demo-agent"]`)),
	); err != nil {
		t.Fatalf("supervisor link: %v", err)
	}
	// The funnel counts the one call this test made, from offer to the customer's reply.
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("#funnel g.step")].map(g => [g.dataset.step, g.dataset.count]))`))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"offered", "accepted", "sent", "delivered", "read", "replied"} {
		if counts[step] != "1" {
			t.Errorf("supervisor funnel %s = %q, want 1 (all: %v)", step, counts[step], counts)
		}
	}
	shoot(t, ctx, dir, "supervisor.png", true)
}

// getNoAuth GETs a path without a token (the sandbox's control API).
func (g *testGateway) getNoAuth(path string) string {
	g.t.Helper()
	resp, err := http.Get(g.base + path)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return b.String()
}
