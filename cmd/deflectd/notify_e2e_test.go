package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
)

// TestE2EScheduledNotificationSentByGateway posts a notification due in a second through the API;
// the gateway's scheduler sends it once when it falls due, not before.
func TestE2EScheduledNotificationSentByGateway(t *testing.T) {
	g := startGateway(t, func(c *configs.Config) {
		c.WhatsApp.Sandbox.Templates = append(c.WhatsApp.Sandbox.Templates,
			configs.TemplateDef{Name: "licence_renewal", Languages: []string{"en", "ar"}, BodyParams: 2})
	})
	due := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	body := `{"template":"licence_renewal","rows":[{"phone":"+966501112233","language":"en","params":["Aisha","2027-01-10"],"send_at":"` + due + `"}]}`
	req, _ := http.NewRequest(http.MethodPost, g.base+"/api/v1/notifications", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e2eToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/notifications: %d", resp.StatusCode)
	}
	if n := len(g.sandbox.Sent("966501112233")); n != 0 {
		t.Fatalf("sent %d before send_at", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(g.sandbox.Sent("966501112233")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("scheduled notification was not sent within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * notifyPoll) // a later scheduler pass must not send it again
	if sent := g.sandbox.Sent("966501112233"); len(sent) != 1 || !strings.Contains(string(sent[0].Body), `"licence_renewal"`) {
		t.Fatalf("sandbox got %d messages: %+v", len(sent), sent)
	}
}
