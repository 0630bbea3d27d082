// Package notify sends proactive template notifications (e.g. licence renewal reminders) from a CSV
// file or the API: opt-outs respected, each row sent at most once across re-runs and instances
// (an idempotency key per row), scheduled rows kept in the store and sent by whichever instance is
// alive when they fall due. Throughput limits are the WhatsApp client's (its token buckets).
package notify

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/lookup/redact"
)

// Row is one notification to send.
type Row struct {
	Line     int       `json:"line,omitempty"` // CSV line (1 = header); 0 for API rows
	Phone    string    `json:"phone"`
	E164     string    `json:"e164,omitempty"`
	Language string    `json:"language,omitempty"`
	SendAt   time.Time `json:"send_at,omitzero"`
	Params   []string  `json:"params,omitempty"`
	Key      string    `json:"key,omitempty"` // idempotency key; empty from the API = derived from the content
}

// Problem is a row that was not sent, with why.
type Problem struct {
	Line   int    `json:"line"`
	Phone  string `json:"phone"` // masked
	Reason string `json:"reason"`
}

// CSVOptions maps columns. Columns other than phone, language, send_at and the key column are body
// parameters, in file order.
type CSVOptions struct {
	PhoneColumn    string // default "phone"
	LanguageColumn string // default "language"
	SendAtColumn   string // default "send_at" (RFC 3339 or "2006-01-02 15:04" in Location)
	KeyColumn      string // optional: the idempotency key column; default = file hash + line
	Region         string // for national numbers
	Location       *time.Location
}

// ParseCSV reads a whole notification file. Invalid rows are returned as problems with their line
// numbers; the rest are normalised and keyed.
func ParseCSV(data []byte, opt CSVOptions) ([]Row, []Problem, error) {
	if opt.PhoneColumn == "" {
		opt.PhoneColumn = "phone"
	}
	if opt.LanguageColumn == "" {
		opt.LanguageColumn = "language"
	}
	if opt.SendAtColumn == "" {
		opt.SendAtColumn = "send_at"
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	sum := sha256.Sum256(data)
	fileID := hex.EncodeToString(sum[:8])

	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\ufeff"))))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("read csv header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	phoneIdx, ok := col[strings.ToLower(opt.PhoneColumn)]
	if !ok {
		return nil, nil, fmt.Errorf("csv header has no %q column", opt.PhoneColumn)
	}
	langIdx, hasLang := col[strings.ToLower(opt.LanguageColumn)]
	atIdx, hasAt := col[strings.ToLower(opt.SendAtColumn)]
	keyIdx, hasKey := -1, false
	if opt.KeyColumn != "" {
		if keyIdx, hasKey = col[strings.ToLower(opt.KeyColumn)]; !hasKey {
			return nil, nil, fmt.Errorf("csv header has no key column %q", opt.KeyColumn)
		}
	}
	var params []int
	for i := range header {
		if i != phoneIdx && (!hasLang || i != langIdx) && (!hasAt || i != atIdx) && (!hasKey || i != keyIdx) {
			params = append(params, i)
		}
	}

	var rows []Row
	var problems []Problem
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				problems = append(problems, Problem{Line: pe.Line, Reason: "malformed csv: " + pe.Err.Error()})
				continue
			}
			return nil, nil, fmt.Errorf("read csv: %w", err)
		}
		get := func(i int) string {
			if i >= 0 && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := Row{Line: line, Phone: get(phoneIdx)}
		num, err := lookup.Normalize(row.Phone, opt.Region)
		if err != nil || !num.Valid {
			reason := "invalid number"
			if err != nil {
				reason = "invalid number: " + err.Error()
			}
			problems = append(problems, Problem{Line: line, Phone: redact.Mask(row.Phone), Reason: reason})
			continue
		}
		row.E164 = num.E164
		if hasLang {
			row.Language = get(langIdx)
		}
		if hasAt && get(atIdx) != "" {
			at, err := parseTime(get(atIdx), opt.Location)
			if err != nil {
				problems = append(problems, Problem{Line: line, Phone: redact.Mask(row.E164), Reason: "bad send_at: " + err.Error()})
				continue
			}
			row.SendAt = at
		}
		for _, i := range params {
			row.Params = append(row.Params, get(i))
		}
		if hasKey {
			if row.Key = get(keyIdx); row.Key == "" {
				problems = append(problems, Problem{Line: line, Phone: redact.Mask(row.E164), Reason: "empty key column " + opt.KeyColumn})
				continue
			}
		} else {
			row.Key = fmt.Sprintf("%s:%d", fileID, line)
		}
		rows = append(rows, row)
	}
	return rows, problems, nil
}

func parseTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not RFC 3339 or YYYY-MM-DD HH:MM", s)
}
