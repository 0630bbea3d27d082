package configs

import (
	"testing"
	"time"
)

func TestValidateRuntime(t *testing.T) {
	tests := []struct {
		name string
		gc   int
		want string // substring of the error; "" = valid
	}{
		{"default", Default().Runtime.GCPercent, ""},
		{"go default", 0, ""},
		{"low bound", 10, ""},
		{"too low", 5, "runtime.gc_percent"},
		{"negative (off)", -1, "runtime.gc_percent"},
		{"too high", 5000, "runtime.gc_percent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkValidate(t, func(c *Config) { c.Runtime.GCPercent = tc.gc }, tc.want)
		})
	}
}

func TestValidateQueues(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"none", func(*Config) {}, ""},
		{"skip and min wait", func(c *Config) {
			c.Deflect.Queues = map[string]QueueConfig{"vip": {Skip: true}, "billing": {MinWait: 2 * time.Minute}}
		}, ""},
		{"negative min wait", func(c *Config) { c.Deflect.Queues = map[string]QueueConfig{"billing": {MinWait: -time.Second}} }, "deflect.queues.billing.min_wait"},
		{"empty name", func(c *Config) { c.Deflect.Queues = map[string]QueueConfig{" ": {}} }, "deflect.queues"},
		{"other queues", func(c *Config) { c.Deflect.OtherQueues = "maybe" }, "deflect.other_queues"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkValidate(t, tc.mod, tc.want) })
	}
}
