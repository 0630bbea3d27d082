package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"
)

func statusWebhook(msgID, status, recipient string, at time.Time) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{`+
		`"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"100000000000001"},`+
		`"statuses":[{"id":%q,"status":%q,"timestamp":"%d","recipient_id":%q}]},"field":"messages"}]}]}`,
		msgID, status, at.Unix(), recipient))
}

// TestStatusesOutOfOrderAndDuplicated: Meta delivers a deflection message's statuses late,
// out of order and twice (read, delivered, sent, read, delivered). The session ends up "read",
// never moves backwards, and each status takes effect once.
func TestStatusesOutOfOrderAndDuplicated(t *testing.T) {
	graph := newGraphRecorder(t, 0)
	g := startGateway(t, "statuses",
		"DEFLECTD_WHATSAPP_PROVIDER=cloudapi", "DEFLECTD_WHATSAPP_BASE_URL="+graph.srv.URL,
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=e2e-token", "DEFLECTD_WHATSAPP_APP_SECRET="+e2eAppSecret,
		"DEFLECTD_WHATSAPP_VERIFY_TOKEN=e2e-verify", "DEFLECTD_DEFLECT_CONFIRM_TIMEOUT=300ms")
	from := caller(1100)
	if rep := call(t, callOpts("sip:queue@"+g.UDP, from)); rep.Result != "deflected" {
		t.Fatalf("call: result %q", rep.Result)
	}
	session := func() (status, msgID string) {
		code, body := g.get("/api/v1/sessions?limit=1&caller=" + url.QueryEscape(from))
		var r struct {
			Sessions []struct {
				WhatsApp struct {
					MessageID string `json:"message_id"`
					Status    string `json:"status"`
				} `json:"whatsapp"`
			} `json:"sessions"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &r) != nil || len(r.Sessions) != 1 {
			t.Fatalf("sessions API: %d %s", code, body)
		}
		return r.Sessions[0].WhatsApp.Status, r.Sessions[0].WhatsApp.MessageID
	}
	status, msgID := session()
	if msgID == "" {
		t.Fatal("session without a WhatsApp message id")
	}
	t.Logf("after the call: message %s status %q", msgID, status)

	base := time.Now().Add(-time.Minute)
	recipient := from[1:]
	for _, st := range []string{"read", "delivered", "sent", "read", "delivered"} {
		// Meta's timestamps follow the real order (sent < delivered < read), not the delivery order.
		at := base.Add(map[string]time.Duration{"sent": 0, "delivered": time.Second, "read": 2 * time.Second}[st])
		postWebhook(t, g, statusWebhook(msgID, st, recipient, at))
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.metric("deflectd_whatsapp_webhook_events_total", `kind="status"`, `result="duplicate"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("duplicates not seen: %v", g.metric("deflectd_whatsapp_webhook_events_total", `kind="status"`, `result="duplicate"`))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if status, _ := session(); status != "read" {
		t.Errorf("session status %q after read, delivered, sent, read, delivered; want read", status)
	}
	for _, st := range []string{"read", "delivered", "sent"} {
		if got := g.metric("deflectd_deflect_statuses_total", fmt.Sprintf(`status=%q`, st)); got != 1 {
			t.Errorf("deflect_statuses_total{status=%s} = %v, want 1 (each status once)", st, got)
		}
	}
	t.Logf("webhook status events: processed %v, duplicate %v",
		g.metric("deflectd_whatsapp_webhook_events_total", `kind="status"`, `result="processed"`),
		g.metric("deflectd_whatsapp_webhook_events_total", `kind="status"`, `result="duplicate"`))
}
