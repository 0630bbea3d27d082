package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// graphAPI returns where the WhatsApp client of a one-shot command sends: whatsapp.base_url, or,
// with the sandbox provider and no base_url, a sandbox started in this process on loopback (a dry
// rehearsal: to go through a running gateway's sandbox, set whatsapp.base_url to its
// /sandbox/graph URL and the same whatsapp.access_token on both).
func graphAPI(cfg *configs.Config, log *slog.Logger) (baseURL string, stop func(), err error) {
	if cfg.WhatsApp.BaseURL != "" || cfg.WhatsApp.Provider != "sandbox" {
		return cfg.WhatsApp.BaseURL, func() {}, nil
	}
	if !cfg.WhatsApp.AccessToken.IsSet() {
		cfg.WhatsApp.AccessToken = configs.Secret(randomHex(16))
	}
	sbCfg := sandbox.FromConfig(*cfg)
	sbCfg.WebhookURL = "" // nobody listens: statuses are only recorded
	sb := sandbox.New(sbCfg, log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("start sandbox: %w", err)
	}
	srv := &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close(); sb.Close() }, nil
}

func newNotifyCmd(g *globals) *cobra.Command {
	var (
		csvPath, template, keyColumn, report, region string
		dryRun, requireOptIn, noProgress             bool
		concurrency                                  int
	)
	cmd := &cobra.Command{
		Use:   "notify --csv FILE --template NAME",
		Short: "Send proactive template notifications from a CSV file",
		Long: `Send an approved template to every row of a CSV file.

The file has a header row; column "phone" is required, "language" and "send_at" are optional, every
other column in order is a body parameter. Each row has an idempotency key (file hash + line, or
--key-column): running the same file again sends nothing twice. Opted-out numbers are skipped.
Rows not sent are written with their line numbers to the report file. Rows with a future send_at
are stored and sent by a running gateway (needs store.backend redis).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if csvPath == "" || template == "" {
				return usageErr(errors.New("--csv and --template are required"))
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(csvPath)
			if err != nil {
				return usageErr(fmt.Errorf("read csv: %w", err))
			}
			if region == "" {
				region = cfg.Lookup.DefaultRegion
			}
			rows, problems, err := notify.ParseCSV(data, notify.CSVOptions{KeyColumn: keyColumn, Region: region})
			if err != nil {
				return usageErr(err)
			}
			for _, r := range rows {
				if r.SendAt.After(time.Now()) && cfg.Store.Backend != "redis" && !dryRun {
					return usageErr(fmt.Errorf("line %d is scheduled (send_at); scheduled rows need store.backend redis so that a running gateway sends them", r.Line))
				}
			}
			log := g.logger(cfg.Log)
			st, err := openStore(cfg.Store)
			if err != nil {
				return err
			}
			defer st.Close()
			baseURL, stopSandbox, err := graphAPI(&cfg, log)
			if err != nil {
				return err
			}
			defer stopSandbox()
			client, err := newCloudAPIClient(cfg.WhatsApp, baseURL, st, log, nil)
			if err != nil {
				return err
			}
			n := notify.New(st, client, notify.Config{
				Template: template, Languages: cfg.Deflect.Template.Languages, DefaultLanguage: cfg.IVR.DefaultLanguage,
				Concurrency: concurrency, RequireOptIn: requireOptIn, DryRun: dryRun,
			}, log)

			var bar *progressbar.ProgressBar
			if !noProgress {
				bar = progressbar.NewOptions(len(rows), progressbar.OptionSetWriter(g.stderr),
					progressbar.OptionSetDescription("notify "+template), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.stderr) }))
			}
			sum := n.Run(cmd.Context(), rows, func(notify.Result) {
				if bar != nil {
					_ = bar.Add(1)
				}
			})
			sum.Problems = append(problems, sum.Problems...)
			if report == "" {
				report = csvPath + ".report.csv"
			}
			if err := writeReport(report, sum.Problems); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "rows: %d valid, %d invalid\n", len(rows), len(problems))
			for _, k := range []string{notify.OutSent, notify.OutScheduled, notify.OutWouldSend, notify.OutDuplicate, notify.OutOptedOut, notify.OutFailed, notify.OutUncertain} {
				if sum.Counts[k] > 0 {
					fmt.Fprintf(g.stdout, "%-10s %d\n", k+":", sum.Counts[k])
				}
			}
			fmt.Fprintf(g.stdout, "report: %s (%d rows not sent)\n", report, len(sum.Problems))
			if cmd.Context().Err() != nil {
				return errors.New("interrupted: run the same command again to send the rest")
			}
			if sum.Counts[notify.OutFailed] > 0 {
				return fmt.Errorf("%d rows failed; see the report, a re-run retries them", sum.Counts[notify.OutFailed])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&csvPath, "csv", "", "CSV file (header row; phone, optional language and send_at, then body parameters)")
	f.StringVar(&template, "template", "", "approved template name")
	f.StringVar(&keyColumn, "key-column", "", "column holding each row's idempotency key (default: file hash + line)")
	f.StringVar(&report, "report", "", "report file of rows not sent (default FILE.report.csv)")
	f.StringVar(&region, "region", "", "region for national numbers (default lookup.default_region)")
	f.BoolVar(&dryRun, "dry-run", false, "check the file and opt-outs, send nothing")
	f.BoolVar(&requireOptIn, "require-opt-in", false, "send only to numbers with an opt-in on record")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	f.IntVar(&concurrency, "concurrency", 16, "parallel sends (the throughput limit still applies)")
	return cmd
}

func writeReport(path string, problems []notify.Problem) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"line", "phone", "reason"})
	for _, p := range problems {
		_ = w.Write([]string{strconv.Itoa(p.Line), p.Phone, p.Reason})
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}
