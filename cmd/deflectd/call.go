package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/ivr"
)

// newCallCmd is `deflectd call`: a real test call (SIP + RTP + RFC 4733) against any gateway.
func newCallCmd(g *globals) *cobra.Command {
	var (
		o       ivr.CallOptions
		headers []string
		quiet   bool
		wa      whatsappCall
		waMode  bool
	)
	cmd := &cobra.Command{
		Use:   "call sip:URI --from NUMBER [--press DIGITS] [--header K:V]",
		Short: "Place a test call: prints responses, audio received and the X-Deflect-Result",
		Example: "  deflectd call sip:ivr@127.0.0.1:5060 --from +966501234567 --press 1\n" +
			"  deflectd call sip:ivr@127.0.0.1:5060 --from +966501234567 --header X-Queue:billing --transport tcp\n" +
			"  deflectd call --whatsapp --gateway http://127.0.0.1:8080 --from 966501234567 --duration 10s\n" +
			"  DEFLECTD_CALL_PASSWORD=... deflectd call --whatsapp tls://127.0.0.1:5061 --from 966501234567 --auth-user 15550001111 --ca cert.pem",
		Args: func(_ *cobra.Command, args []string) error {
			if waMode && len(args) <= 1 {
				return nil
			}
			if len(args) != 1 {
				return usageErr(fmt.Errorf("call needs one target URI, got %d arguments", len(args)))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if waMode {
				wa.from, wa.user, wa.timeout = o.From, o.Username, o.Timeout
				wa.payloadS = cmd.Flags().Changed("payload")
				target := ""
				if len(args) == 1 {
					target = args[0]
				}
				return wa.run(cmd.Context(), g, target)
			}
			o.Target = args[0]
			if err := checkCall(o, headers); err != nil {
				return err
			}
			o.Headers = headers
			if o.Username != "" {
				// From the environment, not a flag: a flag shows in ps and shell history.
				for _, kv := range g.environ {
					if v, ok := strings.CutPrefix(kv, "DEFLECTD_CALL_PASSWORD="); ok {
						o.Password = v
					}
				}
			}
			if !quiet {
				o.OnEvent = func(line string) { fmt.Fprintln(g.stdout, line) }
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			rep, err := ivr.Dial(ctx, o)
			printReport(g, rep)
			if err != nil {
				return err
			}
			if !rep.Completed() {
				return fmt.Errorf("call did not complete (final status %d)", rep.FinalStatus)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "caller number (+966501234567) or a sip:/tel: URI")
	f.StringVar(&o.Press, "press", "", "DTMF digits to press after answer (e.g. 1)")
	f.DurationVar(&o.PressAfter, "press-after", 2*time.Second, "delay from answer to the first digit")
	f.DurationVar(&o.PressGap, "press-gap", time.Second, "delay between digits")
	f.StringVar(&o.PressVia, "dtmf", "rfc4733", "how to send digits: rfc4733 or info")
	f.StringArrayVar(&headers, "header", nil, "extra INVITE header Name:value (repeatable)")
	f.StringVar(&o.Transport, "transport", "udp", "udp or tcp")
	f.DurationVar(&o.Timeout, "timeout", 60*time.Second, "give up (and hang up) after this long")
	f.DurationVar(&o.HangupAfter, "hangup-after", 0, "hang up this long after answer (0: wait for the gateway)")
	f.BoolVar(&o.LateOffer, "late-offer", false, "send the INVITE without SDP")
	f.StringVar(&o.Username, "auth-user", "", "digest user for a gateway with sip.auth (password from env DEFLECTD_CALL_PASSWORD)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the summary")
	f.BoolVar(&waMode, "whatsapp", false, "place a WhatsApp call as Meta delivers one (TLS, digest, SDES-SRTP): through --gateway's sandbox, or to a tls://host:port voice listener")
	wa.flags(f)
	return cmd
}

// checkCall rejects a test call's bad flags before anything is sent (exit 2).
func checkCall(o ivr.CallOptions, headers []string) error {
	if !strings.HasPrefix(strings.ToLower(o.Target), "sip:") {
		return usageErr(fmt.Errorf("target %q is not a sip: URI", o.Target))
	}
	if o.From == "" {
		return usageErr(errors.New("--from is required"))
	}
	for _, d := range o.Press {
		if !strings.ContainsRune("0123456789*#ABCD", d) {
			return usageErr(fmt.Errorf("--press: %q is not a DTMF digit", d))
		}
	}
	switch o.Transport {
	case "udp", "tcp":
	default:
		return usageErr(fmt.Errorf("--transport must be udp or tcp, got %q", o.Transport))
	}
	switch o.PressVia {
	case "rfc4733", "info":
	default:
		return usageErr(fmt.Errorf("--dtmf must be rfc4733 or info, got %q", o.PressVia))
	}
	for _, h := range headers {
		if name, _, ok := strings.Cut(h, ":"); !ok || strings.TrimSpace(name) == "" {
			return usageErr(fmt.Errorf("--header %q is not Name:value", h))
		}
	}
	return nil
}

func printReport(g *globals, r ivr.CallReport) {
	w := g.stdout
	final := "none"
	if len(r.Responses) > 0 {
		final = r.Responses[len(r.Responses)-1]
	}
	fmt.Fprintf(w, "final response: %s\n", final)
	if r.Answered {
		fmt.Fprintf(w, "audio received: %d packets (%.1f s), %d RTP packets in all\n", r.RTP.AudioPackets, r.RTP.Seconds(), r.RTP.Packets)
		if r.DigitsSent != "" {
			fmt.Fprintf(w, "digits sent: %s\n", r.DigitsSent)
		}
		ended := r.EndedBy
		if ended == "" {
			ended = "timeout"
		}
		fmt.Fprintf(w, "ended by: %s\n", ended)
		if r.ReferTo != "" {
			fmt.Fprintf(w, "referred to: %s\n", r.ReferTo)
		}
	}
	result := r.Result
	if result == "" {
		result = "(none)"
	}
	fmt.Fprintf(w, "X-Deflect-Result: %s\n", result)
	fmt.Fprintf(w, "duration: %s\n", r.Duration.Round(10*time.Millisecond))
}
