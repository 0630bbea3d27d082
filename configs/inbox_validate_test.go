package configs

import (
	"strings"
	"testing"
	"time"
)

func TestValidateInbox(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"default", func(*Config) {}, ""},
		{"no chats per agent", func(c *Config) { c.Inbox.MaxChatsPerAgent = 0 }, "inbox.max_chats_per_agent"},
		{"negative retries", func(c *Config) { c.Inbox.DeskRetries = -1 }, "inbox"},
		{"zero window", func(c *Config) { c.Inbox.WindowDuration = 0 }, "inbox.window_duration"},
		{"desk url not http", func(c *Config) { c.Inbox.DeskWebhookURL, c.Inbox.DeskSecret = "ftp://desk", "s" }, "inbox.desk_webhook_url"},
		{"desk without secret", func(c *Config) { c.Inbox.DeskWebhookURL = "https://desk.example/hook" }, "inbox.desk_secret"},
		{"empty template text", func(c *Config) { c.Inbox.TemplateTexts = map[string]map[string]string{"t": {"en": " "}} }, "inbox.template_texts"},
		{"template text without language", func(c *Config) { c.Inbox.TemplateTexts = map[string]map[string]string{"t": {"": "x"}} }, "inbox.template_texts"},
		{"empty canned response", func(c *Config) { c.Inbox.CannedResponses = map[string][]string{"en": {"hi", ""}} }, "inbox.canned_responses"},
		{"negative media cache ttl", func(c *Config) { c.Inbox.MediaCacheTTL = -time.Second }, "inbox.media_cache_ttl"},
		{"media cache off", func(c *Config) { c.Inbox.MediaCacheTTL = 0 }, ""},
		{"tiny media cap", func(c *Config) { c.Inbox.MaxMediaBytes = 10 }, "inbox.max_media_bytes"},
		{"no canned responses", func(c *Config) { c.Inbox.CannedResponses = nil }, ""},
		{"desk with secret", func(c *Config) { c.Inbox.DeskWebhookURL, c.Inbox.DeskSecret = "https://desk.example/hook", "s" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkValidate(t, tc.mod, tc.want) })
	}
}

// checkValidate runs Validate on the defaults changed by mod: want "" means valid, else a
// substring of the error (the key's name).
func checkValidate(t *testing.T, mod func(*Config), want string) {
	t.Helper()
	c := Default()
	mod(&c)
	err := c.Validate()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one naming %s", err, want)
	}
}
