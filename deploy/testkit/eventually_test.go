package testkit

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestEventuallyWaitsForCondition(t *testing.T) {
	var n atomic.Int32
	Eventually(t, time.Second, "three polls", func() bool { return n.Add(1) >= 3 })
	if got := n.Load(); got != 3 {
		t.Fatalf("polled %d times, want 3", got)
	}
}
