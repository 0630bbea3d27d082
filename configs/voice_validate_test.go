package configs

import (
	"testing"
	"time"
)

func TestValidateVoice(t *testing.T) {
	on := func(f func(v *VoiceConfig)) func(*Config) {
		return func(c *Config) {
			c.Voice.Enabled = true
			c.Voice.PBXTarget = "sip:queue@127.0.0.1:5080"
			f(&c.Voice)
		}
	}
	cloud := func(c *Config) {
		c.WhatsApp.Provider = "cloudapi"
		c.WhatsApp.AccessToken, c.WhatsApp.AppSecret, c.WhatsApp.VerifyToken = "real-token-0123456789", "real-app-secret-0123", "real-verify-0123456789"
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"off by default", func(*Config) {}, ""},
		{"sandbox on loopback needs no certificate or password", on(func(*VoiceConfig) {}), ""},
		{"udp listener", on(func(v *VoiceConfig) { v.Listen = "udp://127.0.0.1:5061" }), "voice.listen"},
		{"no target", on(func(v *VoiceConfig) { v.PBXTarget = "" }), "voice.pbx_target"},
		{"tel target", on(func(v *VoiceConfig) { v.PBXTarget = "tel:+966112345678" }), "PSTN"},
		{"not a uri", on(func(v *VoiceConfig) { v.PBXTarget = "queue at pbx" }), "voice.pbx_target"},
		{"public listener without certificate", on(func(v *VoiceConfig) { v.Listen = "tls://0.0.0.0:5061"; v.Password = "p"; v.MediaHost = "10.0.0.5" }), "voice.tls.cert_file"},
		{"wildcard listener without media host", on(func(v *VoiceConfig) { v.Listen = "tls://0.0.0.0:5061" }), "voice.media_host"},
		{"public listener without password", on(func(v *VoiceConfig) {
			v.Listen, v.MediaHost = "tls://0.0.0.0:5061", "10.0.0.5"
			v.TLS = TLSConfig{CertFile: "c.pem", KeyFile: "k.pem"}
		}), "voice.password"},
		{"cloud api needs a certificate even on loopback", func(c *Config) {
			cloud(c)
			on(func(v *VoiceConfig) { v.Password = "p" })(c)
		}, "voice.tls.cert_file"},
		{"bad cidr", on(func(v *VoiceConfig) { v.AllowCIDRs = []string{"meta"} }), "voice.allow_cidrs[0]"},
		{"port range upside down", on(func(v *VoiceConfig) { v.RTPPortMin, v.RTPPortMax = 40000, 30000 }), "voice.rtp_port_min"},
		{"button ttl over meta's limit", on(func(v *VoiceConfig) { v.ButtonTTL = 31 * 24 * time.Hour }), "voice.button_ttl"},
		{"button text too long", on(func(v *VoiceConfig) { v.ButtonText = "Call the billing team now" }), "voice.button_text"},
		{"media host not an ip", on(func(v *VoiceConfig) { v.MediaHost = "pbx" }), "voice.media_host"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { checkValidate(t, tc.mod, tc.want) })
	}
}
