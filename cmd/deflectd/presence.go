package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/api"
	"github.com/deflectd/deflectd/lookup"
)

// The presence chain serves the API's inspect/override/forget as is.
var _ api.PresenceAdmin = (*lookup.Chain)(nil)

// maxInvalidPrinted bounds the invalid rows printed; --report gets all of them.
const maxInvalidPrinted = 20

func newPresenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "presence", Short: "Manage what deflectd knows about numbers being on WhatsApp"}
	cmd.AddCommand(newPresenceImportCmd(g))
	return cmd
}

func newPresenceImportCmd(g *globals) *cobra.Command {
	var (
		csvPath, region, report string
		dryRun, noProgress      bool
	)
	cmd := &cobra.Command{
		Use:   "import --csv FILE",
		Short: "Pre-warm presence facts from a CSV file (columns phone, whatsapp)",
		Long: `Load what a CRM already knows about numbers being on WhatsApp.

The file has a header row with the columns phone and whatsapp (any order; other columns are
ignored); whatsapp is yes/no/true/false/1/0. National numbers are read with --region (default
lookup.default_region). Valid rows are stored with source "import" for lookup.presence.yes_ttl or
no_ttl in the configured store, which must be shared (store.backend redis): a memory store would
forget everything when this command exits, so it is only accepted with --dry-run, which checks
the file. Invalid rows are listed with their line numbers (all of them in --report FILE).`,
		Example: `  DEFLECTD_STORE_BACKEND=redis deflectd presence import --csv crm-export.csv
  deflectd presence import --csv crm-export.csv --dry-run --report invalid.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if csvPath == "" {
				return usageErr(errors.New("--csv FILE is required"))
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.Store.Backend == "memory" && !dryRun {
				return usageErr(errors.New("store.backend is memory: the imported facts would vanish when this command exits; " +
					"set store.backend redis (env DEFLECTD_STORE_BACKEND=redis) or check the file with --dry-run"))
			}
			data, err := os.ReadFile(csvPath)
			if err != nil {
				return usageErr(fmt.Errorf("read csv: %w", err))
			}
			if region == "" {
				region = cfg.Lookup.DefaultRegion
			}
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			log := g.logger(cfg.Log)
			facts, closeFacts, err := openPresenceFacts(cfg.Store, dryRun)
			if err != nil {
				return err
			}
			defer closeFacts()
			if p, ok := facts.(interface{ Ping(context.Context) error }); ok {
				pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := p.Ping(pctx)
				cancel()
				if err != nil {
					return fmt.Errorf("presence import: %w", err)
				}
			}
			chain, err := lookup.NewPresence(cfg.Lookup, facts, nil, lookup.WithLogger(log))
			if err != nil {
				return usageErr(err)
			}
			defer chain.Close()

			var progress func(int)
			if !noProgress {
				rows := max(bytes.Count(data, []byte{'\n'})-1, 1) // an estimate: quoted fields may span lines
				if len(data) > 0 && data[len(data)-1] != '\n' {
					rows++
				}
				bar := progressbar.NewOptions(rows, progressbar.OptionSetWriter(g.stderr),
					progressbar.OptionSetDescription("presence import"), progressbar.OptionShowCount(),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionOnCompletion(func() { fmt.Fprintln(g.stderr) }))
				progress = func(done int) { _ = bar.Set(min(done, rows)) }
				defer func() { _ = bar.Finish() }()
			}
			rep, err := chain.ImportCSV(ctx, bytes.NewReader(data), region, progress)
			if rep.Rows == 0 && err != nil {
				return usageErr(err) // header problems: the file is the user's input
			}
			target := cfg.Store.Backend
			if dryRun {
				target = "nowhere (dry run)"
			}
			if perr := printImportReport(g.stdout, rep, target); perr != nil {
				return perr
			}
			if report != "" {
				if werr := writeInvalidReport(report, rep); werr != nil {
					return werr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&csvPath, "csv", "", "CSV file with the columns phone and whatsapp (required)")
	f.StringVarP(&region, "region", "r", "", "region of national numbers (default lookup.default_region)")
	f.BoolVar(&dryRun, "dry-run", false, "check the file, store nothing")
	f.StringVar(&report, "report", "", "write every invalid row (line, masked phone, reason) to this CSV file")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar")
	return cmd
}

func printImportReport(w io.Writer, rep lookup.ImportReport, target string) error {
	verb := "stored"
	if target == "nowhere (dry run)" {
		verb = "valid"
	}
	if _, err := fmt.Fprintf(w, "%d rows read, %d %s (%d yes, %d no) in %s, %d invalid\n",
		rep.Rows, rep.Stored, verb, rep.Yes, rep.No, target, rep.InvalidTotal); err != nil {
		return err
	}
	for i, inv := range rep.Invalid {
		if i == maxInvalidPrinted {
			_, err := fmt.Fprintf(w, "  ... and %d more (use --report FILE for all)\n", rep.InvalidTotal-maxInvalidPrinted)
			return err
		}
		phone := inv.Phone
		if phone == "" {
			phone = "-"
		}
		if _, err := fmt.Fprintf(w, "  line %d: %s: %s\n", inv.Line, phone, inv.Reason); err != nil {
			return err
		}
	}
	return nil
}

func writeInvalidReport(path string, rep lookup.ImportReport) error {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"line", "phone", "reason"})
	for _, inv := range rep.Invalid {
		_ = cw.Write([]string{strconv.Itoa(inv.Line), inv.Phone, inv.Reason})
	}
	cw.Flush()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// openPresenceFacts opens the store holding presence facts: store.backend, or memory when
// memoryOnly (dry runs). The returned func closes it.
func openPresenceFacts(cfg configs.StoreConfig, memoryOnly bool) (lookup.Facts, func(), error) {
	if memoryOnly {
		cfg.Backend = "memory"
	}
	st, err := openStore(cfg)
	if err != nil {
		return nil, nil, err
	}
	return deflect.PresenceFacts(st), func() { _ = st.Close() }, nil
}
