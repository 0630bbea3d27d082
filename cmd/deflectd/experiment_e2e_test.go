package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/ivr"
)

// TestE2EExperiment: three variants of the offer; each caller gets theirs (sticky, on the
// session and in the conversation), "short" sends its own template and plays the offer twice to
// a silent caller, "strict" asks a longer wait (300 s is too short for it), and the outcome
// report groups by variant with the first as the control.
func TestE2EExperiment(t *testing.T) {
	t.Parallel()
	mutate := func(c *configs.Config) {
		c.Deflect.ExperimentName = "e2e"
		c.Deflect.Experiments = []configs.VariantConfig{
			{Name: "control", Weight: 1},
			{Name: "short", Weight: 1, Template: "call_deflection_v2", OfferRepeats: 2},
			{Name: "strict", Weight: 1, MinWait: 10 * time.Minute},
		}
		c.WhatsApp.Sandbox.Templates = append(c.WhatsApp.Sandbox.Templates,
			configs.TemplateDef{Name: "call_deflection_v2", Languages: []string{"en", "ar"}, BodyParams: 2, Buttons: 2})
	}
	cfg := e2eConfig()
	mutate(&cfg)
	exp := deflect.NewExperiment(cfg.Deflect)
	// Two callers of each variant, found the way the gateway assigns them.
	callers := map[string][]string{}
	for i := 0; len(callers["control"]) < 2 || len(callers["short"]) < 2 || len(callers["strict"]) < 1; i++ {
		n := fmt.Sprintf("+9665012304%02d", i)
		v, _ := exp.Assign(n)
		callers[v.Name] = append(callers[v.Name], n)
	}
	g := startGateway(t, mutate)

	for _, n := range []string{callers["control"][0], callers["short"][0]} {
		wantResult(t, g.call(n, ivr.CallOptions{Press: "1"}), "deflected")
	}
	for variant, want := range map[string]string{"control": "call_deflection", "short": "call_deflection_v2"} {
		n := callers[variant][0]
		sent := g.sandbox.Sent(n)
		if len(sent) != 1 || !strings.Contains(string(sent[0].Body), `"name":"`+want+`"`) {
			t.Errorf("%s caller got %v, want template %s", variant, sent, want)
		}
		if s := g.session(n); s.Variant != variant {
			t.Errorf("session variant %q, want %q", s.Variant, variant)
		}
	}
	// A silent caller of "short" hears the offer twice before going back to the queue.
	if rep := g.call(callers["short"][1], ivr.CallOptions{}); rep.Result != "timeout" {
		t.Errorf("silent short caller: %q", rep.Result)
	}
	if s := g.session(callers["short"][1]); strings.Count(strings.Join(s.IVRPath, ","), "offer") != 2 {
		t.Errorf("short's silent caller path %v, want the offer twice", s.IVRPath)
	}
	if rep := g.call(callers["control"][1], ivr.CallOptions{}); rep.Result != "timeout" {
		t.Errorf("silent control caller: %q", rep.Result)
	}
	if s := g.session(callers["control"][1]); strings.Count(strings.Join(s.IVRPath, ","), "offer") != 1 {
		t.Errorf("control's silent caller path %v, want the offer once", s.IVRPath)
	}
	if rep := g.call(callers["strict"][0], ivr.CallOptions{}); rep.Result != "ineligible;reason=wait-too-short" {
		t.Errorf("strict caller with a 300 s wait: %q, want wait-too-short", rep.Result)
	}

	code, body := g.get("/api/v1/stats/outcomes?group_by=variant")
	var o stats.Outcomes
	if err := json.Unmarshal([]byte(body), &o); code != 200 || err != nil {
		t.Fatalf("outcomes: %d %s", code, body)
	}
	var keys []string
	for _, x := range o.Groups {
		keys = append(keys, x.Key)
	}
	if strings.Join(keys, ",") != "control,short,strict" || o.Groups[0].Tests != nil || o.Groups[1].Tests["accept_rate"].Note == "" {
		t.Errorf("variant groups %v: want control first, untested, the others 'not enough data'", keys)
	}
	if got := g.counter("deflectd_deflect_experiment_total", map[string]string{"variant": "short", "event": "offered"}); got != 2 {
		t.Errorf("experiment_total{short,offered} = %v, want 2", got)
	}
}
