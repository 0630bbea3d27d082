package sandbox_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// BenchmarkSendTemplate measures one template send through the handler (token check, strict
// decode, template validation, bookkeeping, status scheduling), without network.
func BenchmarkSendTemplate(b *testing.B) {
	sb := sandbox.New(sandbox.Config{PhoneNumberID: phoneID, AccessToken: token, AppSecret: appSecret, Templates: templates()}, nil)
	// Started: the status progression (three statuses per message) runs as it would in use.
	sb.Start(b.Context())
	b.Cleanup(sb.Close)
	h := sb.Handler()
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = templateBody(fmt.Sprint("9665", 10000000+i), "call_deflection", "en", "Billing")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		req := httptest.NewRequest(http.MethodPost, "/v23.0/"+phoneID+"/messages", strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}
