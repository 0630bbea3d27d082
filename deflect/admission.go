package deflect

import (
	"context"
	"time"
)

// Bucket is a token bucket shared by every instance (deflect/store's Limiter: memstore for one
// process, Redis for several).
type Bucket interface {
	Take(ctx context.Context, key string, rate float64, burst int) (ok bool, wait time.Duration, err error)
}

// SendBudget admits an offer only when the phone number's Graph API throughput can take the
// template it may lead to: a caller is never offered what cannot be sent. Offers are admitted at
// the number's messages per second, with a burst of what that rate sends within the confirmation
// window: however the offered callers press 1, the send queue never holds more than
// Rate × Window tokens, so each send finds its token before its confirmation deadline.
type SendBudget struct {
	Bucket Bucket
	Key    string        // one bucket per phone number id
	Rate   float64       // messages per second (whatsapp.throughput)
	Window time.Duration // deflect.confirm_timeout
}

// Admit takes one offer slot. A broken bucket (store down) admits: the send path has its own
// limiter, and the store's failure is handled where the session is written.
func (b SendBudget) Admit(ctx context.Context) bool {
	if b.Bucket == nil || b.Rate <= 0 {
		return true
	}
	ok, _, err := b.Bucket.Take(ctx, b.Key, b.Rate, max(1, int(b.Rate)))
	return ok || err != nil
}
