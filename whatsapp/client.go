package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ClientConfig configures a Client. Zero values take the documented defaults.
type ClientConfig struct {
	BaseURL       string // e.g. https://graph.facebook.com/v23.0 (required)
	PhoneNumberID string // the business phone number id (required)
	AccessToken   string // system user token, sent as Bearer (required)
	HTTPClient    *http.Client
	Timeout       time.Duration // per attempt; default 10s
	// MaxRetries is how many times a retryable failure is retried after the first attempt
	// (0 = never).
	MaxRetries int
	Throughput float64       // messages per second for this phone number; default 80, at most 1000
	PairPeriod time.Duration // one message per recipient per period; default 6s
	PairBurst  int           // messages a recipient may get in a burst; default 3
	// BackoffBase and BackoffMax shape the exponential backoff between retries (defaults 250ms
	// and 10s); rate-limit errors back off from 4×BackoffBase.
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// SendResult is Meta's answer to an accepted message.
type SendResult struct {
	MessageID string // messages[0].id (wamid...)
	Status    string // messages[0].message_status when present (accepted, held_for_quality_assessment)
	WAID      string // contacts[0].wa_id
	Input     string // contacts[0].input
	UserID    string // contacts[0].user_id: the BSUID, when the message was sent to one
}

// Client sends messages through the Cloud API for one business phone number.
type Client struct {
	cfg      ClientConfig
	endpoint string
	hc       *http.Client
	limiter  TokenBucket
	log      *slog.Logger
	m        *clientMetrics
}

// New returns a Client. limiter nil means a NewLocalBucket (per process); log nil discards; reg
// nil registers no metrics.
func New(cfg ClientConfig, limiter TokenBucket, log *slog.Logger, reg prometheus.Registerer) (*Client, error) {
	if cfg.BaseURL == "" || cfg.PhoneNumberID == "" || cfg.AccessToken == "" {
		return nil, errors.New("new whatsapp client: base URL, phone number id and access token are required")
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("new whatsapp client: parse base URL: %w", err)
	}
	if cfg.Throughput == 0 {
		cfg.Throughput = 80
	}
	if cfg.Throughput < 0 || cfg.Throughput > 1000 {
		return nil, fmt.Errorf("new whatsapp client: throughput %v must be between 1 and 1000 messages/s", cfg.Throughput)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxRetries < 0 {
		cfg.MaxRetries = 0
	}
	if cfg.PairPeriod <= 0 {
		cfg.PairPeriod = 6 * time.Second
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = 3
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = 250 * time.Millisecond
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 10 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	if limiter == nil {
		limiter = NewLocalBucket()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg:      cfg,
		endpoint: strings.TrimRight(cfg.BaseURL, "/") + "/" + url.PathEscape(cfg.PhoneNumberID) + "/messages",
		hc:       hc,
		limiter:  limiter,
		log:      log.With("component", "whatsapp"),
		m:        newClientMetrics(reg),
	}, nil
}

// SendTemplate sends an approved template (the only kind allowed outside the 24-hour window).
func (c *Client) SendTemplate(ctx context.Context, to string, t Template) (SendResult, error) {
	m, err := templateMessage(to, t)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "template", to, m)
}

// SendText sends a free-form text message (≤ 4096 characters).
func (c *Client) SendText(ctx context.Context, to, body string, previewURL bool) (SendResult, error) {
	m, err := textMessage(to, body, previewURL)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "text", to, m)
}

// SendButtons sends an interactive message with 1 to 3 reply buttons.
func (c *Client) SendButtons(ctx context.Context, to, body string, buttons []Button) (SendResult, error) {
	m, err := buttonsMessage(to, body, buttons)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "buttons", to, m)
}

// SendCallButton sends a WhatsApp call button.
func (c *Client) SendCallButton(ctx context.Context, to string, b CallButton) (SendResult, error) {
	m, err := callButtonMessage(to, b)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "call_button", to, m)
}

// SendList sends an interactive list (at most 10 rows across all sections).
func (c *Client) SendList(ctx context.Context, to, body, buttonLabel string, sections []Section) (SendResult, error) {
	m, err := listMessage(to, body, buttonLabel, sections)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "list", to, m)
}

// SendMedia sends an image, document, video or audio message by link or media id.
func (c *Client) SendMedia(ctx context.Context, to string, md Media) (SendResult, error) {
	m, err := mediaMessage(to, md)
	if err != nil {
		return SendResult{}, err
	}
	return c.send(ctx, "media", to, m)
}

// MarkRead marks a received message (and earlier ones) as read.
func (c *Client) MarkRead(ctx context.Context, messageID string) error {
	if messageID == "" {
		return &ValidationError{Field: "message_id", Limit: "set"}
	}
	body, err := json.Marshal(outMarkRead{MessagingProduct: "whatsapp", Status: "read", MessageID: messageID})
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, "mark_read", "", body, &out); err != nil {
		return err
	}
	if !out.Success {
		return &TransportError{Op: "mark read", MaybeSent: true, Err: errors.New("response without success")}
	}
	return nil
}

func (c *Client) send(ctx context.Context, op, to string, m *outMessage) (SendResult, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return SendResult{}, fmt.Errorf("send %s: %w", op, err)
	}
	var out struct {
		Contacts []struct {
			Input  string `json:"input"`
			WAID   string `json:"wa_id"`
			UserID string `json:"user_id"` // a send to a BSUID
		} `json:"contacts"`
		Messages []struct {
			ID     string `json:"id"`
			Status string `json:"message_status"`
		} `json:"messages"`
	}
	if err := c.do(ctx, op, to, body, &out); err != nil {
		return SendResult{}, err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		// 2xx means Meta took it; without an id we cannot track it, and must not resend it.
		return SendResult{}, &TransportError{Op: "send " + op, MaybeSent: true, Err: errors.New("response without messages[].id")}
	}
	r := SendResult{MessageID: out.Messages[0].ID, Status: out.Messages[0].Status}
	if len(out.Contacts) > 0 {
		r.WAID, r.Input, r.UserID = out.Contacts[0].WAID, out.Contacts[0].Input, out.Contacts[0].UserID
	}
	c.log.Debug("whatsapp message accepted", "op", op, "to", Mask(to), "wa_msg_id", r.MessageID)
	return r, nil
}

// do posts body, retrying only failures that cannot have produced a message: an explicit error
// response from Meta classified Retryable (it refused the request), or a connection error before
// the request was written. It never retries when the request may have been accepted: a timeout or
// connection reset after the body was written, a response that could not be read, or a 2xx we
// could not parse, a 502/504 from an intermediary without Graph's error object. In those cases Meta
// may have sent the message and a retry could deliver it twice.
func (c *Client) do(ctx context.Context, op, to string, body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		if to != "" {
			if err := c.waitToken(ctx, "throughput", "wa:tput:"+c.cfg.PhoneNumberID, c.cfg.Throughput, max(1, int(c.cfg.Throughput))); err != nil {
				return fmt.Errorf("send %s: %w", op, err)
			}
			pairRate := 1 / c.cfg.PairPeriod.Seconds()
			if err := c.waitToken(ctx, "pair", pairKey(c.cfg.PhoneNumberID, to), pairRate, c.cfg.PairBurst); err != nil {
				return fmt.Errorf("send %s: %w", op, err)
			}
		}
		err := c.attempt(ctx, op, body, out)
		if err == nil {
			return nil
		}
		if ClassOf(err) != Retryable || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		delay := c.backoff(attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return err // no time left to try again: report Meta's answer, not the deadline
		}
		c.log.Info("whatsapp request failed, retrying", "op", op, "to", Mask(to), "attempt", attempt+1, "delay", delay, "err", err)
		c.m.retries.WithLabelValues(op).Inc()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// backoff is exponential with equal jitter; rate-limit answers start higher and honour Retry-After.
func (c *Client) backoff(attempt int, err error) time.Duration {
	base := c.cfg.BackoffBase
	var ae *APIError
	if errors.As(err, &ae) {
		switch ae.Code {
		case CodeThroughput, CodePairRateLimit, CodeAPITooManyCalls, CodeWABARateLimit:
			base *= 4
		}
	}
	d := base << min(attempt, 16)
	if d > c.cfg.BackoffMax || d <= 0 {
		d = c.cfg.BackoffMax
	}
	d = d/2 + rand.N(d/2+1)
	if ae != nil && ae.RetryAfter > d {
		d = min(ae.RetryAfter, c.cfg.BackoffMax)
	}
	return d
}

func (c *Client) attempt(ctx context.Context, op string, body []byte, out any) error {
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	// wrote records whether the whole request reached the connection. A failed write
	// (WroteRequestInfo.Err) leaves an incomplete request that Meta cannot have accepted: HTTP
	// framing (Content-Length, HTTP/2 END_STREAM) means a truncated body is never processed.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(actx, trace), http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("send %s: build request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
		c.m.requests.WithLabelValues(op, "transport").Inc()
		return &TransportError{Op: "send " + op, MaybeSent: wrote.Load(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	c.m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.requests.WithLabelValues(op, "transport").Inc()
		return &TransportError{Op: "send " + op, MaybeSent: true, Err: fmt.Errorf("read response: %w", err)}
	}
	if resp.StatusCode/100 != 2 {
		ae := parseAPIError(resp, data)
		c.m.requests.WithLabelValues(op, ae.label()).Inc()
		c.m.errors.WithLabelValues(errorLabel(ae.Code)).Inc()
		if ae.Class() == Config {
			c.m.configAlarms.WithLabelValues(strconv.Itoa(ae.Code)).Inc()
			c.log.Error("whatsapp configuration error: check access token and templates", "op", op,
				"code", ae.Code, "subcode", ae.Subcode, "message", ae.Message, "details", ae.Details, "fbtrace_id", ae.FBTraceID)
		}
		return ae
	}
	c.m.requests.WithLabelValues(op, "ok").Inc()
	if err := json.Unmarshal(data, out); err != nil {
		return &TransportError{Op: "send " + op, MaybeSent: true, Err: fmt.Errorf("parse response: %w", err)}
	}
	return nil
}

// parseAPIError reads Graph API's {"error": {...}}; a body that is not one still yields an
// APIError carrying the HTTP status, so that classification by status works.
func parseAPIError(resp *http.Response, data []byte) *APIError {
	var env struct {
		Error struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
			FBTraceID string `json:"fbtrace_id"`
		} `json:"error"`
	}
	ae := &APIError{HTTPStatus: resp.StatusCode}
	if err := json.Unmarshal(data, &env); err == nil && (env.Error.Code != 0 || env.Error.Message != "") {
		e := env.Error
		ae.Code, ae.Subcode, ae.Type, ae.Message, ae.Details, ae.FBTraceID = e.Code, e.Subcode, e.Type, e.Message, e.ErrorData.Details, e.FBTraceID
	} else {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		ae.Message = msg
	}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			ae.RetryAfter = time.Duration(n) * time.Second
		}
	}
	return ae
}

// Mask hides the middle of a phone number for logs: "+447700900123" → "+44770****123".
func Mask(number string) string {
	r := []rune(number)
	if len(r) <= 6 {
		return strings.Repeat("*", len(r))
	}
	keep := 6
	if len(r) < 10 {
		keep = 3
	}
	return string(r[:keep]) + "****" + string(r[len(r)-3:])
}
