package configs

import (
	"fmt"
	"log/slog"
)

// Secret is a string that never prints: fmt, String, JSON, YAML, text and slog forms are redacted.
// Reveal gives the value to the one place that needs it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether a value is configured.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

func (s Secret) String() string               { return s.mask() }
func (s Secret) GoString() string             { return `"` + s.mask() + `"` }
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }
func (s Secret) MarshalYAML() (any, error)    { return s.mask(), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(s.mask()) }

// Format covers every fmt verb, %s %v %q %x included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.mask())) }
