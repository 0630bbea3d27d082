package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/deflectd/deflectd/deflect/stats"
)

// newStatsCmd is `deflectd stats`: the outcome report from the shared store, or from a running
// gateway's API.
func newStatsCmd(g *globals) *cobra.Command {
	var from, to, groupBy, gateway string
	var asCSV bool
	cmd := &cobra.Command{
		Use:   "stats [--from DATE] [--to DATE] [--group-by day|queue|language|variant] [--csv]",
		Short: "Print the deflection outcomes: funnel, calls back, time saved, cost, experiment tests",
		Long: `Print the outcome report (the same as GET /api/v1/stats/outcomes) as a table or CSV.

It reads the shared store (store.backend redis). With the memory store the counters live in the
running gateway: read them through its API with --gateway URL (token from DEFLECTD_API_TOKEN).`,
		Example: "  deflectd stats --from 2026-12-01 --to 2026-12-07 --group-by queue\n" +
			"  DEFLECTD_API_TOKEN=... deflectd stats --gateway http://127.0.0.1:8080 --group-by variant --csv",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !stats.ValidGroupBy(groupBy) {
				return usageErr(fmt.Errorf("--group-by must be day, queue, language or variant, got %q", groupBy))
			}
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			var o stats.Outcomes
			switch {
			case gateway != "":
				o, err = outcomesFromGateway(cmd.Context(), g, gateway, from, to, groupBy)
			case cfg.Store.Backend == "memory":
				return usageErr(errors.New("stats: the memory store lives in the running gateway; read it with " +
					"DEFLECTD_API_TOKEN=<admin token> deflectd stats --gateway http://127.0.0.1:8080 (or use store.backend redis)"))
			default:
				o, err = outcomesFromStore(cmd.Context(), g, from, to, groupBy)
			}
			if err != nil {
				return err
			}
			if asCSV {
				return writeOutcomesCSV(g.stdout, o)
			}
			return writeOutcomesTable(g.stdout, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "first day (YYYY-MM-DD or RFC 3339; default 6 days before --to)")
	f.StringVar(&to, "to", "", "last day (default today)")
	f.StringVar(&groupBy, "group-by", "", "day, queue, language or variant (default: totals only)")
	f.BoolVar(&asCSV, "csv", false, "CSV instead of a table")
	f.StringVar(&gateway, "gateway", "", "read through a running gateway's API at this URL (token from env DEFLECTD_API_TOKEN)")
	return cmd
}

// statsDay parses a --from/--to value.
func statsDay(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	for _, layout := range []string{time.DateOnly, time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageErr(fmt.Errorf("--%s %q is not a date such as 2026-12-01", name, v))
}

func outcomesFromStore(ctx context.Context, g *globals, fromS, toS, groupBy string) (stats.Outcomes, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return stats.Outcomes{}, err
	}
	to, err := statsDay("to", toS, time.Now())
	if err != nil {
		return stats.Outcomes{}, err
	}
	from, err := statsDay("from", fromS, to.Add(-6*24*time.Hour))
	if err != nil {
		return stats.Outcomes{}, err
	}
	if to.Before(from) || to.Sub(from) >= stats.MaxDays*24*time.Hour {
		return stats.Outcomes{}, usageErr(fmt.Errorf("--from and --to must be in order and at most %d days apart", stats.MaxDays))
	}
	st, err := openStore(cfg.Store)
	if err != nil {
		return stats.Outcomes{}, err
	}
	defer st.Close()
	entries, err := stats.Load(ctx, st, from, to)
	if err != nil {
		return stats.Outcomes{}, err
	}
	prices := stats.Prices{Currency: cfg.Stats.Currency, Table: cfg.Stats.Prices}
	return stats.BuildOutcomes(entries, from, to, groupBy, prices, experimentVariants(cfg)), nil
}

func outcomesFromGateway(ctx context.Context, g *globals, gateway, from, to, groupBy string) (stats.Outcomes, error) {
	token := envValue(g.environ, "DEFLECTD_API_TOKEN")
	if token == "" {
		return stats.Outcomes{}, usageErr(errors.New("--gateway needs an admin token in DEFLECTD_API_TOKEN"))
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": from, "to": to, "group_by": groupBy} {
		if v != "" {
			q.Set(k, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(gateway, "/")+"/api/v1/stats/outcomes?"+q.Encode(), nil)
	if err != nil {
		return stats.Outcomes{}, usageErr(fmt.Errorf("--gateway: %w", err))
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return stats.Outcomes{}, fmt.Errorf("read the gateway's statistics: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return stats.Outcomes{}, fmt.Errorf("read the gateway's statistics: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		err := fmt.Errorf("the gateway answered %d: %s", res.StatusCode, strings.TrimSpace(string(raw)))
		if res.StatusCode == http.StatusBadRequest {
			return stats.Outcomes{}, usageErr(err)
		}
		return stats.Outcomes{}, err
	}
	var o stats.Outcomes
	if err := json.Unmarshal(raw, &o); err != nil {
		return stats.Outcomes{}, fmt.Errorf("the gateway's statistics: %w", err)
	}
	return o, nil
}

func envValue(environ []string, name string) string {
	v := ""
	for _, kv := range environ {
		if x, ok := strings.CutPrefix(kv, name+"="); ok {
			v = x
		}
	}
	return v
}

// outcomeColumns are the report's columns, as header and value of a row.
var outcomeColumns = []struct {
	name  string
	value func(o stats.Outcome) string
}{
	{"offered", func(o stats.Outcome) string { return itoa64(o.Funnel.Offered) }},
	{"accepted", func(o stats.Outcome) string { return itoa64(o.Funnel.Accepted) }},
	{"sent", func(o stats.Outcome) string { return itoa64(o.Funnel.Sent) }},
	{"delivered", func(o stats.Outcome) string { return itoa64(o.Funnel.Delivered) }},
	{"read", func(o stats.Outcome) string { return itoa64(o.Funnel.Read) }},
	{"replied", func(o stats.Outcome) string { return itoa64(o.Funnel.Replied) }},
	{"resolved_bot", func(o stats.Outcome) string { return itoa64(o.Funnel.ResolvedByBot) }},
	{"resolved_agent", func(o stats.Outcome) string { return itoa64(o.Funnel.ResolvedByAgent) }},
	{"returned", func(o stats.Outcome) string { return itoa64(o.Funnel.Returned) }},
	{"deflected", func(o stats.Outcome) string { return itoa64(o.Deflected) }},
	{"declined", func(o stats.Outcome) string { return itoa64(o.Declined) }},
	{"repeat_24h", func(o stats.Outcome) string { return itoa64(o.Repeat24h) }},
	{"repeat_72h", func(o stats.Outcome) string { return itoa64(o.Repeat72h) }},
	{"accept_rate", func(o stats.Outcome) string { return pct(o.AcceptRate) }},
	{"repeat_rate_72h", func(o stats.Outcome) string { return pct(o.RepeatRate72h) }},
	{"wait_saved_seconds", func(o stats.Outcome) string { return itoa64(o.WaitSavedSeconds) }},
	{"minutes_saved", func(o stats.Outcome) string { return strconv.FormatFloat(o.TimeSavedMinutes, 'f', 1, 64) }},
	{"cost", func(o stats.Outcome) string { return strconv.FormatFloat(o.Cost, 'f', 4, 64) }},
	{"p_accept", func(o stats.Outcome) string { return pValue(o, "accept_rate") }},
	{"p_repeat_72h", func(o stats.Outcome) string { return pValue(o, "repeat_rate_72h") }},
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func pct(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64) + "%"
}

func pValue(o stats.Outcome, rate string) string {
	t, ok := o.Tests[rate]
	switch {
	case !ok:
		return ""
	case t.PValue == nil:
		return "not enough data"
	}
	return strconv.FormatFloat(*t.PValue, 'f', 4, 64)
}

func outcomeRows(o stats.Outcomes) (header []string, rows [][]string) {
	first := o.GroupBy
	if first == "" {
		first = "total"
	}
	header = []string{first}
	for _, c := range outcomeColumns {
		header = append(header, c.name)
	}
	add := func(key string, x stats.Outcome) {
		row := []string{key}
		for _, c := range outcomeColumns {
			row = append(row, c.value(x))
		}
		rows = append(rows, row)
	}
	for _, x := range o.Groups {
		add(x.Key, x)
	}
	add("total", o.Totals)
	return header, rows
}

func writeOutcomesTable(w io.Writer, o stats.Outcomes) error {
	header, rows := outcomeRows(o)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s to %s; cost in %s\n", o.From, o.To, o.Currency)
	return err
}

func writeOutcomesCSV(w io.Writer, o stats.Outcomes) error {
	header, rows := outcomeRows(o)
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	_ = cw.WriteAll(rows)
	return cw.Error()
}
