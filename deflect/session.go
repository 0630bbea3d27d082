// Package deflect is the deflection engine: it decides whether a queued caller may be moved to
// WhatsApp (Policy), owns the session from INVITE to outcome (Service, which implements
// ivr.Decider), sends the template and waits for its status, and turns WhatsApp webhook events
// into session updates, learned presence and a seeded conversation.
package deflect

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// Session states, in order.
const (
	StateNew        = "new"
	StateOffered    = "offered"
	StateSending    = "sending"
	StateConfirming = "confirming"
	StateEnded      = "ended"
)

// Outcomes (without their ":<reason>" suffix).
const (
	OutcomeIneligible = "ineligible"
	OutcomeDeclined   = "declined"
	OutcomeTimeout    = "timeout"
	OutcomeDeflected  = "deflected"
	OutcomeFailed     = "failed"
	OutcomeAbandoned  = "abandoned"
)

// Step names recorded in Session.Steps.
const (
	StepInvite    = "invite"
	StepDecided   = "decided"
	StepAccepted  = "accepted"
	StepSent      = "sent"
	StepConfirmed = "confirmed"
	StepDelivered = "delivered"
	StepRead      = "read"
	StepFailed    = "failed"
	StepEnded     = "ended"
)

// WhatsApp message statuses as the Cloud API names them.
const (
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusRead      = "read"
	StatusFailed    = "failed"
)

// NewSessionID returns a random, URL-safe id (128 bits, 22 characters).
func NewSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// outcome joins an outcome and its reason the way Session.Outcome stores it: outcomes that carry
// a reason (ineligible, failed) become "failed:<reason>"; the others stay bare.
func outcome(result, reason string) string {
	switch result {
	case OutcomeIneligible, OutcomeFailed:
		if reason == "" {
			reason = "unknown"
		}
		return result + ":" + reason
	}
	return result
}

// statusRank orders delivery statuses so that a late or duplicate webhook never moves a status
// backwards. failed is terminal and handled by mergeStatus.
func statusRank(s string) int {
	switch s {
	case StatusSent:
		return 1
	case StatusDelivered:
		return 2
	case StatusRead:
		return 3
	}
	return 0
}

// mergeStatus returns the status a message is in after seeing next when it was in cur:
// statuses only move forward (sent < delivered < read), failed wins and is terminal, unknown
// statuses are ignored.
func mergeStatus(cur, next string) string {
	switch {
	case cur == StatusFailed:
		return cur
	case next == StatusFailed:
		return next
	case statusRank(next) > statusRank(cur):
		return next
	}
	return cur
}

// ButtonPayload is the quick-reply payload that ties a tap back to its session: "deflect:<id>:<choice>".
func ButtonPayload(sessionID, choice string) string {
	return "deflect:" + sessionID + ":" + choice
}

// ParseButtonPayload splits a payload made by ButtonPayload; ok is false for anything else.
func ParseButtonPayload(p string) (sessionID, choice string, ok bool) {
	rest, found := strings.CutPrefix(p, "deflect:")
	if !found {
		return "", "", false
	}
	sessionID, choice, found = strings.Cut(rest, ":")
	if !found || sessionID == "" {
		return "", "", false
	}
	return sessionID, choice, true
}
