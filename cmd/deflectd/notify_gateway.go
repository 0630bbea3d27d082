package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/notify"
)

// gatewayBatch is the most rows POST /api/v1/notifications takes at once.
const gatewayBatch = 10000

// gatewayRun is a notify run through a running gateway's notifications API.
type gatewayRun struct {
	url      string
	template string
	dryRun   bool
	rows     []notify.Row
	problems []notify.Problem // rows the CSV parser refused
	report   string
}

// The API's request and answer (deflect/api's notificationsRequest and notificationsResponse).
type gatewayRow struct {
	Phone    string    `json:"phone"`
	Language string    `json:"language,omitempty"`
	Params   []string  `json:"params"`
	SendAt   time.Time `json:"send_at,omitzero"`
	Key      string    `json:"key"`
}

type gatewayAnswer struct {
	Counts   map[string]int `json:"counts"`
	Problems []struct {
		Index  int    `json:"index"`
		Phone  string `json:"phone"`
		Reason string `json:"reason"`
	} `json:"problems"`
	Error string `json:"error"`
}

// notifyThroughGateway posts the rows in batches and prints the same summary as a local run.
// The rows keep their keys (file hash + line, or --key-column), so running the same file again
// sends nothing twice: the gateway's store remembers them.
func notifyThroughGateway(ctx context.Context, g *globals, r gatewayRun) error {
	token := envValue(g.environ, "DEFLECTD_API_TOKEN")
	if token == "" {
		return usageErr(errors.New("--gateway needs an API token with admin scope in DEFLECTD_API_TOKEN (an environment variable: a flag shows in ps)"))
	}
	endpoint := strings.TrimSuffix(r.url, "/") + "/api/v1/notifications"
	sum := notify.Summary{Total: len(r.rows), Counts: map[string]int{}}
	for start := 0; start < len(r.rows); start += gatewayBatch {
		batch := r.rows[start:min(start+gatewayBatch, len(r.rows))]
		ans, err := postNotifications(ctx, endpoint, token, r.template, r.dryRun, batch)
		if err != nil {
			return err
		}
		for k, v := range ans.Counts {
			sum.Counts[k] += v
		}
		for _, p := range ans.Problems {
			line := 0
			if p.Index >= 0 && p.Index < len(batch) {
				line = batch[p.Index].Line
			}
			sum.Problems = append(sum.Problems, notify.Problem{Line: line, Phone: p.Phone, Reason: p.Reason})
		}
	}
	sum.Problems = append(r.problems, sum.Problems...)
	return printNotifySummary(g, r.report, len(r.rows), len(r.problems), sum)
}

func postNotifications(ctx context.Context, endpoint, token, template string, dryRun bool, rows []notify.Row) (gatewayAnswer, error) {
	req := struct {
		Template string       `json:"template"`
		DryRun   bool         `json:"dry_run"`
		Rows     []gatewayRow `json:"rows"`
	}{Template: template, DryRun: dryRun, Rows: make([]gatewayRow, 0, len(rows))}
	for _, r := range rows {
		req.Rows = append(req.Rows, gatewayRow{Phone: r.E164, Language: r.Language, Params: r.Params, SendAt: r.SendAt, Key: r.Key})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return gatewayAnswer{}, fmt.Errorf("encode notifications: %w", err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return gatewayAnswer{}, usageErr(fmt.Errorf("--gateway: %w", err))
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return gatewayAnswer{}, fmt.Errorf("post notifications to the gateway: %w", err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return gatewayAnswer{}, fmt.Errorf("read the gateway's answer: %w", err)
	}
	var ans gatewayAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return gatewayAnswer{}, fmt.Errorf("the gateway answered %d, not JSON: %.200s", res.StatusCode, raw)
	}
	switch {
	case res.StatusCode == http.StatusBadRequest:
		return ans, usageErr(fmt.Errorf("the gateway refused the batch: %s", ans.Error))
	case res.StatusCode != http.StatusOK:
		return ans, fmt.Errorf("the gateway answered %d: %s", res.StatusCode, ans.Error)
	}
	return ans, nil
}
