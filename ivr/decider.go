package ivr

import (
	"context"
	"net/netip"

	"github.com/deflectd/deflectd/lookup"
)

// CallInfo is what the IVR learned from an INVITE, handed to the Decider before answering.
type CallInfo struct {
	CallID       string
	CallerRaw    string        // the URI or number as received (P-Asserted-Identity, else From)
	Caller       lookup.Number // normalised; Valid false when it could not be
	Queue        string
	WaitEstimate int // seconds; -1 when X-Wait-Estimate was absent or unusable
	CustomerID   string
	Language     string            // resolved: X-Language, else caller region map, else default
	Context      map[string]string // X-Context-<Name> → value, Name as received
	UserToUser   string            // RFC 7433 User-to-User, decoded to text when hex-encoded
	ReturnTo     string            // X-Return-To
	Source       netip.AddrPort    // where the INVITE came from
	Transport    string            // udp, tcp, tls
}

// Decision is the Decider's answer to an INVITE.
type Decision struct {
	Offer     bool
	Reason    string // reason code when not offered (e.g. "not-mobile", "cooldown")
	SessionID string
	Language  string // prompt language; empty = CallInfo.Language
	// Variant is the offer experiment's variant: its recordings are played when the prompts
	// have a set by that name (Prompts.AddSet). OfferRepeats, when positive, replaces
	// ivr.offer_repeats for this call.
	Variant      string
	OfferRepeats int
}

// AcceptResult is what happened after the caller pressed 1.
type AcceptResult struct {
	Deflected bool
	Reason    string // when not deflected: why (e.g. "not-on-whatsapp", "api-error")
}

// Outcome is how a call ended.
type Outcome struct {
	Result string   // deflected, declined, timeout, failed, abandoned
	Reason string   // optional detail
	Path   []string // IVR steps and digits, in order
}

// Decider is the seam to the deflection engine: the IVR knows nothing of WhatsApp.
type Decider interface {
	// Decide is called before answering. An error means "cannot decide now" (e.g. the store is
	// down): the IVR answers 503 at once so the PBX keeps the caller in queue.
	Decide(ctx context.Context, c *CallInfo) (Decision, error)
	// Accept sends the WhatsApp message and waits for its confirmation; the IVR plays a hold
	// tone meanwhile. ctx ends when the caller hangs up.
	Accept(ctx context.Context, sessionID string) AcceptResult
	// Finish records the call's outcome; called exactly once per offered call.
	Finish(ctx context.Context, sessionID string, o Outcome)
}
