package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "deflectd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
}

func TestExampleFileLoads(t *testing.T) {
	cfg, err := Load("deflectd.example.yaml", nil)
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if cfg.Log.Format != "json" || cfg.SIP.AdvertiseHost != "10.0.0.10" || len(cfg.API.Tokens) != 0 {
		t.Fatalf("example config not applied: %+v", cfg.SIP)
	}
	// Every key of Config must be documented in the example, so it never rots.
	data, _ := os.ReadFile("deflectd.example.yaml")
	for _, k := range Keys() {
		leaf := k[0][strings.LastIndex(k[0], ".")+1:]
		if !bytes.Contains(data, []byte(leaf+":")) {
			t.Errorf("key %s is missing from deflectd.example.yaml", k[0])
		}
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"misspelled key", "sip:\n  lisen: [udp://127.0.0.1:5060]\n", []string{":2: sip.lisen: unknown key"}},
		{"unknown section", "sipp:\n  listen: []\n", []string{":1: sipp: unknown key"}},
		{"wrong type int", "rtp:\n  port_min: abc\n", []string{":2: rtp.port_min:", "whole number"}},
		{"wrong type duration", "deflect:\n  min_wait: soon\n", []string{"deflect.min_wait", "duration"}},
		{"list expected", "sip:\n  listen: udp://x:1\n", []string{"sip.listen", "expected a list"}},
		{"mapping expected", "store: memory\n", []string{"store", "expected a mapping"}},
		{"nested unknown", "whatsapp:\n  sandbox:\n    templatez: []\n", []string{":3: whatsapp.sandbox.templatez: unknown key"}},
		{"port range", "rtp:\n  port_min: 30000\n  port_max: 20000\n", []string{":2: rtp.port_min: 30000 is above rtp.port_max"}},
		{"store backend", "store:\n  backend: mysql\n", []string{":2: store.backend"}},
		{"listen url", "sip:\n  listen: ['bogus']\n", []string{":2: sip.listen[0]"}},
		{"listen url, second item", "sip:\n  listen:\n    - udp://127.0.0.1:5060\n    - bogus\n", []string{":4: sip.listen[1]"}},
		{"cloudapi without id", "whatsapp:\n  provider: cloudapi\n  phone_number_id: ''\n", []string{"whatsapp.phone_number_id", "whatsapp.access_token"}},
		{"bad region", "lookup:\n  default_region: Saudi\n", []string{"lookup.default_region"}},
		{"bad enum", "deflect:\n  on_decline: hangup\n", []string{":2: deflect.on_decline"}},
		{"value error", "log:\n  level: info\ndeflect:\n  route_to: human\n", []string{`:4: deflect.route_to: "human" is not one of bot, agent`}},
		{"value of a map entry", "deflect:\n  queues:\n    billing:\n      min_wait: -1s\n", []string{":4: deflect.queues.billing.min_wait"}},
		{"bad scope", "api:\n  tokens:\n    - {name: x, token: y, scopes: [root]}\n", []string{":3: api.tokens[0].scopes"}},
		{"zero breaker cool-down", "whatsapp:\n  breaker_cooldown: 0s\n", []string{"whatsapp.breaker_cooldown"}},
		{"negative claim idle", "whatsapp:\n  webhook_claim_idle: -1s\n", []string{"whatsapp.webhook_claim_idle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.yaml), nil)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	env := []string{
		"DEFLECTD_SIP_LISTEN=udp://127.0.0.1:5070, tcp://127.0.0.1:5070",
		"DEFLECTD_RTP_PORT_MIN=30000",
		"DEFLECTD_DEFLECT_MIN_WAIT=90s",
		"DEFLECTD_STORE_BACKEND=redis",
		"DEFLECTD_STORE_REDIS_URL=redis://127.0.0.1:6390/1",
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=tok-123",
		"DEFLECTD_WHATSAPP_THROUGHPUT=250",
		"DEFLECTD_IVR_REGION_LANGUAGES={GB: en, SA: ar}",
		"DEFLECTD_API_TOKENS=[{name: pbx, token: t1-0123456789abcdef, scopes: [pbx]}]",
		"DEFLECTD_SIP_PIKE_ENABLED=true",
		"PATH=/usr/bin",
	}
	cfg, err := Load("", env)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.SIP.Listen; len(got) != 2 || got[1] != "tcp://127.0.0.1:5070" {
		t.Errorf("sip.listen = %v", got)
	}
	if cfg.RTP.PortMin != 30000 || cfg.Deflect.MinWait != 90*time.Second || cfg.Store.Backend != "redis" ||
		cfg.Store.Redis.URL != "redis://127.0.0.1:6390/1" || cfg.WhatsApp.AccessToken.Reveal() != "tok-123" ||
		cfg.WhatsApp.Throughput != 250 || !cfg.SIP.Pike.Enabled {
		t.Errorf("env not applied: %+v", cfg)
	}
	if cfg.IVR.RegionLanguages["GB"] != "en" || len(cfg.IVR.RegionLanguages) != 2 {
		t.Errorf("map from env: %v", cfg.IVR.RegionLanguages)
	}
	if len(cfg.API.Tokens) != 1 || cfg.API.Tokens[0].Scopes[0] != "pbx" {
		t.Errorf("struct list from env: %+v", cfg.API.Tokens)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct{ name, env, want string }{
		{"bad int", "DEFLECTD_RTP_PORT_MIN=lots", "rtp.port_min (DEFLECTD_RTP_PORT_MIN)"},
		{"unknown var", "DEFLECTD_SIP_LISTN=x", "DEFLECTD_SIP_LISTN: unknown environment variable"},
		{"bad duration", "DEFLECTD_SIP_DRAIN_TIMEOUT=5", "sip.drain_timeout"},
		{"bad value", "DEFLECTD_DEFLECT_ROUTE_TO=human", `DEFLECTD_DEFLECT_ROUTE_TO: deflect.route_to: "human" is not one of bot, agent`},
		{"bad list item", "DEFLECTD_SIP_LISTEN=udp://127.0.0.1:5060,bogus", "DEFLECTD_SIP_LISTEN: sip.listen[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", []string{tt.env})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEveryKeyHasAnEnvName(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range Keys() {
		if seen[k[1]] {
			t.Errorf("env name %s is used twice", k[1])
		}
		seen[k[1]] = true
		// Setting each scalar key from env must at least be recognised (not "unknown").
	}
	for _, want := range []string{"DEFLECTD_SIP_LISTEN", "DEFLECTD_HTTP_LISTEN", "DEFLECTD_STORE_BACKEND",
		"DEFLECTD_STORE_REDIS_URL", "DEFLECTD_WHATSAPP_BASE_URL", "DEFLECTD_WHATSAPP_ACCESS_TOKEN",
		"DEFLECTD_WHATSAPP_APP_SECRET", "DEFLECTD_WHATSAPP_VERIFY_TOKEN", "DEFLECTD_API_ADMIN_TOKEN"} {
		if !seen[want] {
			t.Errorf("documented env %s does not exist", want)
		}
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	const s1, s2, s3 = "sekret-access-1-0123", "sekret-app-2-0123456", "sekret-redis-3-01234"
	cfg, err := Load("", []string{
		"DEFLECTD_WHATSAPP_ACCESS_TOKEN=" + s1,
		"DEFLECTD_WHATSAPP_APP_SECRET=" + s2,
		"DEFLECTD_STORE_REDIS_PASSWORD=" + s3,
		"DEFLECTD_API_ADMIN_TOKEN=" + s1,
		"DEFLECTD_API_TOKENS=[{name: a, token: " + s2 + ", scopes: [agent]}]",
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	y, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out.Write(y)
	j, _ := json.Marshal(cfg)
	out.Write(j)
	fmt.Fprintf(&out, "%v %+v %#v %s %q %x", cfg, cfg, cfg, cfg.WhatsApp.AccessToken, cfg.WhatsApp.AppSecret, cfg.Store.Redis.Password)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "cfg", cfg, "token", cfg.WhatsApp.AccessToken)
	slog.New(slog.NewTextHandler(&out, nil)).Info("cfg", "cfg", cfg, "token", cfg.WhatsApp.AccessToken)
	for _, s := range []string{s1, s2, s3} {
		if strings.Contains(out.String(), s) {
			t.Fatalf("secret %q leaked in:\n%s", s, out.String())
		}
	}
	if !strings.Contains(out.String(), "[redacted]") {
		t.Fatal("expected redaction markers")
	}
	if cfg.WhatsApp.AccessToken.Reveal() != s1 {
		t.Fatal("Reveal must return the value")
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	cfg := Default()
	y, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Secrets are redacted, so round-trip a config with none set.
	cfg2, err := Load(writeFile(t, strings.ReplaceAll(string(y), "'[redacted]'", "x")), nil)
	if err != nil {
		t.Fatalf("printed config does not load back: %v\n%s", err, y)
	}
	if cfg2.Deflect.Cooldown != cfg.Deflect.Cooldown || cfg2.SIP.Listen[1] != cfg.SIP.Listen[1] {
		t.Fatal("round trip changed values")
	}
}

func TestValidateTokensAndRegion(t *testing.T) {
	const good = "0123456789abcdef-good"
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"sound tokens", func(c *Config) {
			c.API.AdminToken = good
			c.API.Tokens = []TokenConfig{{Name: "pbx", Token: "0123456789abcdef-pbx", Scopes: []string{"pbx"}}}
		}, ""},
		{"short admin token", func(c *Config) { c.API.AdminToken = "short" }, "api.admin_token: is 5 characters"},
		{"sample token", func(c *Config) {
			c.API.Tokens = []TokenConfig{{Name: "pbx", Token: "change-me-pbx-token", Scopes: []string{"pbx"}}}
		}, "api.tokens[0].token: is the sample value"},
		{"same token twice", func(c *Config) {
			c.API.AdminToken = good
			c.API.Tokens = []TokenConfig{{Name: "pbx", Token: good, Scopes: []string{"pbx"}}}
		}, "api.tokens[0].token: is the same token as api.admin_token"},
		{"same name twice", func(c *Config) {
			c.API.Tokens = []TokenConfig{{Name: "pbx", Token: good + "1", Scopes: []string{"pbx"}}, {Name: "pbx", Token: good + "2", Scopes: []string{"pbx"}}}
		}, `api.tokens[1].name: "pbx" is also the name of api.tokens[0]`},
		{"unknown region", func(c *Config) { c.Lookup.DefaultRegion = "XX" }, `lookup.default_region: "XX" is not a region`},
		{"lower-case region", func(c *Config) { c.Lookup.DefaultRegion = "sa" }, "in upper case"},
		{"known region", func(c *Config) { c.Lookup.DefaultRegion = "FR" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
