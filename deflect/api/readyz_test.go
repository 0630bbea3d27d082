package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/deflect/api"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

// TestReadyzReasons: /readyz answers 503 for each thing that makes the instance unfit for new
// calls, and says which.
func TestReadyzReasons(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	tests := []struct {
		name     string
		o        api.Options
		wantCode int
		wantBody string
	}{
		{"all well", api.Options{Store: pinger{}, SIPServing: yes, StoreBreakerOpen: no, Draining: no}, 200, "ready"},
		{"checks left out", api.Options{}, 200, "ready"},
		{"draining", api.Options{Store: pinger{}, SIPServing: yes, Draining: yes}, 503, "draining"},
		{"sip not serving", api.Options{Store: pinger{}, SIPServing: no, StoreBreakerOpen: no}, 503, "sip not serving"},
		{"store breaker open", api.Options{Store: pinger{}, SIPServing: yes, StoreBreakerOpen: yes}, 503, "store unavailable: circuit breaker open"},
		{"store ping fails", api.Options{Store: pinger{errors.New("down")}, SIPServing: yes, StoreBreakerOpen: no}, 503, "store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			api.New(tt.o).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if body := strings.TrimSpace(rec.Body.String()); rec.Code != tt.wantCode || body != tt.wantBody {
				t.Errorf("readyz = %d %q, want %d %q", rec.Code, body, tt.wantCode, tt.wantBody)
			}
		})
	}
}
