package lookup

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/deflectd/deflectd/lookup/redact"
)

// maxInvalidListed caps ImportReport.Invalid; InvalidTotal keeps counting.
const maxInvalidListed = 10000

// ImportReport summarises a bulk import.
type ImportReport struct {
	Rows         int          `json:"rows"`   // data rows read (header excluded)
	Stored       int          `json:"stored"` // rows written to the store
	Yes          int          `json:"yes"`
	No           int          `json:"no"`
	InvalidTotal int          `json:"invalid_total"`
	Invalid      []InvalidRow `json:"invalid"` // the first maxInvalidListed invalid rows
}

// InvalidRow is a row that was not imported and why.
type InvalidRow struct {
	Line   int    `json:"line"`  // line in the CSV file; position (1-based) for ImportRows
	Phone  string `json:"phone"` // masked
	Reason string `json:"reason"`
}

// ImportRow is one fact to import (POST /api/v1/presence batches).
type ImportRow struct {
	Phone    string `json:"phone"`
	WhatsApp bool   `json:"whatsapp"`
}

func (r *ImportReport) invalid(line int, phone, reason string) {
	r.InvalidTotal++
	if len(r.Invalid) < maxInvalidListed {
		r.Invalid = append(r.Invalid, InvalidRow{Line: line, Phone: redact.Mask(phone), Reason: reason})
	}
}

// ImportCSV loads what a CRM knows: a CSV with a header row naming the columns phone and
// whatsapp (any order, any case, other columns ignored); whatsapp is yes/no/true/false/1/0.
// Numbers are normalised with region (the configured default region when empty). Valid rows
// are stored with source "import" for lookup.presence.yes_ttl / no_ttl; invalid rows are
// reported with their line numbers and skipped. progress, if not nil, is called after every
// row with the number of rows done. A store failure or ctx ending stops the import: the
// report then covers the rows done so far.
func (c *Chain) ImportCSV(ctx context.Context, r io.Reader, region string, progress func(done int)) (ImportReport, error) {
	var rep ImportReport
	if c.facts == nil {
		return rep, errors.New("import presence: no store")
	}
	if region == "" {
		region = c.region
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return rep, errors.New("import presence: empty file (a header row with phone and whatsapp is required)")
		}
		return rep, fmt.Errorf("import presence: read header: %w", err)
	}
	phoneCol, waCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
		case "phone":
			phoneCol = i
		case "whatsapp":
			waCol = i
		}
	}
	if phoneCol < 0 || waCol < 0 {
		return rep, fmt.Errorf("import presence: header %q needs the columns phone and whatsapp", strings.Join(header, ","))
	}
	for {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("import presence: %w", err)
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return rep, fmt.Errorf("import presence: %w", err)
			}
			rep.Rows++
			rep.invalid(pe.StartLine, "", "malformed CSV: "+pe.Err.Error())
			if progress != nil {
				progress(rep.Rows)
			}
			continue
		}
		rep.Rows++
		line, _ := cr.FieldPos(0)
		var phone, wa string
		if phoneCol < len(rec) {
			phone = rec[phoneCol]
		}
		if waCol < len(rec) {
			wa = rec[waCol]
		}
		if err := c.importOne(ctx, &rep, line, phone, wa, region); err != nil {
			return rep, err
		}
		if progress != nil {
			progress(rep.Rows)
		}
	}
}

// ImportRows stores a batch of facts with source "import", like ImportCSV; InvalidRow.Line is
// the row's 1-based position in rows.
func (c *Chain) ImportRows(ctx context.Context, rows []ImportRow, region string, progress func(done int)) (ImportReport, error) {
	var rep ImportReport
	if c.facts == nil {
		return rep, errors.New("import presence: no store")
	}
	if region == "" {
		region = c.region
	}
	for i, row := range rows {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("import presence: %w", err)
		}
		rep.Rows++
		wa := "no"
		if row.WhatsApp {
			wa = "yes"
		}
		if err := c.importOne(ctx, &rep, i+1, row.Phone, wa, region); err != nil {
			return rep, err
		}
		if progress != nil {
			progress(rep.Rows)
		}
	}
	return rep, nil
}

func (c *Chain) importOne(ctx context.Context, rep *ImportReport, line int, phone, wa, region string) error {
	status, ok := parseYesNo(wa)
	if !ok {
		c.m.imported.WithLabelValues("invalid").Inc()
		rep.invalid(line, phone, fmt.Sprintf("whatsapp %q is not yes/no/true/false/1/0", wa))
		return nil
	}
	n, err := Normalize(phone, region)
	if err != nil {
		c.m.imported.WithLabelValues("invalid").Inc()
		rep.invalid(line, phone, strings.TrimPrefix(err.Error(), "normalize number: "))
		return nil
	}
	if _, err := c.put(ctx, n.E164, status, SourceImport, 0); err != nil {
		return fmt.Errorf("import presence: line %d: %w", line, err)
	}
	c.m.imported.WithLabelValues("stored").Inc()
	rep.Stored++
	if status == Yes {
		rep.Yes++
	} else {
		rep.No++
	}
	return nil
}
