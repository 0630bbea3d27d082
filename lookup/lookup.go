// Package lookup normalises caller numbers (E.164, region, number type) and answers whether a
// number is on WhatsApp (Presence).
package lookup

import (
	"context"
	"fmt"
	"time"
)

// NumberType is the kind of line behind a number, as libphonenumber classifies it.
type NumberType string

// Number types deflectd distinguishes; names are the config values of deflect.allowed_types.
const (
	TypeMobile            NumberType = "mobile"
	TypeFixedLine         NumberType = "fixed-line"
	TypeFixedLineOrMobile NumberType = "fixed-line-or-mobile"
	TypeVoIP              NumberType = "voip"
	TypeTollFree          NumberType = "toll-free"
	TypePremium           NumberType = "premium"
	TypeSharedCost        NumberType = "shared-cost"
	TypePersonal          NumberType = "personal"
	TypePager             NumberType = "pager"
	TypeUAN               NumberType = "uan"
	TypeVoicemail         NumberType = "voicemail"
	TypeUnknown           NumberType = "unknown"
)

// Number is a normalised phone number.
type Number struct {
	Raw    string     `json:"raw"`
	E164   string     `json:"e164"`
	Region string     `json:"region"`
	Type   NumberType `json:"type"`
	Valid  bool       `json:"valid"`
}

// Status is what is known about a number being on WhatsApp.
type Status int

// Presence statuses.
const (
	Unknown Status = iota
	Yes
	No
)

func (s Status) String() string {
	switch s {
	case Yes:
		return "yes"
	case No:
		return "no"
	default:
		return "unknown"
	}
}

// ParseStatus reads "yes", "no" or "unknown" (the String forms).
func ParseStatus(s string) (Status, error) {
	switch s {
	case "yes":
		return Yes, nil
	case "no":
		return No, nil
	case "unknown", "":
		return Unknown, nil
	default:
		return Unknown, fmt.Errorf("parse presence status: %q is not yes, no or unknown", s)
	}
}

// MarshalText makes JSON and YAML carry "yes", "no" or "unknown".
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the MarshalText form.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Answer is a presence status with where and when it was learned.
type Answer struct {
	Status  Status    `json:"status"`
	Source  string    `json:"source"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
}

// Presence answers whether e164 is on WhatsApp. Implementations never block past their budget:
// when they cannot tell in time the answer is Unknown.
type Presence interface {
	Status(ctx context.Context, e164 string) (Answer, error)
}
