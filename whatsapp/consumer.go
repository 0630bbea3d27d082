package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// QueueMessage is one entry of the durable queue.
type QueueMessage struct {
	ID      string
	Payload []byte
}

// Queue is an at-least-once queue with consumer groups (Redis Streams semantics), the shape of
// deflect/store's Streams. Adapt a store with AdaptStreams.
type Queue interface {
	StreamAdd(ctx context.Context, stream string, payload []byte) (id string, err error)
	// StreamAddBatch adds payloads in order in one round trip.
	StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) (ids []string, err error)
	// StreamRead returns up to count new messages for consumer in group (creating the group if
	// needed), waiting up to block when there are none.
	StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]QueueMessage, error)
	StreamAck(ctx context.Context, stream, group string, ids ...string) error
	// StreamClaim takes over messages pending longer than minIdle in group (XAUTOCLAIM).
	StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]QueueMessage, error)
}

// Deduper is idempotency: the first SetOnce of a key within ttl wins (deflect/store's Once).
type Deduper interface {
	SetOnce(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}

// Streams is any streams implementation with its own message type M (deflect/store.Streams).
type Streams[M any] interface {
	StreamAdd(ctx context.Context, stream string, payload []byte) (id string, err error)
	StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) (ids []string, err error)
	StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]M, error)
	StreamAck(ctx context.Context, stream, group string, ids ...string) error
	StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]M, error)
}

// AdaptStreams makes a Queue of a Streams whose message type is not QueueMessage, so that this
// package need not import deflect/store:
//
//	q := whatsapp.AdaptStreams(st, func(m store.StreamMessage) whatsapp.QueueMessage { return whatsapp.QueueMessage(m) })
func AdaptStreams[M any](s Streams[M], conv func(M) QueueMessage) Queue {
	return streamsAdapter[M]{s: s, conv: conv}
}

type streamsAdapter[M any] struct {
	s    Streams[M]
	conv func(M) QueueMessage
}

func (a streamsAdapter[M]) StreamAdd(ctx context.Context, stream string, payload []byte) (string, error) {
	return a.s.StreamAdd(ctx, stream, payload)
}

func (a streamsAdapter[M]) StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) ([]string, error) {
	return a.s.StreamAddBatch(ctx, stream, payloads)
}

func (a streamsAdapter[M]) StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]QueueMessage, error) {
	ms, err := a.s.StreamRead(ctx, stream, group, consumer, count, block)
	return a.all(ms), err
}

func (a streamsAdapter[M]) StreamAck(ctx context.Context, stream, group string, ids ...string) error {
	return a.s.StreamAck(ctx, stream, group, ids...)
}

func (a streamsAdapter[M]) StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]QueueMessage, error) {
	ms, err := a.s.StreamClaim(ctx, stream, group, consumer, minIdle, count)
	return a.all(ms), err
}

func (a streamsAdapter[M]) all(ms []M) []QueueMessage {
	if ms == nil {
		return nil
	}
	out := make([]QueueMessage, len(ms))
	for i, m := range ms {
		out[i] = a.conv(m)
	}
	return out
}

// Consumer reads webhook events from the queue and runs Handler once per event id. Run several
// (one per instance, distinct Names, same Group) for at-least-once processing across instances:
// events a dead consumer left pending are claimed by the others after ClaimIdle.
//
// Guarantees: an event is acknowledged only after Handler returned nil (or after MaxAttempts
// failures in this process, logged and counted as dropped). Duplicates (Meta delivering the same
// message or status again) get no handler run. A handler interrupted by a crash runs again on the
// claiming consumer, so handlers must tolerate re-running an event they did not finish. Events
// of one conversation may be handled out of order across consumers (e.g. read before delivered).
type Consumer struct {
	Queue   Queue
	Deduper Deduper // nil: no deduplication
	Handler func(ctx context.Context, e Event) error
	Group   string // default "deflectd"
	Name    string // unique per consumer (required)

	Stream      string       // default DefaultStream
	Log         *slog.Logger // nil: discard
	Metrics     *ConsumerMetrics
	Batch       int           // messages per read; default 16
	Block       time.Duration // read wait when idle; default 1s
	ClaimIdle   time.Duration // pending longer than this is claimed; default 30s
	ClaimEvery  time.Duration // how often to claim; default ClaimIdle/2
	DedupeTTL   time.Duration // how long an event id is remembered; default 24h
	MaxAttempts int           // handler failures before an event is dropped; default 5

	attempts map[string]attempt // handler failures here, by queue entry
	running  atomic.Bool
}

type attempt struct {
	n    int
	last time.Time
}

// Run consumes until ctx ends; it returns nil then, or an error for a misconfigured Consumer.
// A Consumer runs once at a time; start several Consumers (distinct Names) for parallelism.
func (c *Consumer) Run(ctx context.Context) error {
	if c.Queue == nil || c.Handler == nil || c.Name == "" {
		return errors.New("run consumer: Queue, Handler and Name are required")
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("run consumer: already running")
	}
	defer c.running.Store(false)
	c.defaults()
	log := c.Log.With("component", "whatsapp-consumer", "consumer", c.Name)
	lastClaim := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastClaim) >= c.ClaimEvery {
			lastClaim = time.Now()
			c.claim(ctx, log)
		}
		block := min(c.Block, c.ClaimEvery)
		msgs, err := c.Queue.StreamRead(ctx, c.Stream, c.Group, c.Name, c.Batch, block)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("read webhook events", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		c.processAll(ctx, log, msgs)
	}
	return nil
}

func (c *Consumer) defaults() {
	if c.Group == "" {
		c.Group = "deflectd"
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Batch <= 0 {
		c.Batch = 16
	}
	if c.Block <= 0 {
		c.Block = time.Second
	}
	if c.ClaimIdle <= 0 {
		c.ClaimIdle = 30 * time.Second
	}
	if c.ClaimEvery <= 0 {
		c.ClaimEvery = c.ClaimIdle / 2
	}
	if c.DedupeTTL <= 0 {
		c.DedupeTTL = 24 * time.Hour
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.attempts == nil {
		c.attempts = map[string]attempt{}
	}
}

func (c *Consumer) claim(ctx context.Context, log *slog.Logger) {
	c.forgetAttempts(time.Now().Add(-4 * c.ClaimIdle))
	for ctx.Err() == nil {
		msgs, err := c.Queue.StreamClaim(ctx, c.Stream, c.Group, c.Name, c.ClaimIdle, c.Batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("claim pending webhook events", "err", err)
			}
			return
		}
		if len(msgs) > 0 {
			log.Info("claimed pending webhook events", "count", len(msgs))
		}
		c.processAll(ctx, log, msgs)
		if len(msgs) < c.Batch {
			return
		}
	}
}

// processAll stops at cancellation: the rest stay pending for whoever claims them.
func (c *Consumer) processAll(ctx context.Context, log *slog.Logger, msgs []QueueMessage) {
	for _, m := range msgs {
		if ctx.Err() != nil {
			return
		}
		c.process(ctx, log, m)
	}
}

// process runs one queue entry. Deduplication uses two SetOnce keys: "entry seen" (per queue
// entry) and "event seen" (per event id). An entry whose event was first seen elsewhere is a
// duplicate; an entry that was itself seen before is a redelivery of the canonical entry after a
// failure or crash, and runs again.
func (c *Consumer) process(ctx context.Context, log *slog.Logger, m QueueMessage) {
	var e Event
	if err := json.Unmarshal(m.Payload, &e); err != nil || e.Key() == "" {
		log.Error("drop undecodable webhook event", "entry", m.ID, "err", err)
		c.Metrics.event("unknown", "dropped")
		c.ack(ctx, log, m.ID)
		return
	}
	key := e.Key()
	if c.Deduper != nil {
		entryFirst, err := c.Deduper.SetOnce(ctx, "wa:evt:"+key+":"+m.ID, c.DedupeTTL)
		if err != nil {
			log.Warn("dedupe webhook event", "entry", m.ID, "err", err)
			return // stays pending; claimed again later
		}
		eventFirst, err := c.Deduper.SetOnce(ctx, "wa:evt:"+key, c.DedupeTTL)
		if err != nil {
			log.Warn("dedupe webhook event", "entry", m.ID, "err", err)
			return
		}
		if !eventFirst && entryFirst {
			c.Metrics.event(e.Kind, "duplicate")
			c.ack(ctx, log, m.ID)
			return
		}
	}
	if err := c.handle(ctx, e); err != nil {
		a := c.attempts[m.ID]
		a.n, a.last = a.n+1, time.Now()
		c.attempts[m.ID] = a
		if a.n >= c.MaxAttempts {
			log.Error("drop webhook event after repeated handler failures", "entry", m.ID, "event", key, "attempts", a.n, "err", err)
			c.Metrics.event(e.Kind, "dropped")
			c.ack(ctx, log, m.ID)
			return
		}
		log.Warn("webhook event handler failed; left pending for retry", "entry", m.ID, "event", key, "err", err)
		c.Metrics.event(e.Kind, "handler_error")
		return
	}
	c.Metrics.event(e.Kind, "processed")
	c.ack(ctx, log, m.ID)
}

// handle runs the Handler, turning a panic into an error so that one bad event cannot stop the
// consumer (it is retried, then dropped after MaxAttempts).
func (c *Consumer) handle(ctx context.Context, e Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handle event: panic: %v", r)
		}
	}()
	return c.Handler(ctx, e)
}

// forgetAttempts drops the failure counts of entries not retried here since before: another
// consumer claimed them (and acknowledged them, or counts its own attempts), so without this the
// map would keep them for the life of the process.
func (c *Consumer) forgetAttempts(before time.Time) {
	for id, a := range c.attempts {
		if a.last.Before(before) {
			delete(c.attempts, id)
		}
	}
}

func (c *Consumer) ack(ctx context.Context, log *slog.Logger, id string) {
	delete(c.attempts, id)
	if err := c.Queue.StreamAck(ctx, c.Stream, c.Group, id); err != nil {
		log.Warn("ack webhook event", "entry", id, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
