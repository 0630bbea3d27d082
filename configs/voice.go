package configs

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// VoiceConfig is the WhatsApp voice bridge: calls customers place from WhatsApp (Meta's
// Business Calling API delivering them over SIP) bridged to the contact centre's queue with
// the context of the deflection their call button names.
type VoiceConfig struct {
	Enabled bool `yaml:"enabled"`
	// Listen is the TLS listener Meta's INVITEs reach (tls://host:port). Meta only speaks TLS.
	Listen string `yaml:"listen"`
	// TLS is the certificate Meta checks against the SIP hostname set on the number. Empty
	// with the sandbox on a loopback listener: a self-signed one is made at start.
	TLS TLSConfig `yaml:"tls"`
	// PBXTarget is the queue's SIP URI (sip:queue@pbx:5060). Meta's terms forbid the PSTN on
	// any leg of a WhatsApp call: this must reach VoIP agents, never a phone number.
	PBXTarget string `yaml:"pbx_target"`
	// PBXListen is our UDP address toward the PBX (host:port; port 0 = any). Empty: the
	// listen host, any port.
	PBXListen string `yaml:"pbx_listen"`
	// MediaHost is bound and advertised for RTP on both legs; empty: the listen host.
	MediaHost  string `yaml:"media_host"`
	RTPPortMin int    `yaml:"rtp_port_min"` // 0 with rtp_port_max 0: any free port
	RTPPortMax int    `yaml:"rtp_port_max"`
	// Username and Password are the digest credentials Meta answers our challenge with: the
	// business number and the SIP password Meta generated for it (the number's call
	// settings). Empty password with the sandbox: a per-process one the sandbox knows.
	Username string `yaml:"username"`
	Password Secret `yaml:"password"`
	Realm    string `yaml:"realm"`
	// AllowCIDRs are the sources allowed to send INVITEs (Meta's SIP ranges); empty: any.
	AllowCIDRs []string `yaml:"allow_cidrs"`
	// AnswerTimeout: the queue must answer within this, else the customer hears busy.
	AnswerTimeout   time.Duration `yaml:"answer_timeout"`
	MaxCallDuration time.Duration `yaml:"max_call_duration"`
	MediaTimeout    time.Duration `yaml:"media_timeout"` // no audio either way this long ends the call
	// ButtonTTL is how long a call button stays valid (Meta's ttl_minutes, our payload's expiry).
	ButtonTTL time.Duration `yaml:"button_ttl"`
	// ButtonText is the call button's label (≤ 20 characters).
	ButtonText string `yaml:"button_text"`
	// PayloadSecret signs call button payloads; empty: derived from whatsapp.app_secret.
	PayloadSecret Secret `yaml:"payload_secret"`
}

func defaultVoice() VoiceConfig {
	return VoiceConfig{
		Listen: "tls://127.0.0.1:5061", Realm: "deflectd",
		AnswerTimeout: 60 * time.Second, MaxCallDuration: 2 * time.Hour, MediaTimeout: time.Minute,
		ButtonTTL: 24 * time.Hour, ButtonText: "Call us",
	}
}

// VoiceLoopback reports whether the voice listener is on a loopback address (where the
// embedded default may make its own certificate and SIP password).
func (v VoiceConfig) VoiceLoopback() bool {
	_, host, _, err := ParseListen(v.Listen)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback() || host == "localhost"
}

func (v *checker) voice(c VoiceConfig, w WhatsAppConfig) {
	if !c.Enabled {
		return
	}
	if tr, _, _, err := ParseListen(c.Listen); err != nil || tr != "tls" {
		v.bad("voice.listen", "%q must be tls://host:port: Meta sends SIP over TLS only", c.Listen)
	}
	sandboxLoopback := w.Provider == "sandbox" && c.VoiceLoopback()
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") || c.TLS.CertFile == "" && !sandboxLoopback {
		v.bad("voice.tls.cert_file", "voice.tls.cert_file and voice.tls.key_file are needed (a certificate Meta trusts for the number's SIP hostname); only the sandbox on loopback makes its own")
	}
	if !c.Password.IsSet() && !sandboxLoopback {
		v.bad("voice.password", "is required: the SIP password Meta generated for the number (its call settings), to challenge Meta's INVITEs")
	}
	if c.PBXTarget == "" {
		v.bad("voice.pbx_target", "is required: the SIP URI of the queue WhatsApp calls go to, e.g. sip:queue@pbx.example:5060")
	} else if u, err := parseSIPURI(c.PBXTarget); err != nil {
		v.bad("voice.pbx_target", "%v", err)
	} else if u.Scheme == "tel" {
		v.bad("voice.pbx_target", "%q is a telephone number: Meta's terms forbid the PSTN on any leg of a WhatsApp call", c.PBXTarget)
	}
	if c.PBXListen != "" {
		if _, _, err := net.SplitHostPort(c.PBXListen); err != nil {
			v.bad("voice.pbx_listen", "%q is not host:port", c.PBXListen)
		}
	}
	if _, host, _, err := ParseListen(c.Listen); err == nil && c.MediaHost == "" {
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
			v.bad("voice.media_host", "is required when voice.listen is on %s: the address Meta and the PBX send audio to", host)
		}
	}
	if c.MediaHost != "" {
		if _, err := netip.ParseAddr(c.MediaHost); err != nil {
			v.bad("voice.media_host", "%q is not an IP address", c.MediaHost)
		}
	}
	if c.RTPPortMin != 0 || c.RTPPortMax != 0 {
		if c.RTPPortMin < 1024 || c.RTPPortMax > 65535 || c.RTPPortMin > c.RTPPortMax {
			v.bad("voice.rtp_port_min", "voice.rtp_port_min..rtp_port_max must be a range within 1024..65535, got %d..%d", c.RTPPortMin, c.RTPPortMax)
		}
	}
	for i, cidr := range c.AllowCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			v.bad(fmt.Sprintf("voice.allow_cidrs[%d]", i), "%q is not a CIDR such as 157.240.0.0/16", cidr)
		}
	}
	v.positive("voice.answer_timeout", c.AnswerTimeout)
	v.positive("voice.max_call_duration", c.MaxCallDuration)
	v.positive("voice.media_timeout", c.MediaTimeout)
	if c.ButtonTTL < time.Minute || c.ButtonTTL > 30*24*time.Hour {
		v.bad("voice.button_ttl", "must be between 1m and 720h (Meta's ttl_minutes 1..43200), got %s", c.ButtonTTL)
	}
	if n := len([]rune(c.ButtonText)); n < 1 || n > 20 {
		v.bad("voice.button_text", "must be 1 to 20 characters (Meta's display_text), got %d", n)
	}
	if !c.PayloadSecret.IsSet() && !w.AppSecret.IsSet() && w.Provider != "sandbox" {
		v.bad("voice.payload_secret", "is required when whatsapp.app_secret is not set (it signs call button payloads)")
	}
}

// parseSIPURI parses a sip:, sips: or tel: URI.
func parseSIPURI(s string) (sip.Uri, error) {
	if strings.HasPrefix(strings.ToLower(s), "tel:") {
		return sip.Uri{Scheme: "tel", User: s[4:]}, nil
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil || u.Host == "" || (u.Scheme != "sip" && u.Scheme != "sips") {
		return sip.Uri{}, fmt.Errorf("%q is not a SIP URI such as sip:queue@pbx.example:5060", s)
	}
	return u, nil
}
