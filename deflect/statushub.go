package deflect

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// StatusChannel is the store Events channel every message status is published on. One channel
// (not one per message) because the instance holding the call must be listening before it sends,
// when it does not know the message id yet; it filters by id.
const StatusChannel = "deflect:status"

// StatusUpdate is a message status as the webhook reported it.
type StatusUpdate struct {
	MessageID   string    `json:"message_id"`
	Status      string    `json:"status"`
	RecipientID string    `json:"recipient_id,omitempty"`
	ErrorCode   int       `json:"error_code,omitempty"`
	ErrorTitle  string    `json:"error_title,omitempty"`
	At          time.Time `json:"at"`
	// What Meta bills for the message (the status's pricing object), when it says.
	PricingCategory string `json:"pricing_category,omitempty"`
	Billable        bool   `json:"billable,omitempty"`
}

// hub is this instance's one subscription to StatusChannel, fanned out to the calls waiting for
// their message's status. Statuses nobody waits for yet are kept briefly, because a status can
// arrive before the send call that produced the message id has returned.
type hub struct {
	events store.Events
	log    *slog.Logger
	keep   time.Duration

	mu      sync.Mutex
	waiters map[string]chan StatusUpdate
	recent  map[string]StatusUpdate
	ready   bool
}

func newHub(ev store.Events, log *slog.Logger) *hub {
	return &hub{events: ev, log: log, keep: time.Minute, waiters: map[string]chan StatusUpdate{}, recent: map[string]StatusUpdate{}}
}

// run subscribes until ctx ends, resubscribing with backoff when the store drops the
// subscription (e.g. Redis restarted).
func (h *hub) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ch, err := h.events.Subscribe(ctx, StatusChannel)
		if err != nil {
			h.log.Warn("subscribe to status events failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		h.setReady(true)
		prune := time.NewTicker(h.keep / 2)
	loop:
		for {
			select {
			case p, ok := <-ch:
				if !ok {
					break loop
				}
				var u StatusUpdate
				if err := json.Unmarshal(p, &u); err != nil || u.MessageID == "" {
					h.log.Warn("bad status event", "err", err)
					continue
				}
				h.deliver(u)
			case <-prune.C:
				h.prune(time.Now())
			case <-ctx.Done():
				break loop
			}
		}
		prune.Stop()
		h.setReady(false)
	}
}

func (h *hub) setReady(v bool) {
	h.mu.Lock()
	h.ready = v
	h.mu.Unlock()
}

// Ready reports whether the subscription is live.
func (h *hub) Ready() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ready
}

func (h *hub) deliver(u StatusUpdate) {
	if u.At.IsZero() {
		u.At = time.Now()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, ok := h.waiters[u.MessageID]; ok {
		select {
		case w <- u:
		default: // the waiter already has a decisive status
		}
		return
	}
	if old, ok := h.recent[u.MessageID]; !ok || mergeStatus(old.Status, u.Status) != old.Status {
		h.recent[u.MessageID] = u
	}
}

func (h *hub) prune(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, u := range h.recent {
		if now.Sub(u.At) > h.keep {
			delete(h.recent, id)
		}
	}
}

// wait returns the first status for msgID (including one that arrived before wait was called),
// or ok false when ctx ends first.
func (h *hub) wait(ctx context.Context, msgID string) (StatusUpdate, bool) {
	w := make(chan StatusUpdate, 1)
	h.mu.Lock()
	if u, ok := h.recent[msgID]; ok {
		delete(h.recent, msgID)
		h.mu.Unlock()
		return u, true
	}
	h.waiters[msgID] = w
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiters, msgID)
		h.mu.Unlock()
	}()
	select {
	case u := <-w:
		return u, true
	case <-ctx.Done():
		return StatusUpdate{}, false
	}
}
