package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/stats"
)

// countFunnel records statistics as the engine and inbox do, through the real recorder and
// store, for today: billing 25 offered … 8 resolved, licensing 15 … 4.
func countFunnel(t *testing.T, f *inboxFixture) {
	t.Helper()
	rec := stats.NewRecorder(f.st, 0, nil)
	for queue, c := range map[string][]int64{"billing": {25, 20, 19, 18, 16, 12, 6, 2, 3}, "licensing": {15, 11, 11, 10, 9, 6, 3, 1, 1}} {
		d := stats.Dims{Queue: queue, Language: "en"}
		for i, m := range []string{stats.Offered, stats.Accepted, stats.Sent, stats.Delivered, stats.Read, stats.Replied, stats.HandedOff, stats.ResolvedByAgent, stats.Returned} {
			rec.Count(t.Context(), d, m, c[i])
		}
	}
	// Four billing callers deflected (300 s estimated wait each: 20 minutes saved), one of them
	// called back within 72 h (25 %).
	d := stats.Dims{Queue: "billing", Language: "en"}
	for i := range 4 {
		rec.Deflect(t.Context(), fmt.Sprintf("sup-%d", i), fmt.Sprintf("+96650123990%d", i), d, 300)
	}
	rec.Called(t.Context(), "+966501239900")
}

// TestSupervisorViewInChromium: the supervisor view draws the funnel, containment, per-queue
// and day-by-day charts from the funnel JSON, lists the online agents with their load and the
// waiting conversation with its age; an agent token is refused.
func TestSupervisorViewInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	countFunnel(t, f)
	base := f.srv.URL
	const waID = "966501239901"
	f.deflectedCustomer(waID, "en", "agent") // waiting
	if err := f.in.SetPresence(t.Context(), "bob", inbox.PresenceAway); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/supervisor"),
		chromedp.SendKeys(chromedp.ID("token"), ibAlice+"\r"),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="signin-error"][contains(., "supervisors")]`)),
	); err != nil {
		t.Fatalf("agent token on the supervisor view: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("token"), ibAdmin),
		chromedp.Click(chromedp.CSS("#signin button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#funnel g.step[data-step="resolved"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#groups g.group[data-key="licensing"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#days g.day[data-date="`+time.Now().UTC().Format(time.DateOnly)+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#outcomes g.outcome-day[data-minutes="20"][data-repeat-rate="0.25"]`)),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="outcomes-summary"][contains(., "20 minutes of queue time saved by 4 deflected callers; 1 called back within 72 h (25%)")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#agents tr[data-agent="bob"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#waiting tr[data-id="`+waID+`"]`)),
	); err != nil {
		t.Fatalf("supervisor view: %v", err)
	}
	counts, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll("#funnel g.step")].map(g => [g.dataset.step, g.dataset.count]))`))
	if err != nil {
		t.Fatal(err)
	}
	// resolved = by the bot (replied, never handed off: 18 − 9 = 9) + by agents (3)
	want := map[string]string{"offered": "40", "accepted": "31", "sent": "30", "delivered": "28", "read": "25", "replied": "18", "resolved": "12"}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("funnel %s = %q, want %s (all: %v)", k, counts[k], v, counts)
		}
	}
	widths, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](
		`[...document.querySelectorAll("#funnel g.step rect")].map(r => r.getBBox().width)`))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(widths); i++ {
		if widths[i] > widths[i-1] || widths[i] <= 0 {
			t.Fatalf("funnel bars are not drawn to scale: %v", widths)
		}
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("containment")))
	if err != nil {
		t.Fatal(err)
	}
	if text != "75%" { // 9 of 12 resolved by the bot
		t.Errorf("containment %q, want 75%%", text)
	}
	row, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#waiting tr[data-id="`+waID+`"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, "Licensing") || !strings.Contains(row, " s") {
		t.Errorf("waiting row %q lacks the queue or the age", row)
	}
}

// TestSupervisorViewWithoutStatsInChromium: a server without statistics (503) shows zeros and
// says why.
func TestSupervisorViewWithoutStatsInChromium(t *testing.T) {
	bctx := browser(t)
	f := newInboxFixture(t, "")
	srv := httptest.NewServer(api.NewWithInbox(api.Options{API: f.cfg.API, Store: f.st}, api.InboxOptions{Inbox: f.in}))
	t.Cleanup(srv.Close)
	base := srv.URL
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	defer screenshotOnFailure(t, bctx)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/supervisor"),
		chromedp.SendKeys(chromedp.ID("token"), ibAdmin+"\r"),
		chromedp.WaitVisible(chromedp.Search(`//p[@id="funnel-note"][contains(., "does not report funnel statistics")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#funnel g.step[data-step="offered"][data-count="0"]`)),
	); err != nil {
		t.Fatalf("zero state: %v", err)
	}
}
