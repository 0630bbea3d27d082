package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
)

// graphError is Meta's Graph API error object, the body of every non-2xx response:
//
//	{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,
//	  "error_data":{"messaging_product":"whatsapp","details":"..."},"fbtrace_id":"..."}}
type graphError struct {
	Message      string     `json:"message"`
	Type         string     `json:"type"`
	Code         int        `json:"code"`
	ErrorSubcode int        `json:"error_subcode,omitempty"`
	ErrorData    *errorData `json:"error_data,omitempty"`
	FBTraceID    string     `json:"fbtrace_id"`
}

type errorData struct {
	MessagingProduct string `json:"messaging_product"`
	Details          string `json:"details"`
}

// errorInfo is how Meta reports one error code: the HTTP status, the title that appears in
// "message" as "(#code) title", and a default for error_data.details.
type errorInfo struct {
	HTTP    int
	Type    string
	Title   string
	Details string
	Subcode int
}

// lookupError describes a Graph/Cloud API error code as Meta's error-code reference lists it.
// Codes Meta does not list here (or plain HTTP statuses used for injection, 400-599) get a
// generic description. A function rather than a map: no package-level mutable state.
func lookupError(code int) errorInfo {
	switch code {
	case 0:
		return errorInfo{http.StatusUnauthorized, "OAuthException", "AuthException", "We were unable to authenticate the app user.", 0}
	case 1:
		return errorInfo{http.StatusBadRequest, "OAuthException", "API Unknown", "Invalid request or possible server error.", 0}
	case 2:
		return errorInfo{http.StatusServiceUnavailable, "OAuthException", "API Service", "Temporary due to downtime or due to being overloaded.", 0}
	case 4:
		// Meta's table lists 4 (app-level call limit) as 429 Too Many Requests.
		return errorInfo{http.StatusTooManyRequests, "OAuthException", "Application request limit reached", "The app has reached its API call rate limit.", 0}
	case 10:
		return errorInfo{http.StatusForbidden, "OAuthException", "Application does not have permission for this action", "Permission is either not granted or has been removed.", 0}
	case 100:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Invalid parameter", "The request included one or more unsupported or misspelled parameters.", 0}
	case 190:
		return errorInfo{http.StatusUnauthorized, "OAuthException", "Invalid OAuth access token - Cannot parse access token", "", 0}
	case 368:
		return errorInfo{http.StatusForbidden, "OAuthException", "Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy.", 0}
	case 80007:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Rate limit issues", "The WhatsApp Business Account has reached its rate limit.", 0}
	case 130429:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Rate limit hit", "Message failed to send because there were too many messages sent from this phone number in a short period of time.", 2494055}
	case 130472:
		return errorInfo{http.StatusBadRequest, "OAuthException", "User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment.", 0}
	case 131000:
		return errorInfo{http.StatusInternalServerError, "OAuthException", "Something went wrong", "Message failed to send due to an unknown error.", 0}
	case 131005:
		return errorInfo{http.StatusForbidden, "OAuthException", "Access denied", "Permission is either not granted or has been removed.", 0}
	case 131008:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Required parameter is missing", "The request is missing a required parameter.", 0}
	case 131009:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Parameter value is not valid", "One or more parameter values are invalid.", 0}
	case 131016:
		return errorInfo{http.StatusServiceUnavailable, "OAuthException", "Service unavailable", "A service is temporarily unavailable.", 0}
	case 131021:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Recipient cannot be sender", "Sender and recipient phone number is the same.", 0}
	case 131026:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Message undeliverable", "Message Undeliverable.", 0}
	case 131031:
		return errorInfo{http.StatusForbidden, "OAuthException", "Account has been locked", "The WhatsApp Business Account associated with the app has been restricted or disabled.", 0}
	case 131047:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number.", 2494010}
	case 131048:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam.", 0}
	case 131049:
		return errorInfo{http.StatusBadRequest, "OAuthException", "This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.", 0}
	case 131050:
		return errorInfo{http.StatusBadRequest, "OAuthException", "User stopped marketing messages", "Unable to deliver the marketing message. This may be because the user stopped marketing messages.", 0}
	case 131051:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Unsupported message type", "Message type is not currently supported.", 0}
	case 131056:
		return errorInfo{http.StatusBadRequest, "OAuthException", "(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.", 2494077}
	case 132000:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Number of parameters does not match the expected number of params", "The number of variable parameter values included in the request did not match the number of variable parameters defined in the template.", 0}
	case 132001:
		return errorInfo{http.StatusNotFound, "OAuthException", "Template name does not exist in the translation", "The template does not exist in the specified language or the template has not been approved.", 0}
	case 132005:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Translated text too long", "Translated text is too long.", 0}
	case 132012:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Parameter format does not match format in the created template", "Variable parameter values formatted incorrectly.", 0}
	case 132015:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Template is Paused", "Template is paused due to low quality so it cannot be sent in a template message.", 0}
	case 132016:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Template is Disabled", "Template has been paused too many times due to low quality and is now permanently disabled.", 0}
	case 133010:
		return errorInfo{http.StatusBadRequest, "OAuthException", "Phone number not registered", "The phone number is not registered on the WhatsApp Business Platform.", 0}
	}
	if code >= 500 && code <= 599 {
		// An injected plain HTTP failure: Meta answers server trouble with code 131000 (or 1/2).
		return errorInfo{code, "OAuthException", "Something went wrong", "Message failed to send due to an unknown error.", 0}
	}
	if code >= 400 && code <= 499 {
		return errorInfo{code, "OAuthException", "Invalid request", "The request was rejected.", 0}
	}
	return errorInfo{http.StatusBadRequest, "OAuthException", "Message failed to send", "The message failed to send.", 0}
}

// graphCode is the Graph error code to put in the body for an injected code: plain HTTP statuses
// become Meta's generic codes.
func graphCode(code int) int {
	switch {
	case code == 503 || code == 502 || code == 504:
		return 131016
	case code >= 500 && code <= 599:
		return 131000
	case code >= 400 && code <= 499:
		return 100
	}
	return code
}

// apiError is an error to answer a Graph request with.
type apiError struct {
	code    int    // Graph error code
	http    int    // 0 = from the table
	details string // "" = from the table
	subcode int    // 0 = from the table
}

func (e *apiError) Error() string { return fmt.Sprintf("graph error %d: %s", e.code, e.details) }

func errf(code int, format string, args ...any) *apiError {
	return &apiError{code: code, details: fmt.Sprintf(format, args...)}
}

// writeGraphError answers with Meta's error object.
func writeGraphError(w http.ResponseWriter, e *apiError) {
	info := lookupError(e.code)
	status := info.HTTP
	if e.http != 0 {
		status = e.http
	}
	code := graphCode(e.code)
	if code != e.code {
		info = lookupError(code)
	}
	details := e.details
	if details == "" {
		details = info.Details
	}
	ge := graphError{
		Message:      fmt.Sprintf("(#%d) %s", code, info.Title),
		Type:         info.Type,
		Code:         code,
		ErrorSubcode: info.Subcode,
		FBTraceID:    fbTraceID(),
	}
	if e.subcode != 0 {
		ge.ErrorSubcode = e.subcode
	}
	if code == 190 {
		// Token errors come from the Graph layer: no WhatsApp error_data, subcode absent.
		ge.Message = info.Title
	} else {
		ge.ErrorData = &errorData{MessagingProduct: "whatsapp", Details: details}
	}
	writeJSON(w, status, map[string]any{"error": ge})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fbTraceID looks like Meta's fbtrace_id: 23 characters of URL-safe base64 alphabet.
func fbTraceID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, 23)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
