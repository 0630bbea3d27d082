package deflect

import (
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/lookup"
)

func TestPolicyCheck(t *testing.T) {
	riyadh, err := time.LoadLocation("Asia/Riyadh")
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 2026-11-25 10:30 in Riyadh.
	wedMorning := time.Date(2026, 11, 25, 10, 30, 0, 0, riyadh)
	mobile := lookup.Number{Raw: "+966501234567", E164: "+966501234567", Region: "SA", Type: lookup.TypeMobile, Valid: true}
	landline := lookup.Number{Raw: "+966112345678", E164: "+966112345678", Region: "SA", Type: lookup.TypeFixedLine, Valid: true}
	british := lookup.Number{Raw: "+447700900123", E164: "+447700900123", Region: "GB", Type: lookup.TypeMobile, Valid: true}

	base := func() configs.DeflectConfig { return configs.Default().Deflect }
	hours := func(c *configs.DeflectConfig) {
		c.BusinessHours = configs.BusinessHoursConfig{TimeZone: "Asia/Riyadh", Days: []string{"sun", "mon", "tue", "wed", "thu"}, Open: "08:00", Close: "17:00", Holidays: []string{"2026-12-02"}}
	}
	queues := func(c *configs.DeflectConfig) {
		c.Queues = map[string]configs.QueueConfig{"billing": {MinWait: 120 * time.Second}, "VIP": {Skip: true}, "support": {}}
	}
	ok := func() Facts {
		return Facts{Number: mobile, WaitEstimate: 300, Now: wedMorning, Presence: lookup.Unknown}
	}
	tests := []struct {
		name  string
		cfg   func(*configs.DeflectConfig)
		facts func(*Facts)
		want  string
	}{
		{name: "eligible with defaults", want: ""},
		{name: "invalid number", facts: func(f *Facts) { f.Number = lookup.Number{Raw: "banana"} }, want: ReasonInvalidNumber},
		{name: "landline not mobile", facts: func(f *Facts) { f.Number = landline }, want: ReasonNotMobile},
		{name: "landline allowed when configured", cfg: func(c *configs.DeflectConfig) { c.AllowedTypes = append(c.AllowedTypes, "fixed-line") }, facts: func(f *Facts) { f.Number = landline }, want: ""},
		{name: "type named when mobile not in list", cfg: func(c *configs.DeflectConfig) { c.AllowedTypes = []string{"voip"} }, want: "mobile-not-allowed"},
		{name: "no type restriction", cfg: func(c *configs.DeflectConfig) { c.AllowedTypes = nil }, facts: func(f *Facts) { f.Number = landline }, want: ""},
		{name: "region outside allow-list", cfg: func(c *configs.DeflectConfig) { c.Regions = []string{"SA", "AE"} }, facts: func(f *Facts) { f.Number = british }, want: ReasonRegion},
		{name: "region inside allow-list", cfg: func(c *configs.DeflectConfig) { c.Regions = []string{"SA", "AE"} }, want: ""},
		{name: "wait too short", facts: func(f *Facts) { f.WaitEstimate = 59 }, want: ReasonWaitTooShort},
		{name: "wait exactly minimum", facts: func(f *Facts) { f.WaitEstimate = 60 }, want: ""},
		{name: "wait missing offered by default", facts: func(f *Facts) { f.WaitEstimate = -1 }, want: ""},
		{name: "wait missing skipped", cfg: func(c *configs.DeflectConfig) { c.MissingWait = "skip" }, facts: func(f *Facts) { f.WaitEstimate = -1 }, want: ReasonWaitUnknown},
		{name: "zero min wait", cfg: func(c *configs.DeflectConfig) { c.MinWait = 0 }, facts: func(f *Facts) { f.WaitEstimate = 0 }, want: ""},
		{name: "open during business hours", cfg: hours, want: ""},
		{name: "closed before opening", cfg: hours, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 25, 7, 59, 0, 0, riyadh) }, want: ReasonClosed},
		{name: "closed at closing time", cfg: hours, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 25, 17, 0, 0, 0, riyadh) }, want: ReasonClosed},
		{name: "time zone applied to UTC clock", cfg: hours, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 25, 4, 30, 0, 0, time.UTC) }, want: ReasonClosed}, // 07:30 Riyadh
		{name: "closed on friday", cfg: hours, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 27, 10, 0, 0, 0, riyadh) }, want: ReasonClosed},
		{name: "closed on holiday", cfg: hours, facts: func(f *Facts) { f.Now = time.Date(2026, 12, 2, 10, 0, 0, 0, riyadh) }, want: ReasonClosed},
		{name: "overnight hours open after midnight", cfg: func(c *configs.DeflectConfig) {
			c.BusinessHours = configs.BusinessHoursConfig{Open: "20:00", Close: "06:00"}
		}, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC) }, want: ""},
		{name: "overnight hours closed at noon", cfg: func(c *configs.DeflectConfig) {
			c.BusinessHours = configs.BusinessHoursConfig{Open: "20:00", Close: "06:00"}
		}, facts: func(f *Facts) { f.Now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }, want: ReasonClosed},
		{name: "opted out", facts: func(f *Facts) { f.OptedOut = true }, want: ReasonOptedOut},
		{name: "chat capacity reached", cfg: func(c *configs.DeflectConfig) { c.ChatCapacity = 5 }, facts: func(f *Facts) { f.OpenAgentChats = 5 }, want: ReasonChatCapacity},
		{name: "chat capacity below limit", cfg: func(c *configs.DeflectConfig) { c.ChatCapacity = 5 }, facts: func(f *Facts) { f.OpenAgentChats = 4 }, want: ""},
		{name: "chat capacity off", facts: func(f *Facts) { f.OpenAgentChats = 1000 }, want: ""},
		{name: "cooldown after recent offer", facts: func(f *Facts) { f.Offers = []time.Time{wedMorning.Add(-23 * time.Hour)} }, want: ReasonCooldown},
		{name: "cooldown over", facts: func(f *Facts) { f.Offers = []time.Time{wedMorning.Add(-25 * time.Hour)} }, want: ""},
		{name: "daily limit", cfg: func(c *configs.DeflectConfig) { c.Cooldown = time.Hour }, facts: func(f *Facts) {
			f.Offers = []time.Time{wedMorning.Add(-5 * time.Hour), wedMorning.Add(-4 * time.Hour), wedMorning.Add(-3 * time.Hour)}
		}, want: ReasonDailyLimit},
		{name: "daily limit not reached", cfg: func(c *configs.DeflectConfig) { c.Cooldown = time.Hour }, facts: func(f *Facts) {
			f.Offers = []time.Time{wedMorning.Add(-5 * time.Hour), wedMorning.Add(-4 * time.Hour)}
		}, want: ""},
		{name: "known not on whatsapp", facts: func(f *Facts) { f.Presence = lookup.No }, want: ReasonNotOnWhatsApp},
		{name: "known on whatsapp with skip", cfg: func(c *configs.DeflectConfig) { c.UnknownPresence = "skip" }, facts: func(f *Facts) { f.Presence = lookup.Yes }, want: ""},
		{name: "unknown presence skipped", cfg: func(c *configs.DeflectConfig) { c.UnknownPresence = "skip" }, want: ReasonPresenceUnknown},
		{name: "whatsapp circuit open", facts: func(f *Facts) { f.WhatsAppDown = true }, want: ReasonWhatsAppUnavailable},
		{name: "static rules come first", facts: func(f *Facts) { f.Number = landline; f.OptedOut = true }, want: ReasonNotMobile},
		{name: "queue skipped", cfg: queues, facts: func(f *Facts) { f.Queue = "VIP" }, want: ReasonQueue},
		{name: "queue with its own min wait, too short", cfg: queues, facts: func(f *Facts) { f.Queue = "billing"; f.WaitEstimate = 119 }, want: ReasonWaitTooShort},
		{name: "queue with its own min wait, long enough", cfg: queues, facts: func(f *Facts) { f.Queue = " Billing "; f.WaitEstimate = 120 }, want: ""},
		{name: "queue listed without min wait keeps deflect.min_wait", cfg: queues, facts: func(f *Facts) { f.Queue = "support"; f.WaitEstimate = 59 }, want: ReasonWaitTooShort},
		{name: "other queue offered by default", cfg: queues, facts: func(f *Facts) { f.Queue = "sales" }, want: ""},
		{name: "other queue skipped", cfg: func(c *configs.DeflectConfig) { queues(c); c.OtherQueues = "skip" }, facts: func(f *Facts) { f.Queue = "sales" }, want: ReasonQueue},
		{name: "no queue named counts as other", cfg: func(c *configs.DeflectConfig) { queues(c); c.OtherQueues = "skip" }, want: ReasonQueue},
		{name: "listed queue offered when others are skipped", cfg: func(c *configs.DeflectConfig) { queues(c); c.OtherQueues = "skip" }, facts: func(f *Facts) { f.Queue = "support" }, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			p, err := NewPolicy(c)
			if err != nil {
				t.Fatalf("NewPolicy: %v", err)
			}
			f := ok()
			if tt.facts != nil {
				tt.facts(&f)
			}
			if got := p.Check(f); got != tt.want {
				t.Errorf("Check() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewPolicyRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*configs.DeflectConfig)
	}{
		{"bad zone", func(c *configs.DeflectConfig) { c.BusinessHours.TimeZone = "Mars/Olympus" }},
		{"bad day", func(c *configs.DeflectConfig) { c.BusinessHours.Days = []string{"funday"} }},
		{"bad open", func(c *configs.DeflectConfig) { c.BusinessHours.Open, c.BusinessHours.Close = "8am", "17:00" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := configs.Default().Deflect
			tt.cfg(&c)
			if _, err := NewPolicy(c); err == nil {
				t.Fatal("NewPolicy accepted a bad config")
			}
		})
	}
}

func TestMergeStatus(t *testing.T) {
	tests := []struct{ cur, next, want string }{
		{"", "sent", "sent"},
		{"sent", "delivered", "delivered"},
		{"delivered", "sent", "delivered"},
		{"read", "delivered", "read"},
		{"read", "read", "read"},
		{"delivered", "failed", "failed"},
		{"failed", "read", "failed"},
		{"sent", "bogus", "sent"},
	}
	for _, tt := range tests {
		t.Run(tt.cur+"+"+tt.next, func(t *testing.T) {
			if got := mergeStatus(tt.cur, tt.next); got != tt.want {
				t.Errorf("mergeStatus(%q, %q) = %q, want %q", tt.cur, tt.next, got, tt.want)
			}
		})
	}
}

func TestButtonPayload(t *testing.T) {
	id := NewSessionID()
	sid, choice, ok := ParseButtonPayload(ButtonPayload(id, "agent"))
	if !ok || sid != id || choice != "agent" {
		t.Fatalf("round trip = %q %q %v", sid, choice, ok)
	}
	for _, bad := range []string{"", "deflect:", "deflect::wa", "other:abc:wa", "deflect:abc"} {
		if _, _, ok := ParseButtonPayload(bad); ok {
			t.Errorf("ParseButtonPayload(%q) accepted", bad)
		}
	}
}
