package lookup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/deflectd/deflectd/configs"
)

// checker asks an external HTTP service (a CRM or BSP) whether a number is on WhatsApp:
//
//	GET {url}?number=%2B966501234567   Authorization: Bearer {token}   (token optional)
//	200 {"whatsapp": true|false}  → yes / no
//	404                           → no record: unknown (not a failure); remembered for
//	                                not_found_ttl in this process, so a caller the CRM does not
//	                                know costs it one request, not one per call
//	anything else                 → failure (counted by the circuit breaker)
type checker struct {
	base    *url.URL
	token   configs.Secret
	client  *http.Client
	timeout time.Duration
	cb      *gobreaker.CircuitBreaker[Status]
	m       *metrics

	notFoundTTL time.Duration
	nfMu        sync.Mutex
	notFound    map[string]time.Time // e164 → when to ask again
}

// maxNotFound bounds the remembered 404s (about 100 bytes each).
const maxNotFound = 100_000

// errCheckerStatus is an unexpected HTTP status from the checker.
var errCheckerStatus = errors.New("unexpected status")

// maxCheckerBody bounds what we read from the checker.
const maxCheckerBody = 64 << 10

func newChecker(cfg configs.PresenceHTTPConfig, m *metrics) (*checker, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("parse lookup.presence.http.url: not an http(s) URL")
	}
	// No client timeout: every request carries a deadline.
	k := &checker{base: u, token: cfg.Token, client: &http.Client{}, timeout: cfg.Timeout, m: m,
		notFoundTTL: cfg.NotFoundTTL, notFound: map[string]time.Time{}}
	failures := uint32(max(cfg.BreakerFailures, 1))
	k.cb = gobreaker.NewCircuitBreaker[Status](gobreaker.Settings{
		Name:        "presence-http-checker",
		MaxRequests: 1, // one probe while half-open
		Timeout:     cfg.BreakerCooldown,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// The caller hanging up is not the checker's fault.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			m.breakerState.Set(float64(to)) // StateClosed 0, StateHalfOpen 1, StateOpen 2
		},
	})
	return k, nil
}

// check returns Yes, No, or Unknown (404); an error means the checker could not answer.
func (k *checker) check(ctx context.Context, e164 string) (Status, error) {
	if k.knownNotFound(e164) {
		k.m.checkerSeconds.WithLabelValues("not_found_cached").Observe(0)
		return Unknown, nil
	}
	if k.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, k.timeout)
		defer cancel()
	}
	start := time.Now()
	st, err := k.cb.Execute(func() (Status, error) { return k.do(ctx, e164) })
	outcome := st.String()
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		outcome = "breaker_open"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	case st == Unknown:
		outcome = "not_found"
		k.rememberNotFound(e164)
	}
	k.m.checkerSeconds.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	if err != nil {
		reason := outcome
		if outcome == "error" {
			reason = errReason(err)
		}
		k.m.checkerErrors.WithLabelValues(reason).Inc()
		return Unknown, fmt.Errorf("check presence: %w", err)
	}
	return st, nil
}

func (k *checker) knownNotFound(e164 string) bool {
	if k.notFoundTTL <= 0 {
		return false
	}
	k.nfMu.Lock()
	defer k.nfMu.Unlock()
	until, ok := k.notFound[e164]
	if ok && time.Now().After(until) {
		delete(k.notFound, e164)
		ok = false
	}
	return ok
}

func (k *checker) rememberNotFound(e164 string) {
	if k.notFoundTTL <= 0 {
		return
	}
	now := time.Now()
	k.nfMu.Lock()
	defer k.nfMu.Unlock()
	if len(k.notFound) >= maxNotFound {
		// Full: drop the expired, and if that is not a tenth, a tenth at random (map order), so
		// the next inserts are cheap again.
		for n, until := range k.notFound {
			if now.After(until) {
				delete(k.notFound, n)
			}
		}
		for n := range k.notFound {
			if len(k.notFound) <= maxNotFound-maxNotFound/10 {
				break
			}
			delete(k.notFound, n)
		}
	}
	k.notFound[e164] = now.Add(k.notFoundTTL)
}

// checkerError tags a failure with its metrics reason.
type checkerError struct {
	reason string
	err    error
}

func (e *checkerError) Error() string { return e.err.Error() }
func (e *checkerError) Unwrap() error { return e.err }

func errReason(err error) string {
	var ce *checkerError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return "transport"
}

func (k *checker) do(ctx context.Context, e164 string) (Status, error) {
	u := *k.base
	q := u.Query()
	q.Set("number", e164) // encoded as %2B...: a literal '+' would read as a space
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Unknown, &checkerError{"transport", err}
	}
	req.Header.Set("Accept", "application/json")
	if k.token.IsSet() {
		req.Header.Set("Authorization", "Bearer "+k.token.Reveal())
	}
	resp, err := k.client.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Unknown, ctxErr // DeadlineExceeded or Canceled, unwrapped for the breaker
		}
		return Unknown, &checkerError{"transport", err}
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCheckerBody))
		resp.Body.Close()
	}()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return Unknown, nil
	default:
		return Unknown, &checkerError{"status", fmt.Errorf("%w %d", errCheckerStatus, resp.StatusCode)}
	}
	var body struct {
		WhatsApp *bool `json:"whatsapp"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCheckerBody)).Decode(&body); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Unknown, ctxErr
		}
		return Unknown, &checkerError{"decode", fmt.Errorf("decode checker answer: %w", err)}
	}
	if body.WhatsApp == nil {
		return Unknown, &checkerError{"decode", errors.New(`decode checker answer: no "whatsapp" field`)}
	}
	if *body.WhatsApp {
		return Yes, nil
	}
	return No, nil
}
