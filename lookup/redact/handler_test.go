package redact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/configs"
)

const (
	number = "+447700900123"
	masked = "+44770****123"
)

type caller struct{ e164 string }

func (c caller) LogValue() slog.Value {
	return slog.GroupValue(slog.String("e164", c.e164), slog.Int("attempts", 2))
}

type stringer struct{ s string }

func (s stringer) String() string { return "number " + s.s }

type record struct {
	Caller string
	Queue  string
}

func TestHandlerMasksEverywhere(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log = log.With("component", "ivr", "from", "sip:"+number+"@pbx").WithGroup("call")
	log.Info("INVITE from sip:"+number+"@pbx;user=phone",
		"caller", number,
		slog.Group("ctx", "pai", `"Alice" <sip:`+number+`@pbx>`, slog.Group("deep", "x", number)),
		"who", caller{number},
		"err", errors.New("send to "+number+": 131026"),
		"str", stringer{number},
		"rec", record{Caller: number, Queue: "sales"},
		"plain", record{Queue: "sales"},
		"bytes", []byte(number),
		"count", 3,
	)
	out := buf.String()
	if strings.Contains(out, "7700900123") || strings.Contains(out, "900123") {
		t.Fatalf("unmasked number in log line:\n%s", out)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("log line is not JSON: %v\n%s", err, out)
	}
	if got["msg"] != "INVITE from sip:"+masked+"@pbx;user=phone" {
		t.Errorf("msg = %q", got["msg"])
	}
	if got["from"] != "sip:"+masked+"@pbx" || got["component"] != "ivr" {
		t.Errorf("WithAttrs not masked: %v", got)
	}
	call, _ := got["call"].(map[string]any)
	if call == nil {
		t.Fatalf("group call missing: %v", got)
	}
	want := map[string]any{
		"caller": masked,
		"err":    "send to " + masked + ": 131026",
		"str":    "number " + masked,
		"bytes":  masked,
		"count":  float64(3),
	}
	for k, v := range want {
		if call[k] != v {
			t.Errorf("call.%s = %v, want %v", k, call[k], v)
		}
	}
	ctx, _ := call["ctx"].(map[string]any)
	deep, _ := ctx["deep"].(map[string]any)
	if ctx["pai"] != `"Alice" <sip:`+masked+`@pbx>` || deep["x"] != masked {
		t.Errorf("nested groups not masked: %v", ctx)
	}
	who, _ := call["who"].(map[string]any)
	if who["e164"] != masked || who["attempts"] != float64(2) {
		t.Errorf("LogValuer not resolved and masked: %v", call["who"])
	}
	if s, ok := call["rec"].(string); !ok || !strings.Contains(s, masked) {
		t.Errorf("struct with a number = %v, want its masked string form", call["rec"])
	}
	// A value with nothing to mask keeps its JSON structure.
	if plain, ok := call["plain"].(map[string]any); !ok || plain["Queue"] != "sales" {
		t.Errorf("clean struct = %v, want it untouched", call["plain"])
	}
}

func TestHandlerLevelsAndText(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(configs.LogConfig{Level: "warn", Format: "text"}, &buf)
	log.Info("hidden " + number)
	if buf.Len() != 0 {
		t.Fatalf("info logged at warn level: %s", buf.String())
	}
	log.Warn("caller hung up", "caller", number)
	if out := buf.String(); !strings.Contains(out, "caller="+masked) || strings.Contains(out, number) {
		t.Errorf("text output = %q", out)
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelError) || log.Handler().Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled does not follow the level")
	}
}

func TestLoggerFormats(t *testing.T) {
	tests := []struct {
		name string
		cfg  configs.LogConfig
		json bool
	}{
		{"json", configs.LogConfig{Level: "debug", Format: "json"}, true},
		{"text", configs.LogConfig{Level: "info", Format: "text"}, false},
		{"bad level falls back to info", configs.LogConfig{Level: "loud", Format: "text"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			Logger(tc.cfg, &buf).Info("from " + number)
			out := buf.String()
			if strings.Contains(out, number) || !strings.Contains(out, masked) {
				t.Fatalf("output %q", out)
			}
			if isJSON := strings.HasPrefix(out, "{"); isJSON != tc.json {
				t.Errorf("json = %v, want %v: %q", isJSON, tc.json, out)
			}
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	log := slog.New(NewHandler(slog.NewJSONHandler(discard{}, nil)))
	for b.Loop() {
		log.Info("INVITE from sip:+447700900123@pbx", "component", "ivr", "call_id", "a84b4c76e66710", "caller", "+447700900123")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestHandlerKeepsIdentifiers: Call-IDs, session and message ids are identifiers, not phone
// numbers: a digit-heavy Call-ID (sipp -cid_str '5551234567-%u@%s', PBX call ids) stays readable
// so a call can be followed, while a number under any other key is still masked.
func TestHandlerKeepsIdentifiers(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	log.With("call_id", "5551234567-1@127.0.0.1").Info("call ended",
		"session_id", "9665012345670000", "wa_msg_id", "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgS", "from", number)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, want string }{
		{"call_id", "5551234567-1@127.0.0.1"},
		{"session_id", "9665012345670000"},
		{"wa_msg_id", "wamid.HBgMOTY2NTAxMjM0NTY3FQIAERgS"},
		{"from", masked},
	}
	for _, tt := range tests {
		if got[tt.key] != tt.want {
			t.Errorf("%s = %v, want %q", tt.key, got[tt.key], tt.want)
		}
	}
}
