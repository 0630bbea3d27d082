package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
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
		csvPath, template, keyColumn, report, region, gateway string
		dryRun, requireOptIn, noProgress                      bool
		concurrency                                           int
	)
	cmd := &cobra.Command{
		Use:   "notify --csv FILE --template NAME",
		Short: "Send proactive template notifications from a CSV file",
		Long: `Send an approved template to every row of a CSV file.

The file has a header row; column "phone" is required, "language" and "send_at" are optional, every
other column in order is a body parameter. Each row has an idempotency key (file hash + line, or
--key-column): running the same file again sends nothing twice. Opted-out numbers are skipped.
Rows not sent are written with their line numbers to the report file. Rows with a future send_at
are stored and sent by a running gateway (needs store.backend redis).

--gateway URL sends the rows through a running gateway's notifications API (token from the
environment, DEFLECTD_API_TOKEN, admin scope): its store keeps the keys, its WhatsApp client (or
sandbox) sends. With the embedded default (memory store, sandbox, no whatsapp.base_url) a real run
needs it: a notify process alone would send into a private sandbox nobody sees and forget what it
sent. With the sandbox provider every row is checked against the template definitions (name,
language, number of body parameters) before anything is sent, dry runs included.`,
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
			if gateway != "" {
				return notifyThroughGateway(cmd.Context(), g, gatewayRun{url: gateway, template: template,
					dryRun: dryRun, rows: rows, problems: problems, report: reportPath(report, csvPath)})
			}
			if !dryRun && cfg.Store.Backend == "memory" && cfg.WhatsApp.Provider == "sandbox" && cfg.WhatsApp.BaseURL == "" {
				return usageErr(errors.New("notify: with a memory store and the sandbox provider (the embedded default) this " +
					"process would send into its own private sandbox, which no gateway shows, and forget what it sent. " +
					"Send through the running gateway: DEFLECTD_API_TOKEN=<admin token> deflectd notify --gateway http://127.0.0.1:8080 " +
					"--csv FILE --template NAME; or configure store.backend redis and whatsapp.base_url; --dry-run checks the file here"))
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
				Templates: notifyTemplates(cfg),
			}, log)
			if err := n.CheckTemplate(); err != nil {
				return usageErr(fmt.Errorf("--template: %w", err))
			}

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
			if cmd.Context().Err() != nil {
				_ = printNotifySummary(g, reportPath(report, csvPath), len(rows), len(problems), sum)
				return errors.New("interrupted: run the same command again to send the rest")
			}
			return printNotifySummary(g, reportPath(report, csvPath), len(rows), len(problems), sum)
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
	f.StringVar(&gateway, "gateway", "", "send through a running gateway's API at this URL (token from env DEFLECTD_API_TOKEN)")
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

func reportPath(report, csvPath string) string {
	if report == "" {
		return csvPath + ".report.csv"
	}
	return report
}

// printNotifySummary writes the report and prints the counts; an error when rows failed or do
// not fit the template.
func printNotifySummary(g *globals, report string, valid, invalid int, sum notify.Summary) error {
	if err := writeReport(report, sum.Problems); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "rows: %d valid, %d invalid\n", valid, invalid)
	for _, k := range []string{notify.OutSent, notify.OutScheduled, notify.OutWouldSend, notify.OutDuplicate,
		notify.OutOptedOut, notify.OutInvalid, notify.OutFailed, notify.OutUncertain} {
		if sum.Counts[k] > 0 {
			fmt.Fprintf(g.stdout, "%-10s %d\n", k+":", sum.Counts[k])
		}
	}
	fmt.Fprintf(g.stdout, "report: %s (%d rows not sent)\n", report, len(sum.Problems))
	if n := sum.Counts[notify.OutInvalid]; n > 0 {
		return fmt.Errorf("%d rows do not fit the template; see the report", n)
	}
	if n := sum.Counts[notify.OutFailed]; n > 0 {
		return fmt.Errorf("%d rows failed; see the report, a re-run retries them", n)
	}
	return nil
}

// notifyTemplates are the template shapes rows are checked against: the sandbox's templates
// (the definitions it starts with, and whatsapp.sandbox.templates, which replace a definition's).
// With the Cloud API they are Meta's, not read here: nil, nothing is checked before sending.
func notifyTemplates(cfg configs.Config) []notify.TemplateDef {
	if cfg.WhatsApp.Provider != "sandbox" {
		return nil
	}
	var defs []notify.TemplateDef
	extra := map[string]bool{}
	for _, t := range cfg.WhatsApp.Sandbox.Templates {
		extra[t.Name] = true
		defs = append(defs, notify.TemplateDef{Name: t.Name, Languages: t.Languages, BodyParams: t.BodyParams})
	}
	if !cfg.WhatsApp.Sandbox.SeedTemplates {
		return defs
	}
	seeded, _ := configs.LoadTemplates(cfg.WhatsApp.TemplatesFile) // validated with the configuration
	for _, d := range seeded {
		if extra[d.Name] {
			continue
		}
		nd := notify.TemplateDef{Name: d.Name}
		for _, lang := range slices.Sorted(maps.Keys(d.Languages)) {
			nd.Languages = append(nd.Languages, lang)
			nd.BodyParams = d.Languages[lang].BodyParams()
		}
		defs = append(defs, nd)
	}
	return defs
}
