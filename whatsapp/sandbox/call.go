package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// VoiceCaller places a WhatsApp call to the business the way Meta's Calling API delivers one
// over SIP (TLS, digest, SDES-SRTP); cmd/deflectd wires ivr/voice/metasim behind it when
// voice is enabled.
type VoiceCaller interface {
	CallBusiness(ctx context.Context, waID, name, payload string, duration time.Duration) (any, error)
}

// SetVoiceCaller enables POST /_sandbox/customers/{wa_id}/call.
func (s *Sandbox) SetVoiceCaller(c VoiceCaller) {
	s.mu.Lock()
	s.caller = c
	s.mu.Unlock()
}

// LastCallButton is the payload of the last WhatsApp call button (an interactive voice_call
// message) the business sent to this customer.
func (s *Sandbox) LastCallButton(to string) (string, bool) {
	waID, err := normalizeNumber(to)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.phones[waID]
	if p == nil {
		return "", false
	}
	for i := len(p.out) - 1; i >= 0; i-- {
		var m struct {
			Interactive *struct {
				Type   string `json:"type"`
				Action struct {
					Parameters struct {
						Payload string `json:"payload"`
					} `json:"parameters"`
				} `json:"action"`
			} `json:"interactive"`
		}
		if json.Unmarshal(p.out[i].Body, &m) == nil && m.Interactive != nil && m.Interactive.Type == "voice_call" {
			return m.Interactive.Action.Parameters.Payload, true
		}
	}
	return "", false
}

type callRequest struct {
	Payload  *string `json:"payload"`  // absent: the last call button this customer received
	Duration string  `json:"duration"` // how long the customer talks before hanging up (default 10s)
	Name     string  `json:"name"`
}

// serveCall: the customer taps a call button (or calls the business) on WhatsApp. The answer
// is the call's report once it is over.
func (s *Sandbox) serveCall(w http.ResponseWriter, r *http.Request, to string) {
	s.mu.Lock()
	caller := s.caller
	s.mu.Unlock()
	if caller == nil {
		controlError(w, http.StatusConflict, "WhatsApp calls are off: set voice.enabled (and voice.pbx_target)")
		return
	}
	waID, err := normalizeNumber(to)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	var req callRequest
	if err := decodeControl(r, &req); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	d := 10 * time.Second
	if req.Duration != "" {
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 || d > 10*time.Minute {
			controlError(w, http.StatusBadRequest, "duration must be a Go duration between 0 and 10m, e.g. 10s")
			return
		}
	}
	payload := ""
	if req.Payload != nil {
		payload = *req.Payload
	} else if p, ok := s.LastCallButton(waID); ok {
		payload = p
	} else {
		controlError(w, http.StatusConflict, "no call button was sent to this customer: pass \"payload\" (\"\" to call without one)")
		return
	}
	name := req.Name
	if name == "" {
		s.mu.Lock()
		if p := s.phones[waID]; p != nil {
			name = p.name
		}
		s.mu.Unlock()
	}
	rep, err := caller.CallBusiness(r.Context(), waID, name, payload, d)
	if err != nil {
		controlError(w, http.StatusBadGateway, "the call failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
