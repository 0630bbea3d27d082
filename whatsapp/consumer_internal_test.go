package whatsapp

import (
	"testing"
	"time"
)

// Failure counts of entries another consumer took over are forgotten; recent ones are kept.
func TestForgetAttempts(t *testing.T) {
	now := time.Now()
	c := &Consumer{attempts: map[string]attempt{
		"taken-over": {n: 2, last: now.Add(-5 * time.Minute)},
		"recent":     {n: 1, last: now.Add(-time.Second)},
	}}
	c.forgetAttempts(now.Add(-2 * time.Minute))
	if _, ok := c.attempts["taken-over"]; ok {
		t.Error("an entry not retried here for 5 minutes is still counted")
	}
	if a, ok := c.attempts["recent"]; !ok || a.n != 1 {
		t.Errorf("recent entry = %+v, %v; want kept", a, ok)
	}
}
