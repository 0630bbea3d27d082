package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/lookup"
)

func newCheckNumberCmd(g *globals) *cobra.Command {
	var (
		region string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "check-number NUMBER",
		Short: "Normalise a number and show whether deflectd would offer WhatsApp to it",
		Long: `Normalise NUMBER (E.164, national with --region, tel: or sip: URI, display-name form) and print
its E.164 form, region, line type, whether it passes the number rules of deflect.* (allowed_types —
the mobile-only rule —, regions, business hours now) and what presence knows about it, with the
source: stored facts on store.backend, the static lists of lookup.presence, the HTTP checker if
configured. The per-call rules (wait estimate, cooldown, opt-out, chat capacity) are not checked.

A NUMBER that is not a phone number exits with status 2.`,
		Example: `  deflectd check-number "+966 50 123 4567"
  deflectd check-number "050 123 4567" --region SA --json
  deflectd check-number 'sip:+966501234567@pbx;user=phone'`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErr(fmt.Errorf("check-number takes one NUMBER, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if region == "" {
				region = cfg.Lookup.DefaultRegion
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			rep, err := checkNumber(ctx, cfg, args[0], strings.ToUpper(region), g.logger(cfg.Log))
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if werr := enc.Encode(rep); werr != nil {
					return werr
				}
			} else if rep.E164 != "" {
				if werr := rep.print(g.stdout); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&region, "region", "r", "", "region of national numbers, ISO 3166 such as SA (default lookup.default_region)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (for scripts)")
	return cmd
}

// numberReport is what check-number prints.
type numberReport struct {
	Raw          string            `json:"raw"`
	E164         string            `json:"e164,omitempty"`
	Region       string            `json:"region,omitempty"`
	Type         lookup.NumberType `json:"type,omitempty"`
	Valid        bool              `json:"valid"`
	Error        string            `json:"error,omitempty"`
	Eligible     bool              `json:"eligible"`
	Reason       string            `json:"reason,omitempty"` // deflect reason code, as in X-Deflect-Result
	Why          string            `json:"why,omitempty"`
	AllowedTypes []string          `json:"allowed_types"`
	Presence     *presenceReport   `json:"presence,omitempty"`
}

type presenceReport struct {
	Status  lookup.Status `json:"status"`
	Source  string        `json:"source,omitempty"`
	Since   *time.Time    `json:"since,omitempty"`
	Expires *time.Time    `json:"expires,omitempty"`
}

// checkNumber builds the report. A number that does not normalise is the user's input: the
// error is a usage error (exit 2); the report still says what is known.
func checkNumber(ctx context.Context, cfg configs.Config, raw, region string, log *slog.Logger) (numberReport, error) {
	rep := numberReport{Raw: raw, AllowedTypes: cfg.Deflect.AllowedTypes}
	n, nerr := lookup.Normalize(raw, region)
	rep.E164, rep.Region, rep.Type, rep.Valid = n.E164, n.Region, n.Type, n.Valid
	if nerr != nil {
		rep.Error = strings.TrimPrefix(nerr.Error(), "normalize number: ")
		rep.Reason = deflect.ReasonInvalidNumber
		rep.Why = rep.Error
		if !errors.Is(nerr, lookup.ErrInvalid) || n.E164 == "" {
			rep.E164, rep.Region, rep.Type = "", "", ""
		}
		return rep, usageErr(fmt.Errorf("check number %q: %s", raw, rep.Error))
	}

	policy, err := deflect.NewPolicy(cfg.Deflect)
	if err != nil {
		return rep, err
	}
	facts, closeFacts, err := openPresenceFacts(cfg.Store, false)
	if err != nil {
		return rep, err
	}
	defer closeFacts()
	chain, err := lookup.NewPresence(cfg.Lookup, facts, nil, lookup.WithLogger(log))
	if err != nil {
		return rep, usageErr(err) // a bad static list is configuration: the user's input
	}
	defer chain.Close()
	ans, err := chain.Status(ctx, n.E164)
	if err != nil {
		return rep, err
	}
	rep.Presence = &presenceReport{Status: ans.Status, Source: ans.Source}
	if !ans.Since.IsZero() {
		rep.Presence.Since = &ans.Since
	}
	if !ans.Expires.IsZero() {
		rep.Presence.Expires = &ans.Expires
	}

	// A call that waited long enough, no earlier offers, not opted out: the number's own rules.
	rep.Reason = policy.Check(deflect.Facts{
		Number:       n,
		WaitEstimate: int(cfg.Deflect.MinWait / time.Second),
		Now:          time.Now(),
		Presence:     ans.Status,
	})
	rep.Eligible = rep.Reason == ""
	rep.Why = explain(rep.Reason, n, ans, cfg.Deflect)
	return rep, nil
}

func explain(reason string, n lookup.Number, a lookup.Answer, d configs.DeflectConfig) string {
	switch {
	case reason == "":
		return ""
	case reason == deflect.ReasonNotMobile || strings.HasSuffix(reason, "-not-allowed"):
		return fmt.Sprintf("type %s is not in deflect.allowed_types [%s]", n.Type, strings.Join(d.AllowedTypes, ", "))
	case reason == deflect.ReasonRegion:
		return fmt.Sprintf("region %s is not in deflect.regions [%s]", n.Region, strings.Join(d.Regions, ", "))
	case reason == deflect.ReasonClosed:
		return "outside deflect.business_hours now"
	case reason == deflect.ReasonNotOnWhatsApp:
		return fmt.Sprintf("not on WhatsApp according to %s", a.Source)
	case reason == deflect.ReasonPresenceUnknown:
		return "presence unknown and deflect.unknown_presence is skip"
	case reason == deflect.ReasonWaitUnknown, reason == deflect.ReasonWaitTooShort:
		return "wait estimate rule"
	default:
		return reason
	}
}

func (r numberReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	fmt.Fprintf(tw, "number\t%s\n", r.E164)
	fmt.Fprintf(tw, "region\t%s\n", r.Region)
	fmt.Fprintf(tw, "type\t%s\n", r.Type)
	if !r.Valid {
		fmt.Fprintf(tw, "valid\tno (%s)\n", r.Error)
	}
	if r.Presence != nil {
		p := r.Presence.Status.String()
		switch {
		case r.Presence.Source != "" && r.Presence.Expires != nil:
			p += fmt.Sprintf(" (source %s, until %s)", r.Presence.Source, r.Presence.Expires.UTC().Format(time.DateTime))
		case r.Presence.Source != "":
			p += fmt.Sprintf(" (source %s)", r.Presence.Source)
		default:
			p += " (no source knows this number)"
		}
		fmt.Fprintf(tw, "presence\t%s\n", p)
	}
	mobile := "n/a"
	if r.Type != "" {
		mobile = yesNo(len(r.AllowedTypes) == 0 || slices.Contains(r.AllowedTypes, string(r.Type)))
		mobile += fmt.Sprintf(" (deflect.allowed_types [%s])", strings.Join(r.AllowedTypes, ", "))
	}
	fmt.Fprintf(tw, "type allowed\t%s\n", mobile)
	elig := yesNo(r.Eligible)
	if !r.Eligible && r.Reason != "" {
		elig += fmt.Sprintf(" (%s: %s)", r.Reason, r.Why)
	}
	fmt.Fprintf(tw, "eligible\t%s\n", elig)
	return tw.Flush()
}
