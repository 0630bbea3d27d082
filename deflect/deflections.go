package deflect

import (
	"context"
	"fmt"
	"time"

	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/lookup"
)

// Values of DeflectRequest.WaitFor: how long a deflection asked over HTTP waits before answering.
const (
	WaitDelivered = "delivered" // the first status of the template (or the confirmation budget)
	WaitSent      = "sent"      // the Graph API accepted the message
	WaitNone      = "none"      // the decision only; the template is sent after the answer
)

// PathAPI is the session's IVR path for a deflection asked over HTTP: the contact centre's own
// IVR played the offer, so the agent sees where the choice was made.
const PathAPI = "api"

// DeflectRequest is a deflection asked by an IVR that plays its own offer (a PBX dialplan, a
// CCaaS flow): deflectd decides and sends, the IVR tells the caller.
type DeflectRequest struct {
	Number     lookup.Number // normalised; Valid false when it could not be
	Raw        string        // the number as given
	Queue      string
	Wait       int // seconds; -1 when unknown
	CustomerID string
	Language   string // BCP 47; empty = from the number's region
	Context    map[string]string
	UserToUser string
	WaitFor    string // WaitDelivered (default), WaitSent or WaitNone
	RequestID  string // names the session's "call" in logs (the HTTP request's id)
}

// DeflectResult is the answer to a DeflectRequest, flat so that a dialplan reads it with one
// JSON_DECODE or jq.
type DeflectResult struct {
	Result    string `json:"result"` // deflected, ineligible, failed
	Reason    string `json:"reason"`
	SessionID string `json:"session_id"`
	E164      string `json:"e164"`
	MessageID string `json:"message_id"`
	Status    string `json:"status"` // sent, delivered, read, or empty
}

// Deflect runs the SIP path's engine for a caller whose IVR already has their "yes": the same
// eligibility, session, template, presence learning and conversation seeding. An error means
// the store could not be used (the caller stays in queue; the API answers 503).
func (s *Service) Deflect(ctx context.Context, r DeflectRequest) (DeflectResult, error) {
	// The caller's flow may give up on the HTTP answer; the deflection still completes and is
	// recorded, so an idempotent retry finds the true result.
	ctx = context.WithoutCancel(ctx)
	ci := &ivr.CallInfo{
		CallID: r.RequestID, CallerRaw: r.Raw, Caller: r.Number, Queue: r.Queue, WaitEstimate: r.Wait,
		CustomerID: r.CustomerID, Language: r.Language, Context: r.Context, UserToUser: r.UserToUser,
		Transport: "http",
	}
	d, err := s.Decide(ctx, ci)
	if err != nil {
		return DeflectResult{}, fmt.Errorf("deflect: %w", err)
	}
	res := DeflectResult{SessionID: d.SessionID, E164: r.Number.E164}
	if !d.Offer {
		res.Result, res.Reason = OutcomeIneligible, d.Reason
		return res, nil
	}
	if r.WaitFor == WaitNone {
		go s.finishAPI(ctx, d.SessionID, s.accept(ctx, d.SessionID, false))
		res.Result = OutcomeDeflected
		return res, nil
	}
	deadline := time.Now().Add(s.cfg.Deflect.ConfirmTimeout)
	a := s.accept(ctx, d.SessionID, r.WaitFor != WaitSent)
	s.finishAPI(ctx, d.SessionID, a)
	if a.Deflected {
		res.Result = OutcomeDeflected
	} else {
		res.Result, res.Reason = OutcomeFailed, a.Reason
	}
	want := StatusSent
	if r.WaitFor == WaitDelivered && a.Deflected {
		want = StatusDelivered
	}
	res.MessageID, res.Status = s.awaitStatus(ctx, d.SessionID, want, deadline)
	if res.Status == StatusFailed && res.Result == OutcomeDeflected {
		// Failed after the first status (e.g. undeliverable): the caller should stay in queue.
		res.Result, res.Reason = OutcomeFailed, "message-failed"
	}
	return res, nil
}

// awaitStatus reads the session's message status until it reaches want (or failed) or the
// deadline passes. Every instance's webhook consumer writes the status to the session, so this
// works whichever instance Meta's webhook reached.
func (s *Service) awaitStatus(ctx context.Context, id, want string, deadline time.Time) (msgID, status string) {
	for {
		sctx, cancel := s.storeCtx(ctx)
		sess, err := s.st.GetSession(sctx, id)
		cancel()
		if err == nil {
			msgID, status = sess.WAMessageID, sess.WAStatus
			if status == "" && msgID != "" {
				status = StatusSent // accepted by the Graph API, no webhook yet
			}
		}
		if msgID == "" || status == StatusFailed || statusRank(status) >= statusRank(want) || time.Now().After(deadline) {
			return msgID, status
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finishAPI records the end of an API deflection as Finish does for a call.
func (s *Service) finishAPI(ctx context.Context, sessionID string, a ivr.AcceptResult) {
	o := ivr.Outcome{Result: OutcomeDeflected, Path: []string{PathAPI}}
	if !a.Deflected {
		o = ivr.Outcome{Result: OutcomeFailed, Reason: a.Reason, Path: []string{PathAPI}}
	}
	s.Finish(ctx, sessionID, o)
}
