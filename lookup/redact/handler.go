package redact

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"

	"github.com/deflectd/deflectd/configs"
)

// Handler is a slog.Handler that masks phone numbers (Mask) in the message and in every
// attribute before the inner handler sees them: strings, groups at any depth, LogValuers
// (resolved first), errors, fmt.Stringers, encoding.TextMarshalers and any other value whose
// printed form would show a number.
type Handler struct {
	inner slog.Handler
}

// NewHandler wraps inner with masking.
func NewHandler(inner slog.Handler) slog.Handler { return &Handler{inner: inner} }

// Logger builds the process logger from cfg: text or JSON on w at cfg.Level (info when
// unparseable), wrapped by the masking Handler.
func Logger(cfg configs.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if cfg.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(NewHandler(h))
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(maskAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	masked := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		masked[i] = maskAttr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(masked)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}

// identifiers are attribute keys whose values name a call, a session or a message: they are
// kept as they are, so that a call can be followed through the logs. PBXs make digit-heavy
// Call-IDs (5551234567-1@pbx) that would otherwise be masked like phone numbers.
var identifiers = map[string]bool{
	"call_id": true, "session_id": true, "wa_msg_id": true, "message_id": true, "request_id": true,
}

func maskAttr(a slog.Attr) slog.Attr {
	if identifiers[a.Key] && a.Value.Kind() == slog.KindString {
		return a
	}
	a.Value = maskValue(a.Value)
	return a
}

func maskValue(v slog.Value) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if m := Mask(s); m != s {
			return slog.StringValue(m)
		}
		return v
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, a := range g {
			out[i] = maskAttr(a)
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return maskAny(v)
	default: // numbers, bools, times, durations: an int64 phone number is not caught here
		return v
	}
}

// maskAny masks values the inner handler would print via Error, String, MarshalText or %+v.
// When nothing needs masking the value passes through untouched, so JSON output keeps its
// structure; otherwise it becomes the masked string.
func maskAny(v slog.Value) slog.Value {
	var s string
	switch x := v.Any().(type) {
	case nil:
		return v
	case error:
		s = x.Error()
	case fmt.Stringer:
		s = x.String()
	case encoding.TextMarshaler:
		b, err := x.MarshalText()
		if err != nil {
			return v
		}
		s = string(b)
	case []byte:
		s = string(x)
	default:
		s = fmt.Sprintf("%+v", x)
	}
	if m := Mask(s); m != s {
		return slog.StringValue(m)
	}
	return v
}
