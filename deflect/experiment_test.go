package deflect

import (
	"fmt"
	"testing"

	"github.com/deflectd/deflectd/configs"
)

func TestExperimentAssign(t *testing.T) {
	t.Parallel()
	cfg := configs.Default().Deflect
	cfg.ExperimentName = "wording-dec"
	cfg.Experiments = []configs.VariantConfig{{Name: "control", Weight: 1}, {Name: "short", Weight: 3, Template: "call_deflection_v2"}}
	e := NewExperiment(cfg)
	counts := map[string]int{}
	for i := range 4000 {
		n := fmt.Sprintf("+96650%07d", i)
		v, ok := e.Assign(n)
		if !ok {
			t.Fatalf("%s not assigned", n)
		}
		if again, _ := e.Assign(n); again.Name != v.Name {
			t.Fatalf("%s assigned %s then %s: not sticky", n, v.Name, again.Name)
		}
		counts[v.Name]++
	}
	// Weights 1:3 over 4000 numbers: a quarter is control (± 3 %; a hash, not a sample).
	if share := float64(counts["control"]) / 4000; share < 0.22 || share > 0.28 {
		t.Errorf("control share %.3f of %v, want about 0.25", share, counts)
	}
	// Another experiment name reshuffles.
	cfg.ExperimentName = "wording-jan"
	other, moved := NewExperiment(cfg), 0
	for i := range 400 {
		n := fmt.Sprintf("+96650%07d", i)
		a, _ := e.Assign(n)
		b, _ := other.Assign(n)
		if a.Name != b.Name {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("a new experiment name kept every assignment")
	}
	if v, ok := e.Variant("short"); !ok || v.Template != "call_deflection_v2" {
		t.Errorf("Variant(short) = %+v, %v", v, ok)
	}
	if got := e.Names(); len(got) != 2 || got[0] != "control" {
		t.Errorf("Names = %v", got)
	}
	var none *Experiment
	if _, ok := none.Assign("+966501234567"); ok || NewExperiment(configs.Default().Deflect) != nil {
		t.Errorf("no experiment configured must assign nothing")
	}
}
