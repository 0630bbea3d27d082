package deflect

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// Reconciliation: a session belongs to the instance that holds its call (Session.Instance).
// Every instance keeps a lease in the store (a document with a short expiry, refreshed by
// Heartbeat); when an instance dies its lease expires, and any other instance ends the sessions
// it left behind (still offered, sending or confirming after sip.max_call_duration plus a
// grace) as abandoned, or deflected when the message was delivered, so that statistics and
// conversations stay right.

// LeaseCollection holds one document per live instance.
const LeaseCollection = "instances"

// Lease timing: refreshed every leaseEvery, gone leaseTTL after the last refresh.
const (
	leaseEvery = 2 * time.Second
	leaseTTL   = 3 * leaseEvery
)

// reconcile paging: sessions are listed newest first in pages, at most this many per run.
const (
	reconcilePage     = 500
	reconcileMaxPages = 100
	// reconcileFirstLookback is how far back the first run after a start looks (sessions a
	// whole cluster restart left behind); later runs look back two intervals and a lease.
	reconcileFirstLookback = time.Hour
)

// Heartbeat keeps this instance's lease until ctx ends.
func (s *Service) Heartbeat(ctx context.Context) {
	t := time.NewTicker(leaseEvery)
	defer t.Stop()
	for {
		sctx, cancel := s.storeCtx(ctx)
		if _, err := store.UpdateJSON(sctx, s.st, LeaseCollection, s.instance, leaseTTL, 4,
			func() lease { return lease{} },
			func(l *lease, _ bool) error { l.Instance, l.Seen = s.instance, s.now(); return nil }); err != nil {
			s.log.Warn("lease not refreshed", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type lease struct {
	Instance string    `json:"instance"`
	Seen     time.Time `json:"seen"`
}

// RunReconciler reconciles every interval until ctx ends (interval <= 0: never).
func (s *Service) RunReconciler(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	lookback := reconcileFirstLookback
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Reconcile(ctx, lookback); err != nil {
			s.log.Warn("reconciliation incomplete", "err", err)
		}
		// Later runs look back far enough to see a session again once its dead owner's lease
		// has expired (at most leaseTTL after max_call_duration + grace).
		lookback = 2*interval + leaseTTL
	}
}

// Reconcile ends the sessions of dead instances: not ended, created between lookback and
// max_call_duration + grace ago, whose instance holds no lease. It returns how many it ended.
func (s *Service) Reconcile(ctx context.Context, lookback time.Duration) (int, error) {
	now := s.now()
	until := now.Add(-(s.cfg.SIP.MaxCallDuration + s.cfg.Deflect.ReconcileGrace))
	since := until.Add(-lookback)
	alive := map[string]bool{s.instance: true}
	ended := 0
	for range reconcileMaxPages {
		sctx, cancel := s.storeCtx(ctx)
		page, err := s.st.ListSessions(sctx, store.SessionFilter{Since: since, Until: until, Limit: reconcilePage})
		cancel()
		if err != nil {
			return ended, err
		}
		for _, x := range page {
			if x.State == StateEnded || x.State == "" {
				continue
			}
			live, known := alive[x.Instance]
			if !known {
				live = s.leaseHeld(ctx, x.Instance)
				alive[x.Instance] = live
			}
			if !live && s.reconcileOne(ctx, x.ID) {
				ended++
			}
		}
		if len(page) < reconcilePage {
			return ended, nil
		}
		// Newest first: the next page is older than the oldest seen.
		until = page[len(page)-1].CreatedAt
	}
	return ended, nil
}

// leaseHeld reports whether instance has a live lease (an unreadable store counts as alive:
// nothing is ended on a guess).
func (s *Service) leaseHeld(ctx context.Context, instance string) bool {
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	_, err := s.st.GetDoc(sctx, LeaseCollection, instance)
	return err == nil || !errors.Is(err, store.ErrNotFound)
}

// reconcileOne ends one orphaned session, once (compare-and-set).
func (s *Service) reconcileOne(ctx context.Context, id string) bool {
	var out, from string
	sctx, cancel := s.storeCtx(ctx)
	defer cancel()
	sess, err := s.st.UpdateSession(sctx, id, func(x *store.Session) error {
		if x.State == StateEnded {
			return errAlreadyEnded
		}
		from = x.Instance
		out = OutcomeAbandoned
		if x.WAStatus == StatusDelivered || x.WAStatus == StatusRead {
			out = OutcomeDeflected
		}
		x.State, x.Outcome, x.Reason = StateEnded, out, "reconciled"
		stamp(x, StepEnded, s.now())
		return nil
	})
	if err != nil {
		if !errors.Is(err, errAlreadyEnded) {
			s.log.Warn("reconcile session", "session_id", id, "err", err)
		}
		return false
	}
	s.m.reconciled.WithLabelValues(out).Inc()
	s.log.LogAttrs(ctx, slog.LevelInfo, "session reconciled: its instance is gone",
		slog.String("session_id", id), slog.String("call_id", sess.CallID), slog.String("instance", from), slog.String("outcome", out))
	s.countFinish(ctx, id, out)
	return true
}

var errAlreadyEnded = errors.New("session already ended")
