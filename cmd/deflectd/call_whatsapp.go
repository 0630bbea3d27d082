package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/deflectd/deflectd/ivr/voice/metasim"
)

// whatsappCall is `deflectd call --whatsapp`: a WhatsApp call to the business the way Meta
// delivers one (TLS, digest, SDES-SRTP, G.711), either through a running gateway's sandbox
// (--gateway: it knows the SIP password and the customer's last call button) or straight to a
// voice listener (tls://host:port) with the password in DEFLECTD_CALL_PASSWORD.
type whatsappCall struct {
	gateway  string
	from     string // the customer's WhatsApp id
	payload  string
	payloadS bool // --payload given (even empty)
	duration time.Duration
	caFile   string
	user     string
	timeout  time.Duration
}

// flags are the --whatsapp mode's own (--from, --auth-user and --timeout are shared).
func (w *whatsappCall) flags(f *pflag.FlagSet) {
	f.StringVar(&w.gateway, "gateway", "", "with --whatsapp: a running gateway whose sandbox places the call")
	f.StringVar(&w.payload, "payload", "", "with --whatsapp: the call button payload (default through the sandbox: the last button the customer got)")
	f.DurationVar(&w.duration, "duration", 10*time.Second, "with --whatsapp: the customer hangs up after this long")
	f.StringVar(&w.caFile, "ca", "", "with --whatsapp tls://...: PEM certificate(s) to trust for the voice listener")
}

func (w whatsappCall) run(ctx context.Context, g *globals, target string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	w.from = strings.TrimPrefix(w.from, "+")
	if w.from == "" {
		return usageErr(errors.New("--from (the customer's WhatsApp number) is required"))
	}
	if w.duration <= 0 || w.duration > 10*time.Minute {
		return usageErr(fmt.Errorf("--duration must be between 0 and 10m, got %s", w.duration))
	}
	var rep metasim.Report
	var err error
	switch {
	case target == "" && w.gateway == "":
		return usageErr(errors.New("--whatsapp needs --gateway URL (the sandbox calls) or a tls://host:port target"))
	case target == "":
		rep, err = w.viaSandbox(ctx)
	default:
		rep, err = w.direct(ctx, g, target)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "final response: %d %s\n", rep.Status, rep.Reason)
	if rep.Answered {
		fmt.Fprintf(g.stdout, "codec: %s\naudio: %d SRTP packets sent, %d received\ntalk: %.1f s\nended by: %s\n",
			rep.Codec, rep.Sent, rep.Received, float64(rep.TalkMS)/1000, rep.EndedBy)
	}
	return nil
}

func (w whatsappCall) viaSandbox(ctx context.Context) (metasim.Report, error) {
	body := map[string]any{"duration": w.duration.String()}
	if w.payloadS {
		body["payload"] = w.payload
	}
	b, _ := json.Marshal(body)
	url := strings.TrimRight(w.gateway, "/") + "/sandbox/graph/_sandbox/customers/" + w.from + "/call"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(b)))
	if err != nil {
		return metasim.Report{}, usageErr(fmt.Errorf("--gateway: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: w.duration + w.timeout}).Do(req)
	if err != nil {
		return metasim.Report{}, fmt.Errorf("ask the gateway's sandbox to call: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return metasim.Report{}, fmt.Errorf("the sandbox did not call (%s): %s", resp.Status, strings.TrimSpace(string(data)))
	}
	var rep metasim.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return metasim.Report{}, fmt.Errorf("read the sandbox's call report: %w", err)
	}
	return rep, nil
}

func (w whatsappCall) direct(ctx context.Context, g *globals, target string) (metasim.Report, error) {
	hp, ok := strings.CutPrefix(target, "tls://")
	if !ok {
		return metasim.Report{}, usageErr(fmt.Errorf("--whatsapp target %q is not tls://host:port", target))
	}
	ap, err := resolveAddrPort(hp)
	if err != nil {
		return metasim.Report{}, usageErr(fmt.Errorf("--whatsapp target: %w", err))
	}
	host, _, _ := strings.Cut(hp, ":")
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if w.caFile != "" {
		pem, err := os.ReadFile(w.caFile)
		if err != nil {
			return metasim.Report{}, usageErr(fmt.Errorf("--ca: %w", err))
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return metasim.Report{}, usageErr(fmt.Errorf("--ca %s holds no PEM certificate", w.caFile))
		}
	}
	password := ""
	for _, kv := range g.environ {
		if v, ok := strings.CutPrefix(kv, "DEFLECTD_CALL_PASSWORD="); ok {
			password = v
		}
	}
	media := ap.Addr()
	if !media.IsLoopback() {
		media = netip.IPv4Unspecified()
	}
	return metasim.Place(ctx, metasim.Call{Target: ap, TLS: tc, Business: w.user, WAID: w.from, Payload: w.payload,
		User: w.user, Password: password, Duration: w.duration, MediaIP: media, Timeout: w.timeout},
		slog.New(slog.DiscardHandler))
}
