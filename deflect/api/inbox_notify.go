package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/lookup"
	"github.com/deflectd/deflectd/lookup/redact"
)

// maxNotificationRows bounds one batch (the body limit bounds it too).
const maxNotificationRows = 10000

type notificationRow struct {
	Phone    string    `json:"phone"`
	Language string    `json:"language"`
	Params   []string  `json:"params"`
	SendAt   time.Time `json:"send_at"`
	Key      string    `json:"key"`
}

type notificationsRequest struct {
	Template string            `json:"template"`
	DryRun   bool              `json:"dry_run"`
	Rows     []notificationRow `json:"rows"`
}

type notificationProblem struct {
	Index  int    `json:"index"`
	Phone  string `json:"phone"` // masked
	Reason string `json:"reason"`
}

type notificationsResponse struct {
	Total    int                   `json:"total"`
	Counts   map[string]int        `json:"counts"`
	Problems []notificationProblem `json:"problems"`
}

// notifications sends (or schedules) a batch of template notifications through deflect/notify:
// numbers normalised, opted-out numbers skipped, each row at most once by its key (given, or
// derived from the row's content, so that re-posting the same batch sends nothing twice).
func (ib *inboxAPI) notifications(c *gin.Context) {
	if ib.in.NotifySender == nil || ib.in.NotifyStore == nil {
		fail(c, http.StatusServiceUnavailable, "notifications not available")
		return
	}
	var req notificationsRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Template == "" {
		fail(c, http.StatusBadRequest, "template is required")
		return
	}
	if len(req.Rows) == 0 || len(req.Rows) > maxNotificationRows {
		fail(c, http.StatusBadRequest, "rows must hold 1 to 10000 notifications")
		return
	}
	resp := notificationsResponse{Total: len(req.Rows), Counts: map[string]int{}, Problems: []notificationProblem{}}
	rows := make([]notify.Row, 0, len(req.Rows))
	for i, r := range req.Rows {
		n, err := lookup.Normalize(r.Phone, ib.s.o.Region)
		if err != nil || !n.Valid {
			resp.Counts["invalid"]++
			resp.Problems = append(resp.Problems, notificationProblem{Index: i, Phone: redact.Mask(r.Phone), Reason: "invalid number"})
			continue
		}
		key := r.Key
		if key == "" {
			key = contentKey(req.Template, n.E164, r)
		}
		// Line carries the index (1-based: notify reads 0 as "no line").
		rows = append(rows, notify.Row{Line: i + 1, Phone: r.Phone, E164: n.E164, Language: r.Language,
			SendAt: r.SendAt, Params: r.Params, Key: "api:" + key})
	}
	cfg := ib.in.NotifyConfig
	cfg.Template, cfg.DryRun = req.Template, req.DryRun
	n := notify.New(ib.in.NotifyStore, ib.in.NotifySender, cfg, ib.s.log)
	if err := n.CheckTemplate(); err != nil {
		fail(c, http.StatusBadRequest, err.Error())
		return
	}
	// Not the short API timeout: a batch goes at the number's throughput.
	sum := n.Run(c.Request.Context(), rows, nil)
	for k, v := range sum.Counts {
		resp.Counts[k] += v
	}
	for _, p := range sum.Problems {
		resp.Problems = append(resp.Problems, notificationProblem{Index: p.Line - 1, Phone: p.Phone, Reason: p.Reason})
	}
	c.JSON(http.StatusOK, resp)
}

// contentKey derives a row's idempotency key from what it sends.
func contentKey(template, e164 string, r notificationRow) string {
	h := sha256.New()
	for _, part := range []string{template, e164, r.Language, strings.Join(r.Params, "\x1f"), r.SendAt.UTC().Format(time.RFC3339)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
