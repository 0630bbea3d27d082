package e2e

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var metricName = regexp.MustCompile(`\b((?:deflectd|process|go)_[a-z0-9_]+)\b`)

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboardExprs parses deploy/grafana/deflectd.json and returns every query, checking the
// structure Grafana needs on the way (unique ids, positions, a query on every graph).
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../grafana/deflectd.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string         `json:"title"`
		UID    string         `json:"uid"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("parse dashboard: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels")
	}
	ids := map[int]bool{}
	var exprs []string
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: bad gridPos", p.Title)
			}
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" {
					t.Errorf("panel %q: empty query or refId", p.Title)
				}
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return exprs
}

// TestGrafanaDashboardMetricsExist catches dashboard rot: every metric the dashboard queries is
// exposed by a running gateway's /metrics once it has done the things the panels watch —
// deflected and declined calls, a rate-limited send, a flood dropped before parsing.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	exprs := dashboardExprs(t)
	g := startGateway(t, "grafana",
		// Three offers at once fit the send budget (offers are admitted at this rate, with a
		// burst of one second's worth); the limiter's series exist from the start.
		"DEFLECTD_WHATSAPP_THROUGHPUT=3",
		// Callers share 127.0.0.1 (3 calls ≈ 10 requests): the limit only bites the flood.
		"DEFLECTD_SIP_PIKE_ENABLED=true", "DEFLECTD_SIP_PIKE_REQUESTS=30", "DEFLECTD_SIP_PIKE_WINDOW=2s", "DEFLECTD_SIP_PIKE_BAN=60s",
	)
	// Fresh, before any call: a panel or alert must have its series from the start (at zero).
	if missing := missingMetrics(exprs, g.metrics()); len(missing) > 0 {
		t.Errorf("a freshly started gateway does not expose what the dashboard queries:\n%s", strings.Join(missing, "\n"))
	}
	var wg sync.WaitGroup
	for i, press := range []string{"1", "1", "2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := callOpts("sip:queue@"+g.UDP, caller(400+i))
			o.Press = press
			if rep := call(t, o); !rep.Completed() {
				t.Errorf("call %d did not complete: final %d result %q", i, rep.FinalStatus, rep.Result)
			}
		}()
	}
	flood := newProbe(t, "127.0.0.5", g.UDP)
	for range 60 {
		flood.send("OPTIONS", "flooder")
	}
	wg.Wait()

	var ms map[string]float64
	exposed := map[string]bool{}
	deadline := time.Now().Add(5 * time.Second) // statuses and webhooks trail the calls
	for {
		ms = g.metrics()
		for series := range ms {
			name, _, _ := strings.Cut(series, "{")
			exposed[name] = true
		}
		if exposed["deflectd_deflect_statuses_total"] || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if missing := missingMetrics(exprs, ms); len(missing) > 0 {
		t.Errorf("the dashboard queries metrics the gateway does not expose:\n%s", strings.Join(missing, "\n"))
	}
	t.Logf("dashboard: %d queries", len(exprs))
}

// missingMetrics lists the metric names the queries use that the series do not have.
func missingMetrics(exprs []string, series map[string]float64) []string {
	exposed := map[string]bool{}
	for s := range series {
		name, _, _ := strings.Cut(s, "{")
		exposed[name] = true
	}
	var missing []string
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			if !seen[m] && !exposed[m] {
				missing = append(missing, m)
			}
			seen[m] = true
		}
	}
	sort.Strings(missing)
	return missing
}
