package main

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/deflect/store/redistest"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2EStatsFunnelAndOutcomes: the funnel and the outcome report count exactly the calls the
// test makes: two deflected (one replies, one is read), one declined, one ineligible landline,
// and a deflected caller calling back (a repeat, though cooldown makes them ineligible).
func TestE2EStatsFunnelAndOutcomes(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	const a, b, c, landline = "+966501230101", "+966501230102", "+966501230103", "+966112345678"
	wantResult(t, g.call(a, ivr.CallOptions{Press: "1"}), "deflected")
	wantResult(t, g.call(b, ivr.CallOptions{Press: "1"}), "deflected")
	wantResult(t, g.call(c, ivr.CallOptions{Press: "2"}), "declined")
	if rep := g.call(landline, ivr.CallOptions{}); !strings.HasPrefix(rep.Result, "ineligible") {
		t.Fatalf("landline: %q", rep.Result)
	}
	// a replies on WhatsApp.
	res, err := http.Post(g.base+"/sandbox/graph/_sandbox/customers/966501230101/text", "application/json", strings.NewReader(`{"body":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// b calls again: ineligible (cooldown), and counted as a repeat of its deflection.
	if rep := g.call(b, ivr.CallOptions{}); rep.Result != "ineligible;reason=cooldown" {
		t.Fatalf("repeat call: %q", rep.Result)
	}

	var f stats.Funnel
	want := stats.FunnelCounts{Offered: 3, Accepted: 2, Sent: 2, Delivered: 2, Read: 2, Replied: 1, Resolved: 1, ResolvedByBot: 1, Returned: 1}
	deadline := time.Now().Add(5 * time.Second) // statuses and the reply trail the calls
	for {
		code, body := g.get("/api/v1/stats/funnel?group_by=queue")
		if code != 200 {
			t.Fatalf("funnel: %d %s", code, body)
		}
		f = stats.Funnel{}
		if err := json.Unmarshal([]byte(body), &f); err != nil {
			t.Fatal(err)
		}
		if f.Totals == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if f.Totals != want {
		t.Errorf("funnel totals\n got %+v\nwant %+v", f.Totals, want)
	}
	if len(f.Groups) != 1 || f.Groups[0].Key != "billing" || f.Groups[0].Counts != want {
		t.Errorf("funnel by queue: %+v", f.Groups)
	}
	if len(f.Days) != 1 || f.Days[0].Date != time.Now().UTC().Format(time.DateOnly) {
		t.Errorf("funnel days: %+v", f.Days)
	}

	code, body := g.get("/api/v1/stats/outcomes?group_by=day")
	var o stats.Outcomes
	if err := json.Unmarshal([]byte(body), &o); code != 200 || err != nil {
		t.Fatalf("outcomes: %d %s", code, body)
	}
	// 2 ineligible: the landline and the repeat; time saved: 2 × X-Wait-Estimate 300 s.
	if o.Totals.Deflected != 2 || o.Totals.Ineligible != 2 || o.Totals.Repeat24h != 1 || o.Totals.Repeat72h != 1 || o.Totals.TimeSavedMinutes != 10 {
		t.Errorf("outcomes totals %+v", o.Totals)
	}
	if o.Totals.Declined != 1 || o.Totals.WaitSavedSeconds != 600 || len(o.Totals.ReturnedByReason) != 1 || o.Totals.ReturnedByReason["declined"] != 1 {
		t.Errorf("outcomes: declined %d, wait saved %d s, returned by reason %v; want 1, 600, declined 1",
			o.Totals.Declined, o.Totals.WaitSavedSeconds, o.Totals.ReturnedByReason)
	}
	if o.Totals.Billable["utility"] != 2 {
		t.Errorf("billable %v, want 2 utility messages from the sandbox's pricing", o.Totals.Billable)
	}
	if got := g.counter("deflectd_whatsapp_billable_messages_total", map[string]string{"category": "utility"}); got != 2 {
		t.Errorf("billable_messages_total{utility} = %v, want 2 (once per message, though sent and delivered both carry pricing)", got)
	}

	for path, wantCode := range map[string]int{
		"/api/v1/stats/funnel?group_by=variant":                400, // the funnel groups by queue or language
		"/api/v1/stats/outcomes?from=yesterday":                400,
		"/api/v1/stats/outcomes?from=2026-12-05&to=2026-12-01": 400,
		"/api/v1/stats/outcomes?from=2020-01-01&to=2026-01-01": 400,
	} {
		if code, body := g.get(path); code != wantCode {
			t.Errorf("GET %s = %d %s, want %d", path, code, body, wantCode)
		}
	}
}

// TestStatsCommand: `deflectd stats` prints the report from a Redis store shared with a gateway,
// or through a gateway's API, as a table or CSV; with the memory store alone it says how.
func TestStatsCommand(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	g := startGateway(t, func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = url
		c.Store.Redis.KeyPrefix = prefix
	})
	wantResult(t, g.call("+966501230201", ivr.CallOptions{Press: "1"}), "deflected")
	wantResult(t, g.call("+966501230202", ivr.CallOptions{Press: "2"}), "declined")
	g.session("+966501230202") // Finish has run

	redisEnv := testEnv("DEFLECTD_STORE_BACKEND=redis", "DEFLECTD_STORE_REDIS_URL="+url, "DEFLECTD_STORE_REDIS_KEY_PREFIX="+prefix)
	stdout, stderr, code := runCLI(t, redisEnv, "stats", "--group-by", "queue", "--csv")
	if code != 0 {
		t.Fatalf("stats --csv: exit %d\n%s%s", code, stdout, stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(stdout)).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "queue" || rows[1][0] != "billing" || rows[2][0] != "total" {
		t.Fatalf("csv rows %v (%v)", rows, err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if rows[1][col["offered"]] != "2" || rows[1][col["deflected"]] != "1" || rows[1][col["returned"]] != "1" || rows[1][col["minutes_saved"]] != "5.0" ||
		rows[1][col["declined"]] != "1" || rows[1][col["wait_saved_seconds"]] != "300" {
		t.Errorf("billing row %v", rows[1])
	}

	stdout, stderr, code = runCLI(t, testEnv("DEFLECTD_API_TOKEN="+e2eToken), "stats", "--gateway", g.base, "--group-by", "queue")
	if code != 0 || !strings.Contains(stdout, "billing") || !strings.Contains(stdout, "offered") {
		t.Errorf("stats --gateway: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, stderr, code := runCLI(t, testEnv(), "stats"); code != 2 || !strings.Contains(stderr, "--gateway") {
		t.Errorf("stats on the memory store: exit %d, %s", code, stderr)
	}
	if _, _, code := runCLI(t, redisEnv, "stats", "--group-by", "colour"); code != 2 {
		t.Errorf("bad --group-by: exit %d, want 2", code)
	}
}

// TestE2EEvictionsSeries: the embedded store's eviction counter exists from the start, per kind.
func TestE2EEvictionsSeries(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	for _, kind := range []string{"session", "once", "presence", "document", "offers", "stream_entry"} {
		if got := g.counter("deflectd_store_evictions_total", map[string]string{"kind": kind}); got != 0 {
			t.Errorf("evictions_total{kind=%s} = %v, want 0 on a fresh gateway", kind, got)
		}
	}
	if code, body := g.get("/metrics"); code != 200 || !strings.Contains(body, `deflectd_store_evictions_total{kind="session"} 0`) {
		t.Errorf("/metrics lacks the session evictions series")
	}
}

// TestE2EStatsSharedByTwoInstances: two gateways on one Redis count into the same daily counters,
// so each reports the other's calls too; a caller deflected by one and calling the other counts
// as a repeat.
func TestE2EStatsSharedByTwoInstances(t *testing.T) {
	t.Parallel()
	url, prefix := redistest.Start(t), redistest.Prefix(t)
	onRedis := func(c *configs.Config) {
		c.Store.Backend = "redis"
		c.Store.Redis.URL = url
		c.Store.Redis.KeyPrefix = prefix
	}
	g1, g2 := startGateway(t, onRedis), startGateway(t, onRedis)
	const a, b = "+966501230301", "+966501230302"
	wantResult(t, g1.call(a, ivr.CallOptions{Press: "1"}), "deflected")
	wantResult(t, g2.call(b, ivr.CallOptions{Press: "2"}), "declined")
	if rep := g2.call(a, ivr.CallOptions{}); rep.Result != "ineligible;reason=cooldown" {
		t.Fatalf("a calling the other instance: %q", rep.Result)
	}

	want := stats.FunnelCounts{Offered: 2, Accepted: 1, Sent: 1, Delivered: 1, Read: 1, Returned: 1}
	funnel := func(g *testGateway) stats.FunnelCounts {
		var f stats.Funnel
		deadline := time.Now().Add(5 * time.Second) // statuses trail the calls
		for {
			code, body := g.get("/api/v1/stats/funnel?group_by=language")
			f = stats.Funnel{}
			if code != 200 || json.Unmarshal([]byte(body), &f) != nil {
				t.Fatalf("funnel: %d %s", code, body)
			}
			if f.Totals == want || time.Now().After(deadline) {
				return f.Totals
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if got1, got2 := funnel(g1), funnel(g2); got1 != want || got2 != want {
		t.Errorf("funnel totals\ninstance 1 %+v\ninstance 2 %+v\n      want %+v", got1, got2, want)
	}
	for i, g := range []*testGateway{g1, g2} {
		code, body := g.get("/api/v1/stats/outcomes?group_by=queue")
		var o stats.Outcomes
		if err := json.Unmarshal([]byte(body), &o); code != 200 || err != nil {
			t.Fatalf("outcomes: %d %s", code, body)
		}
		if o.Totals.Deflected != 1 || o.Totals.Repeat24h != 1 || o.Totals.Repeat72h != 1 || o.Totals.TimeSavedMinutes != 5 {
			t.Errorf("instance %d outcomes totals %+v", i+1, o.Totals)
		}
	}
}
