package whatsapp

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Class is what a caller should do about an error.
type Class int

// Error classes.
const (
	// Other: not retryable, not about the recipient or our configuration (bad request, unknown).
	Other Class = iota
	// Retryable: Meta (or the network, before our request left) refused for now; the same request
	// may succeed later.
	Retryable
	// RecipientPermanent: this recipient cannot get this message now (not on WhatsApp, outside the
	// 24-hour window, spam limit); retrying the same request will not help.
	RecipientPermanent
	// Config: our setup is wrong (token, template, parameter count); every send will fail until an
	// operator acts. Raises the config alarm metric.
	Config
)

func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case RecipientPermanent:
		return "recipient-permanent"
	case Config:
		return "config"
	default:
		return "other"
	}
}

// Meta error codes deflectd decides on. See Meta's "WhatsApp error codes" reference.
const (
	CodeAPITooManyCalls      = 4      // application-level rate limit
	CodeAccessToken          = 190    // access token expired or invalid
	CodeWABARateLimit        = 80007  // WhatsApp Business Account rate limit
	CodeThroughput           = 130429 // cloud API throughput reached
	CodeUndeliverable        = 131026 // message undeliverable: typically not on WhatsApp
	CodeReEngagement         = 131047 // more than 24 hours since the customer last replied
	CodeSpamRateLimit        = 131048 // spam rate limit hit
	CodePairRateLimit        = 131056 // (business, consumer) pair rate limit hit
	CodeTemplateParamCount   = 132000 // number of template parameters does not match
	CodeTemplateDoesNotExist = 132001 // template name/language does not exist or is not approved
)

// APIError is an error object returned by the Graph API.
type APIError struct {
	HTTPStatus int
	Code       int
	Subcode    int
	Type       string
	Message    string
	Details    string // error_data.details
	FBTraceID  string
	// RetryAfter is the server's Retry-After hint, zero when absent.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("whatsapp api error %d (http %d): %s", e.Code, e.HTTPStatus, e.Message)
	if e.Details != "" {
		s += ": " + e.Details
	}
	if e.FBTraceID != "" {
		s += " (fbtrace_id " + e.FBTraceID + ")"
	}
	return s
}

// Class classifies the error by Meta code first (the table in codes.go), then by HTTP status.
func (e *APIError) Class() Class {
	if c, ok := CodeClass(e.Code); ok {
		return c
	}
	if e.gatewayTimeout() {
		return Other
	}
	if e.HTTPStatus >= 500 || e.HTTPStatus == 429 {
		return Retryable
	}
	return Other
}

// gatewayTimeout is a 502/504 without a Graph error object: an intermediary gave up waiting,
// and Meta behind it may still have accepted and sent the message, so it is not retried.
func (e *APIError) gatewayTimeout() bool {
	return e.Code == 0 && (e.HTTPStatus == 502 || e.HTTPStatus == 504)
}

// label is the bounded metric label for this error.
func (e *APIError) label() string {
	if e.Code != 0 {
		return strconv.Itoa(e.Code)
	}
	return "http_" + strconv.Itoa(e.HTTPStatus)
}

// TransportError is a failure to get any answer from the Graph API.
type TransportError struct {
	Op string
	// MaybeSent is true when the request (or part of it we cannot rule out) was written before the
	// failure: Meta may have accepted the message, so it must not be sent again.
	MaybeSent bool
	Err       error
}

func (e *TransportError) Error() string {
	if e.MaybeSent {
		return fmt.Sprintf("%s: no response after the request was written (message may have been sent): %v", e.Op, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Op, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// Class is Retryable only when nothing can have reached Meta.
func (e *TransportError) Class() Class {
	if e.MaybeSent {
		return Other
	}
	return Retryable
}

// RateLimitError is returned when waiting for our own rate limiter would outlast the caller's
// deadline: the message was not sent.
type RateLimitError struct {
	Bucket string // throughput|pair
	Wait   time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("wait for %s rate limit: %v exceeds the deadline", e.Bucket, e.Wait.Round(time.Millisecond))
}

// Class: the message was not sent and may be sent later.
func (e *RateLimitError) Class() Class { return Retryable }

// ValidationError says which of Meta's documented limits a message breaks; nothing was sent.
type ValidationError struct {
	Field string // e.g. "text.body", "interactive.action.buttons[1].reply.title"
	Limit string // e.g. "at most 20 characters"
	Got   string // what was given, e.g. "23 characters"
}

func (e *ValidationError) Error() string {
	if e.Got != "" {
		return fmt.Sprintf("validate message: %s must be %s, got %s", e.Field, e.Limit, e.Got)
	}
	return fmt.Sprintf("validate message: %s must be %s", e.Field, e.Limit)
}

// ClassOf classifies any error returned by this package (Other for unknown errors).
func ClassOf(err error) Class {
	var c interface{ Class() Class }
	if errors.As(err, &c) {
		return c.Class()
	}
	return Other
}

// IsRetryable reports whether sending the same message again later may succeed without risking a
// duplicate.
func IsRetryable(err error) bool { return ClassOf(err) == Retryable }

// IsNotOnWhatsApp reports whether Meta said the recipient cannot receive messages (131026).
func IsNotOnWhatsApp(err error) bool { return hasCode(err, CodeUndeliverable) }

// IsWindowClosed reports whether a free-form message was refused because the 24-hour customer
// service window is closed (131047): send a template instead.
func IsWindowClosed(err error) bool { return hasCode(err, CodeReEngagement) }

// IsMaybeSent reports whether the request may have been accepted although Meta's answer did not
// arrive (no response after the request was written, an unreadable response, a gateway timeout):
// do not send it again; wait for a status webhook instead.
func IsMaybeSent(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return te.MaybeSent
	}
	var ae *APIError
	return errors.As(err, &ae) && ae.gatewayTimeout()
}

func hasCode(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}
