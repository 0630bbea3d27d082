package deflect

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/deflectd/deflectd/configs"
)

// Experiment assigns callers to the variants of the offer experiment (deflect.experiments).
type Experiment struct {
	name     string
	variants []configs.VariantConfig
	total    uint64
}

// NewExperiment returns the experiment of cfg, nil when none is configured.
func NewExperiment(cfg configs.DeflectConfig) *Experiment {
	if len(cfg.Experiments) == 0 {
		return nil
	}
	e := &Experiment{name: cfg.ExperimentName, variants: cfg.Experiments}
	for _, v := range cfg.Experiments {
		e.total += uint64(max(v.Weight, 0))
	}
	if e.total == 0 {
		return nil
	}
	return e
}

// Assign picks e164's variant: a hash of the experiment's name and the number, so the same
// caller always gets the same variant (calling back, on any instance) and a new experiment name
// reshuffles everyone. ok is false without an experiment or a number.
func (e *Experiment) Assign(e164 string) (v configs.VariantConfig, ok bool) {
	if e == nil || e164 == "" {
		return configs.VariantConfig{}, false
	}
	h := sha256.Sum256([]byte(e.name + "|" + e164))
	point := binary.BigEndian.Uint64(h[:8]) % e.total
	for _, x := range e.variants {
		w := uint64(max(x.Weight, 0))
		if point < w {
			return x, true
		}
		point -= w
	}
	return e.variants[len(e.variants)-1], true
}

// Variant returns the configured variant called name.
func (e *Experiment) Variant(name string) (configs.VariantConfig, bool) {
	if e == nil || name == "" {
		return configs.VariantConfig{}, false
	}
	for _, x := range e.variants {
		if x.Name == name {
			return x, true
		}
	}
	return configs.VariantConfig{}, false
}

// Names are the variants in their configured order (the first is the control).
func (e *Experiment) Names() []string {
	if e == nil {
		return nil
	}
	out := make([]string, len(e.variants))
	for i, x := range e.variants {
		out[i] = x.Name
	}
	return out
}
